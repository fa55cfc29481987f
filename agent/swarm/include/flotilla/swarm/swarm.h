#pragma once
// flotilla-swarm: N simulated agents in one process, for load and scale tests
// of a coordinator with real sockets, real CURVE and the real protocol.
//
// Each simulated agent (SimAgent) has its own CURVE key pair and its own
// DEALER socket. There is no thread per agent: one reactor thread (run()'s
// caller) waits in epoll on every socket's ZMQ_FD, drains the sockets that are
// ready, and wakes for the earliest per-agent deadline from a timer heap
// (heartbeats, hello retries, simulated apply time). libzmq adds its I/O
// thread(s), where CURVE encryption happens.
//
// Connects are staggered: at most `connect_rate` new sockets per second and at
// most `connect_window` agents connected but not yet welcomed, so thousands of
// CURVE handshakes (~2.5 ms of coordinator CPU each) queue here, not on the
// coordinator, and the swarm slows down by itself when the coordinator does.
//
// Each socket costs two descriptors (its mailbox and its TCP connection):
// start() raises RLIMIT_NOFILE to the hard limit and ZMQ_MAX_SOCKETS to fit,
// and refuses an agent count that cannot fit (run several processes instead).
//
// When join.toml lists several coordinators (a leader and its standbys,
// docs/ha.md), each agent also watches its connection as the agent does: a
// socket monitor (an inproc PAIR, two more descriptors) reports the CURVE
// handshake and the drop of the connection, so a dead leader is noticed
// (SIGKILL: the TCP connection is reset; SIGSTOP: no ZMTP PONG within three
// ZMTP heartbeat intervals) and the agent's EndpointFailover moves it on, as
// well as on not_leader answers. With one endpoint there is no monitor and
// libzmq reconnects by itself, as before.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "flotilla/agent/endpoint_failover.h"
#include "flotilla/agent/link_watch.h"
#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/swarm/join.h"
#include "flotilla/swarm/sim_agent.h"
#include "flotilla/swarm/stats.h"
#include "flotilla/swarm/timer_heap.h"

namespace flotilla::swarm {

struct SwarmOptions {
  std::filesystem::path join_file;
  std::size_t agents = 1;
  std::string id_prefix = "swarm-";
  std::vector<std::string> labels;  // "k=v"
  common::Millis apply_time{0};
  double fail_rate = 0;
  bool fetch = false;
  bool report_probation = false;                     // accepted -> probation -> healthy, as the agent reports
  double duration_s = 0;                             // stop after this long; 0 = until SIGTERM/SIGINT
  double connect_rate = 400;                         // new connections per second
  std::size_t connect_window = 64;                   // connected but not yet welcomed, at most
  std::optional<common::Millis> heartbeat_override;  // else the welcome's interval
  // ZMTP heartbeats as the agent sets them from [coordinator] link_timeout
  // (agent/link_watch.h): absent = the agent's default for the endpoint count; 0 = off.
  std::optional<common::Millis> link_timeout;
  std::filesystem::path order_log;  // per-order event lines; empty = none
  double progress_s = 0;            // a progress line on stderr this often; 0 = none
  int io_threads = 1;
  std::uint64_t seed = 0;  // 0 = random
  SampleModel samples;     // synthetic answers to SampleRequests
};

class Swarm {
 public:
  Swarm(SwarmOptions options, const common::Clock& clock);
  ~Swarm();
  Swarm(const Swarm&) = delete;
  Swarm& operator=(const Swarm&) = delete;

  // Reads join.toml, checks and parses the options, raises the descriptor
  // limit, sets up the context, epoll and the signal descriptor. Errors name
  // the file or flag at fault.
  Status start();
  // The reactor loop; returns after --duration, SIGTERM/SIGINT or requestStop().
  Status run();
  // Any thread.
  void requestStop();

  // Counters, latencies and timings (see docs/performance.md for the fields).
  nlohmann::json statsJson() const;

 private:
  struct Slot {
    Slot(std::string id, std::vector<std::string> endpoints, agent::EndpointFailover::Jitter jitter)
        : agent(std::move(id)), failover(std::move(endpoints), std::move(jitter)) {}
    SimAgent agent;
    // Which endpoint of join.toml's list the socket dials: a not_leader
    // answer, a lost connection or one that gives no session moves it, as in
    // the agent.
    agent::EndpointFailover failover;
    zmq::socket_t sock;
    zmq::socket_t monitor;   // events of sock; only with several endpoints
    agent::LinkWatch link;   // what the monitor said of sock's connection
    bool in_window = false;  // counted against connect_window until welcomed
    common::SteadyTime connected_at{};
  };

  void connectNext(common::SteadyTime now);
  void drain(std::size_t idx);
  void drainMonitor(std::size_t idx);
  Status watchLink(std::size_t idx);
  void runTimer(std::size_t idx, common::SteadyTime now);
  void sendAll(std::size_t idx);
  void afterAgentCall(std::size_t idx, common::SteadyTime now);
  void releaseWindow(Slot& s);
  SimNow nowPair() const;
  void progress(common::SteadyTime now);

  SwarmOptions options_;
  const common::Clock& clock_;
  JoinInfo join_;
  SimConfig config_;
  SwarmStats stats_;
  std::mt19937_64 rng_;
  std::unique_ptr<SimContext> sim_ctx_;
  std::optional<zmq::context_t> ctx_;
  std::vector<Slot> slots_;
  TimerHeap timers_;
  std::vector<std::string> out_;      // scratch outbox for one agent call
  std::vector<std::size_t> recheck_;  // sockets sent on outside drain(): ZMQ_FD may have been reset
  bool watch_links_ = false;          // several endpoints: monitor each connection
  std::size_t connected_ = 0;
  std::size_t window_used_ = 0;
  common::SteadyTime next_connect_{};
  std::chrono::microseconds connect_gap_{0};
  common::SteadyTime started_{};
  std::optional<common::SteadyTime> all_connected_at_;
  std::optional<common::SteadyTime> all_online_at_;
  common::SteadyTime next_progress_ = common::SteadyTime::max();
  common::SteadyTime finished_{};
  std::uint64_t fd_limit_ = 0;
  int epoll_fd_ = -1;
  int signal_fd_ = -1;
  int stop_fd_ = -1;
  std::FILE* order_log_ = nullptr;
  bool stopping_ = false;
};

}  // namespace flotilla::swarm
