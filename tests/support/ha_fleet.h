#pragma once
// Two real coordinators on one test PostgreSQL under the leadership lease
// (docs/ha.md), for the ha integration tests: a leader "a" (the Fleet's own
// coordinator directory) and a standby "b" made from it the way operators do
// (`flotilla-coordinator init coord-b --from coord`: same keys and store URL,
// its own agents and control endpoints), both with a 2 s lease and their own
// /healthz port. Agents start with a's endpoint only, unless
// clientsKnowBoth() gave them (and the console helpers) both coordinators.
//
// Test thread only. The destructor stops both coordinators (waking a paused one).

#include <chrono>
#include <string>
#include <vector>

#include "support/cluster.h"
#include "support/postgres.h"

namespace flotilla::testing {

struct HaFleet {
  static constexpr std::chrono::seconds kTtl{2};

  PostgresServer* pg = testPostgres();
  Fleet f;
  std::string url;
  int http_a = freeTcpPort(), http_b = freeTcpPort();
  std::string agents_b = "tcp://127.0.0.1:" + std::to_string(freeTcpPort());
  Process a, b;

  HaFleet();
  ~HaFleet();
  HaFleet(const HaFleet&) = delete;
  HaFleet& operator=(const HaFleet&) = delete;

  // False after a WARN when PostgreSQL is not installed (the test skips).
  bool available() const;
  std::string controlB() const;
  // Both control endpoints, a first: what a console of this fleet is given.
  std::string controls() const { return f.controlEndpoint() + "," + controlB(); }
  // Agents initialised from now on get b's join.toml (both coordinators, a
  // first), and f.console() and every Fleet helper pass controls().
  void clientsKnowBoth();

  Process start(const std::string& dir, const std::string& log);
  std::string health(int port);
  // Whether the coordinator serving /healthz on `port` leads in `epoch`.
  bool leads(int port, int epoch);
  std::string database() const { return url.substr(url.rfind('/') + 1); }
  std::string lease(const std::string& column);
  // The console at b alone (it follows b's not_leader to the leader).
  CommandResult consoleB(const std::vector<std::string>& args);
  std::string logA();
  std::string logB();

  // A leads with the agents `ids` on release 1 of web; b stands by.
  void leadWithAgents(const std::vector<std::string>& ids = {"h0", "h1"});
};

}  // namespace flotilla::testing
