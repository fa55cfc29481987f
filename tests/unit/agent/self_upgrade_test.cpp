// Which binary `flotilla-agent run` launches (self_upgrade.h): the release of
// the agent's own app that `current` names, unless it is already running,
// missing, or a handover of it is still in the journal.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

#include "flotilla/agent/self_upgrade.h"
#include "support/temp_dir.h"

using namespace flotilla;
namespace fs = std::filesystem;

TEST_CASE("self upgrade: the installed binary launches the agent release the fleet moved to", "[agent][self_upgrade]") {
  ::unsetenv(agent::kLaunchedEnv);
  ::unsetenv(agent::kHandoverEnv);
  testing::TempDir tmp;
  agent::AgentConfig config;
  config.apps_dir = tmp.path() / "apps";
  agent::JournalState journal;
  // Nothing deployed of the agent itself: run what was started.
  CHECK_FALSE(agent::launchTarget(config, journal));

  journal.apps[agent::kSelfApp].current = "2";
  const fs::path binary = agent::selfBinary(config, "2");
  CHECK(binary == tmp.path() / "apps/flotilla-agent/releases/2/flotilla-agent");
  CHECK_FALSE(agent::launchTarget(config, journal));  // not on disk
  fs::create_directories(binary.parent_path());
  std::ofstream(binary) << "#!/bin/sh\n";
  REQUIRE(agent::launchTarget(config, journal) == binary);

  // A handover of the agent in hand: recovery decides first, nothing is launched.
  journal.order = agent::InFlightOrder{};
  journal.order->app = agent::kSelfApp;
  journal.order->phase = agent::kHandoverPhase;
  CHECK_FALSE(agent::launchTarget(config, journal));
  journal.order->app = "web";
  CHECK(agent::launchTarget(config, journal) == binary);

  // A launched process does not launch again.
  ::setenv(agent::kLaunchedEnv, "1", 1);
  CHECK_FALSE(agent::launchTarget(config, journal));
  ::unsetenv(agent::kLaunchedEnv);
  // The running binary itself is never launched again.
  CHECK(agent::runningBinaryIs("/proc/self/exe"));
  CHECK_FALSE(agent::runningBinaryIs(binary));
}
