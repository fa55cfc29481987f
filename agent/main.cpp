// flotilla-agent: thin main. Parses flags, initialises libsodium and logging,
// builds the agent daemon and runs it.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include <iostream>

#include "flotilla/agent/agent.h"
#include "flotilla/agent/config.h"
#include "flotilla/agent/health.h"
#include "flotilla/agent/real_host_os.h"
#include "flotilla/agent/self_upgrade.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/log.h"

using namespace flotilla;

namespace {

// Runs `binary` in this process with this process's arguments; returns only
// when execv failed (errno says why).
void execWithArgs(const std::string& binary, std::vector<char*> args) {
  std::string argv0 = binary;
  args[0] = argv0.data();
  ::execv(binary.c_str(), args.data());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "flotilla-agent: applies signed Flotilla releases on this host, checks their health and reverts\n"
      "them by itself when checks fail. See docs/operations.md."};
  app.require_subcommand(1);

  agent::AgentInitOptions init;
  auto* init_cmd =
      app.add_subcommand("init", "Create DIR/agent.toml and the agent's key pair from a coordinator's join.toml");
  bool system_layout = false;
  auto* dir_opt = init_cmd->add_option("DIR", init.dir, "Directory for agent.toml, keys and state (or --system)");
  init_cmd
      ->add_flag("--system", system_layout,
                 std::string("The package's layout instead of DIR: ") + agent::kSystemConfigFile +
                     ", keys, state and apps in " + agent::kSystemStateDir)
      ->excludes(dir_opt);
  init_cmd->add_option("--join", init.join_file, "join.toml written by `flotilla-coordinator init`")->required();
  init_cmd->add_option("--id", init.id, "Agent id (default: the host name)");
  init_cmd->add_option("--label", init.labels, "Label k=v used by plans' [target] (repeatable)");
  init_cmd->add_option("--var", init.vars, "Host variable k=v, expanded as ${k} in plans (repeatable)");
  init_cmd->add_option("--apps-dir", init.apps_dir,
                       "Where releases live: <apps-dir>/<app>/releases, current (default DIR/apps)");
  init_cmd->add_option("--run-as", init.run_as,
                       "User that runs hooks, restart and exec checks (default: the agent's user)");

  std::string config_file, log_level;
  auto* run_cmd = app.add_subcommand(
      "run",
      "Run the agent daemon in the foreground (SIGTERM finishes or reverts the step in hand). When the fleet "
      "moved this host to a release of the agent itself (app flotilla-agent, docs/operations.md), this binary "
      "starts that release instead");
  run_cmd->add_option("--config", config_file, "Path to agent.toml")->required();
  run_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error (default: the config's log_level)");

  std::string selftest_config;
  long selftest_timeout = 10;
  auto* selftest_cmd = app.add_subcommand(
      "selftest",
      "Check that this binary can run the agent of agent.toml: reads it, its keys and the journal, and completes a "
      "CURVE handshake with the coordinator. An agent upgrading itself runs its new binary's selftest before "
      "handing over to it (docs/operations.md). Exit 0 when all of that worked");
  selftest_cmd->add_option("--config", selftest_config, "Path to agent.toml")->required();
  selftest_cmd->add_option("--timeout", selftest_timeout, "Seconds to wait for the handshake (default 10)")
      ->check(CLI::Range(1, 3600));

  CLI11_PARSE(app, argc, argv);
  if (auto st = common::initCrypto(); !st.ok()) {
    std::cerr << "flotilla-agent: " << st.error().message << "\n";
    return 1;
  }
  if (*init_cmd) {
    if (system_layout) {
      init.dir = agent::kSystemStateDir;
      init.config_file = agent::kSystemConfigFile;
    } else if (init.dir.empty()) {
      std::cerr << "flotilla-agent: init: give DIR, or --system for the package's layout\n";
      return 2;
    }
    auto created = agent::initAgent(init);
    if (!created) {
      std::cerr << "flotilla-agent: " << created.error().message << "\n";
      return created.error().code == Errc::kInvalidArgument ? 2 : 1;
    }
    std::cout << "created " << created->string() << "\n";
    return 0;
  }
  if (*selftest_cmd) {
    auto cfg = agent::loadAgentConfig(selftest_config);
    if (!cfg) {
      std::cerr << "flotilla-agent: " << cfg.error().message << "\n";
      return 2;
    }
    if (auto st = agent::selfTest(*cfg, std::chrono::seconds(selftest_timeout)); !st.ok()) {
      std::cerr << "flotilla-agent: " << st.error().message << "\n";
      return 1;
    }
    std::cout << "ok\n";
    return 0;
  }
  auto cfg = agent::loadAgentConfig(config_file);
  if (!cfg) {
    std::cerr << "flotilla-agent: " << cfg.error().message << "\n";
    return 2;
  }
  // Handed over by an older agent (self_upgrade.h): remember which order, and
  // keep the variable from hooks and from the next exec.
  if (const char* handed = std::getenv(agent::kHandoverEnv)) cfg->handover_order = handed;
  ::unsetenv(agent::kHandoverEnv);
  if (!cfg->handover_order.empty()) agent::RealHostOs::pausePoint("handover:exec");
  const std::vector<char*> args(argv, argv + argc + 1);  // with the terminating null
  // The installed binary launches the version the fleet moved this host to.
  if (auto journal = agent::Journal::open(cfg->state_dir); journal.ok() && cfg->handover_order.empty()) {
    if (auto target = agent::launchTarget(*cfg, journal->state())) {
      ::setenv(agent::kLaunchedEnv, "1", 1);
      execWithArgs(target->string(), args);
      std::cerr << "flotilla-agent: could not start " << target->string() << " (" << std::strerror(errno)
                << "); running this binary\n";
    }
  }
  common::setupLogging("flotilla-agent", log_level.empty() ? cfg->log_level : log_level);
  const auto state_dir = cfg->state_dir;
  auto daemon = std::make_unique<agent::Agent>(std::move(*cfg), common::RealClock::instance());
  if (auto st = daemon->start(); !st.ok()) {
    spdlog::critical("{}", st.error().message);
    return 1;
  }
  if (auto st = daemon->run(); !st.ok()) {
    spdlog::critical("{}", st.error().message);
    if (st.error().code == Errc::kTimeout) {
      // The worker is stuck: ~Agent would join it. Flush the log and go.
      spdlog::shutdown();
      std::_Exit(1);
    }
    return 1;
  }
  if (auto handover = daemon->handover()) {
    // Same pid, new binary: its recovery reports the order (self_upgrade.h).
    const std::string path = handover->binary.string();
    ::setenv(agent::kHandoverEnv, handover->order_id.c_str(), 1);
    // The last reports leave (linger) and every thread ends; a teardown that
    // does not end in time must not keep the host from its new agent.
    if (!agent::closeForHandover(std::move(daemon), agent::kHandoverTeardownLimit))
      spdlog::error("the old agent's teardown did not end within {} ms; handing over anyway",
                    agent::kHandoverTeardownLimit.count());
    // The watchdog forks off: old code that does not depend on the new binary working.
    if (auto st = agent::startHandoverWatchdog(state_dir, handover->order_id, handover->deadline); !st.ok())
      spdlog::error("{}; a new agent that hangs would not be stopped", st.error().message);
    spdlog::info("exec {}", path);
    spdlog::shutdown();
    execWithArgs(path, args);
    std::cerr << "flotilla-agent: exec " << path << ": " << std::strerror(errno) << "\n";
    return 1;  // restarted by its supervisor, recovery reverts the handover
  }
  return 0;
}
