#pragma once
// The agent daemon. Two threads:
//  - the reactor (run()'s caller) owns the DEALER socket to the coordinator
//    and the Session (hello, heartbeats, order verification, artifact transfer
//    with credit-based flow control, forwarding reports). It does no slow
//    work: of a download it only writes each chunk (at most 256 KiB) into the
//    page cache, never waiting for the disk, so heartbeats do not stall.
//  - the worker owns the journal and the Deployer: it executes orders one at a
//    time and runs the idle health monitor. It makes a finished download
//    durable (fsync) before the Deployer checks its length and digest; a crash
//    before then leaves a partial download that recovery removes.
//  - the sampler (sampler.h) scrapes apps' /metrics for release analysis as
//    the coordinator asks; its batches reach the reactor, already encoded,
//    over a second inproc PAIR pipe and go out while the session is online.
// They talk only by messages over inproc PAIR pipes.
//  - with `[flags] listen`, the OFREP server (ofrep_server.h) on threads of its
//    own serves the flag sets the worker publishes to the FlagStore; the
//    reactor tells the store when the session comes and goes.

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "flotilla/agent/config.h"
#include "flotilla/agent/endpoint_failover.h"
#include "flotilla/agent/epoch_mark.h"
#include "flotilla/agent/flag_store.h"
#include "flotilla/agent/journal.h"
#include "flotilla/agent/link_watch.h"
#include "flotilla/agent/sampler.h"
#include "flotilla/agent/session.h"
#include "flotilla/common/clock.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::agent {

class OfrepServer;

class Agent final : private SessionPort {
 public:
  Agent(AgentConfig config, const common::Clock& clock);
  ~Agent();

  // Loads the journal and connects. Errors name the file or endpoint at fault.
  Status start();
  // The reactor loop; returns after SIGTERM/SIGINT or requestStop(), once the
  // worker has finished or reverted the step in hand. kTimeout when it did not
  // within stop_grace (a hook that will not end): the worker is still running
  // and destroying the Agent would wait for it, so the caller must end the
  // process without destructors (std::_Exit). That is safe: every step is in
  // the journal before it takes effect, and recovery deals with it at start.
  Status run();
  void requestStop();
  // After run() returned: the new agent binary this one hands over to (self_upgrade.h),
  // and the order it hands over; the caller execs it.
  struct Handover {
    std::filesystem::path binary;
    std::string order_id;
    common::Millis deadline;  // the trial's; the watchdog gives the new agent twice it to report
  };
  const std::optional<Handover>& handover() const { return handover_; }

 private:
  // SessionPort: how the session reaches the coordinator socket.
  void send(protocol::MsgType type, std::string frame) override;
  common::Millis jitter(common::Millis max) override;
  void identify(protocol::Hello& hello) override;
  void resent(const protocol::Report& r) override;
  void online() override;

  void handleCoordinator();
  void handleWorker();
  void handleMonitor();
  void handleSampler();
  void onOrder(const protocol::SignedOrder& order);
  void onChunk(const protocol::Chunk& chunk);
  void onRotation(const protocol::Rotation& r);
  // Raises the highest leadership epoch seen (persisted first; docs/ha.md).
  void observeEpoch(std::uint64_t epoch);
  void sendFrame(const std::string& payload);
  void finishFetch(Status result);
  // coord_ dials `to` instead of `from` (the same endpoint: redial it).
  void redial(const std::string& from, const std::string& to);
  void workerMain();

  AgentConfig config_;
  const common::Clock& clock_;
  zmq::context_t ctx_;
  zmq::socket_t coord_;
  zmq::socket_t pipe_;          // reactor end
  zmq::socket_t monitor_;       // connection events of coord_ (a new handshake means: say hello)
  zmq::socket_t sampler_pipe_;  // reactor end: encoded Samples from the sampler
  Sampler sampler_;             // after ctx_: its thread's socket closes before the context
  std::thread worker_;
  int stop_fd_ = -1;
  int signal_fd_ = -1;
  std::optional<Journal> journal_;  // moved into the worker at start
  std::optional<EpochMark> epoch_;  // the highest leadership epoch seen; opened at start
  std::optional<Handover> handover_;
  FlagStore flags_;                     // the worker publishes, the OFREP server reads
  std::unique_ptr<OfrepServer> ofrep_;  // after flags_: stops before the store goes

  // Hello, heartbeats, orders checked against sequences and the ledger,
  // reports held for a welcome, the download window, the reconnect check.
  Session session_;
  std::mt19937 rng_{std::random_device{}()};  // jitter
  // Which endpoint of the list coord_ dials, and when to move to another.
  EndpointFailover failover_;
  int fetch_fd_ = -1;  // the download in hand's file, -1 when none
  bool stopping_ = false;
  bool worker_done_ = false;
  LinkWatch link_;                     // what the socket monitor says of coord_'s connection
  std::uint64_t samples_dropped_ = 0;  // batches that found the session offline
};

}  // namespace flotilla::agent
