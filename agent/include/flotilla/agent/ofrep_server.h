#pragma once
// The agent's flag endpoint on loopback (`[flags] listen` in agent.toml; off
// when absent): OFREP for each app's live flag set (ofrep.h) under
// http://HOST:PORT/apps/APP, and GET /metrics (Prometheus text):
//   flotilla_agent_flag_set_age_seconds{app}       since the live set was applied
//   flotilla_agent_coordinator_silent_seconds      0 while in session
//   flotilla_agent_flag_sets_refused_total         malformed sets refused
//   flotilla_agent_ofrep_evaluations_total         flags evaluated over OFREP
//
// cpp-httplib on threads of its own (a listener and a small pool), never the
// reactor's or the worker's: it reads the FlagStore's immutable snapshots, so
// a slow or stuck client delays no order and no heartbeat. Request bodies are
// bounded (kMaxOfrepBody), and so are the connections it holds: its threads
// plus a short queue, past which it stops accepting (clients wait in the
// kernel's backlog), so local clients cannot use up the agent's descriptors.
// At the agent's start an evaluation waits (a few seconds at most) until the
// worker has published the flag sets on disk, rather than answer from an
// empty store. Constructed and stopped by the Agent on
// its reactor thread.

#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "flotilla/agent/flag_store.h"
#include "flotilla/agent/ofrep.h"
#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"

namespace httplib {
class Server;
}

namespace flotilla::agent {

inline constexpr std::size_t kMaxOfrepBody = 64 * 1024;

class OfrepServer {
 public:
  // Keeps references to store and clock: they outlive the server.
  OfrepServer(FlagStore& store, OfrepHost host, const common::Clock& clock);
  ~OfrepServer();

  // Binds host:port (port 0: any free port) and serves in the background.
  Status start(const std::string& host, int port);
  void stop();
  int port() const { return port_; }

  // The /metrics document; public for tests.
  std::string renderMetrics() const;

 private:
  OfrepNow nowFor(const LiveFlagSet* set) const;

  FlagStore& store_;  // read, and its evaluation counter bumped
  const OfrepHost host_;
  const common::Clock& clock_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace flotilla::agent
