#pragma once
// The agent daemon. Two threads:
//  - the reactor (run()'s caller) owns the DEALER socket to the coordinator:
//    hello, heartbeats, order verification, artifact transfer with credit-based
//    flow control, forwarding reports. It never blocks on slow work, so
//    heartbeats never stall.
//  - the worker owns the journal and the Deployer: it executes orders one at a
//    time and runs the idle health monitor.
// They talk only by messages over an inproc PAIR pipe.

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "flotilla/agent/config.h"
#include "flotilla/agent/journal.h"
#include "flotilla/common/clock.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::agent {

class Agent {
 public:
  Agent(AgentConfig config, const common::Clock& clock);
  ~Agent();

  // Loads the journal and connects. Errors name the file or endpoint at fault.
  Status start();
  // The reactor loop; returns after SIGTERM/SIGINT or requestStop(), once the
  // worker has finished or reverted the step in hand.
  Status run();
  void requestStop();

 private:
  struct FetchState {
    std::string digest;
    std::uint64_t size = 0;
    std::uint64_t received = 0;
    std::uint64_t requested = 0;  // bytes asked for so far
    int fd = -1;
    common::SteadyTime deadline{};
  };

  void handleCoordinator();
  void handleWorker();
  void handleMonitor();
  void onOrder(const protocol::SignedOrder& order);
  void onChunk(const protocol::Chunk& chunk);
  void onRotation(const protocol::Rotation& r);
  void sendHello();
  void sendHeartbeat();
  void send(const std::string& payload);
  void sendReport(const protocol::Report& r);
  void onWelcomed();
  void requestMoreChunks();
  void finishFetch(Status result);
  void workerMain();

  AgentConfig config_;
  const common::Clock& clock_;
  zmq::context_t ctx_;
  zmq::socket_t coord_;
  zmq::socket_t pipe_;     // reactor end
  zmq::socket_t monitor_;  // connection events of coord_ (a new handshake means: say hello)
  std::thread worker_;
  int stop_fd_ = -1;
  int signal_fd_ = -1;
  std::optional<Journal> journal_;  // moved into the worker at start

  bool welcomed_ = false;
  bool pending_ = false;
  common::Millis heartbeat_interval_{std::chrono::seconds(5)};
  common::SteadyTime next_heartbeat_{};
  common::SteadyTime next_hello_{};
  common::Millis hello_backoff_{std::chrono::seconds(1)};
  std::map<std::string, std::string> releases_;
  protocol::HealthMap health_;
  std::string busy_;
  std::map<std::string, std::uint64_t> sequences_;  // highest accepted order sequence per app
  OrderLedger ledger_;  // orders in hand and finished, to answer repeats and re-report on each session
  std::optional<FetchState> fetch_;
  // Set when the connection dropped; if no new handshake by then, reconnect by
  // hand (libzmq gives up on a connection it closed for a protocol error).
  std::optional<common::SteadyTime> reconnect_check_;
  std::deque<protocol::Report> outbox_;  // reports waiting for a welcome
  bool stopping_ = false;
  bool worker_done_ = false;
};

}  // namespace flotilla::agent
