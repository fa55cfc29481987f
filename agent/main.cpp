// flotilla-agent: thin main. Parses flags, initialises libsodium and logging,
// builds the agent daemon and runs it.
#include <CLI/CLI.hpp>
#include <cstdlib>

#include <iostream>

#include "flotilla/agent/agent.h"
#include "flotilla/agent/config.h"
#include "flotilla/agent/health.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/log.h"

using namespace flotilla;

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
      "run", "Run the agent daemon in the foreground (SIGTERM finishes or reverts the step in hand)");
  run_cmd->add_option("--config", config_file, "Path to agent.toml")->required();
  run_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error (default: the config's log_level)");

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
  auto cfg = agent::loadAgentConfig(config_file);
  if (!cfg) {
    std::cerr << "flotilla-agent: " << cfg.error().message << "\n";
    return 2;
  }
  common::setupLogging("flotilla-agent", log_level.empty() ? cfg->log_level : log_level);
  agent::Agent daemon(std::move(*cfg), common::RealClock::instance());
  if (auto st = daemon.start(); !st.ok()) {
    spdlog::critical("{}", st.error().message);
    return 1;
  }
  if (auto st = daemon.run(); !st.ok()) {
    spdlog::critical("{}", st.error().message);
    if (st.error().code == Errc::kTimeout) {
      // The worker is stuck: ~Agent would join it. Flush the log and go.
      spdlog::shutdown();
      std::_Exit(1);
    }
    return 1;
  }
  return 0;
}
