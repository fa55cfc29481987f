// flotilla-coordinator: thin main. Parses flags, initialises libsodium and
// logging, builds the daemon and runs it.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "flotilla/common/log.h"
#include "flotilla/coordinator/config.h"
#include "flotilla/coordinator/coordinator_run.h"
#include "flotilla/coordinator/init_from.h"

using namespace flotilla;

namespace {

int initFrom(const coordinator::InitOptions& init, const std::string& from) {
  coordinator::InitFromOptions opts;
  opts.dir = init.dir;
  opts.from = from;
  opts.listen = init.listen;
  opts.control = init.control;
  opts.advertise = init.advertise;
  opts.http = init.http;
  if (auto st = coordinator::initCoordinatorFrom(opts); !st.ok()) {
    std::cerr << "flotilla-coordinator: " << st.error().message << "\n";
    return 1;
  }
  std::cout << "created " << (init.dir / "coordinator.toml").string() << " with the keys and store of " << from;
  if (std::filesystem::exists(init.dir / "join.toml"))
    std::cout << ", and " << (init.dir / "join.toml").string() << " listing both coordinators for agents";
  std::cout << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "flotilla-coordinator: pushes signed deployment plans to Flotilla agents and drives rollouts.\n"
      "See docs/operations.md."};
  app.require_subcommand(1);

  coordinator::InitOptions init;
  std::string token_ttl = "24h";
  auto* init_cmd = app.add_subcommand("init", "Create DIR/coordinator.toml, key pairs and DIR/join.toml for agents");
  bool system_layout = false;
  auto* dir_opt =
      init_cmd->add_option("DIR", init.dir, "Directory to create (keys, store, control socket), or --system");
  init_cmd
      ->add_flag("--system", system_layout,
                 std::string("The package's layout instead of DIR: ") + coordinator::kSystemConfigDir +
                     "/coordinator.toml, keys/ and join.toml; store, artifacts and control socket in " +
                     coordinator::kSystemStateDir + "; files handed to the '" + coordinator::kSystemUser + "' user")
      ->excludes(dir_opt);
  init_cmd->add_option("--listen", init.listen, "Endpoint agents connect to")->capture_default_str();
  init_cmd->add_option("--control", init.control, "Control endpoint for the console (default ipc://DIR/control.sock)");
  init_cmd->add_option("--advertise", init.advertise,
                       "Endpoint written into join.toml for agents to dial (default: --listen, 0.0.0.0 -> 127.0.0.1)");
  init_cmd->add_option("--http", init.http, "HOST:PORT for /metrics and /healthz (default: off)");
  init_cmd->add_option("--token-ttl", token_ttl, "How long the join token in join.toml stays valid")
      ->capture_default_str();
  std::string from;
  init_cmd
      ->add_option("--from", from,
                   "A second coordinator (a standby, docs/ha.md) made from the coordinator in this directory: the "
                   "same plan and CURVE keys, store.url and settings, with DIR's own --listen, --control, "
                   "--advertise and --http; the first must use PostgreSQL (store.url)")
      ->excludes("--system");

  std::string config_file;
  std::string log_level;
  auto* run_cmd = app.add_subcommand(
      "run",
      "Run the coordinator daemon in the foreground (SIGTERM stops it cleanly). With store.url it leads under the "
      "leadership lease or stands by until the lease is free ([leadership], docs/ha.md)");
  run_cmd->add_option("--config", config_file, "Path to coordinator.toml")->required();
  run_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error (default: the config's log_level)");

  std::string token_config;
  std::string ttl = "1h";
  long uses = -1;
  auto* token_cmd = app.add_subcommand("token", "Manage join tokens");
  auto* create_cmd = token_cmd->add_subcommand("create", "Print a new join token");
  create_cmd->add_option("--config", token_config, "Path to coordinator.toml")->required();
  create_cmd->add_option("--ttl", ttl, "Validity, e.g. 1h, 7d")->capture_default_str();
  create_cmd->add_option("--uses", uses, "How many agents may enroll with it (-1 = unlimited)")->capture_default_str();
  token_cmd->require_subcommand(1);

  std::string rotate_config;
  auto* rotate_cmd = app.add_subcommand("rotate-plan-key",
                                        "Replace the plan key; agents accept the new one through a statement signed by "
                                        "the old one. Restart the daemon after.");
  rotate_cmd->add_option("--config", rotate_config, "Path to coordinator.toml")->required();

  CLI11_PARSE(app, argc, argv);

  if (auto st = common::initCrypto(); !st.ok()) {
    std::cerr << "flotilla-coordinator: " << st.error().message << "\n";
    return 1;
  }
  if (*init_cmd) {
    if (system_layout) {
      init.dir = coordinator::kSystemConfigDir;
      init.state_dir = coordinator::kSystemStateDir;
      init.user = coordinator::kSystemUser;
    } else if (init.dir.empty()) {
      std::cerr << "flotilla-coordinator: init: give DIR, or --system for the package's layout\n";
      return 2;
    }
    if (!from.empty()) return initFrom(init, from);
    auto d = common::parseDuration(token_ttl);
    if (!d) {
      std::cerr << "flotilla-coordinator: --token-ttl: " << d.error().message << "\n";
      return 2;
    }
    init.token_ttl = *d;
    if (auto st = coordinator::initCoordinator(init); !st.ok()) {
      std::cerr << "flotilla-coordinator: " << st.error().message << "\n";
      return 1;
    }
    std::cout << "created " << (init.dir / "coordinator.toml").string() << " and " << (init.dir / "join.toml").string()
              << "\n";
    return 0;
  }
  if (*create_cmd) {
    auto cfg = coordinator::loadCoordinatorConfig(token_config);
    auto d = common::parseDuration(ttl);
    if (!cfg || !d) {
      std::cerr << "flotilla-coordinator: " << (!cfg ? cfg.error().message : "--ttl: " + d.error().message) << "\n";
      return 2;
    }
    auto token = coordinator::createJoinToken(*cfg, *d, uses);
    if (!token) {
      std::cerr << "flotilla-coordinator: " << token.error().message << "\n";
      return 1;
    }
    std::cout << *token << "\n";
    return 0;
  }
  if (*rotate_cmd) {
    auto cfg = coordinator::loadCoordinatorConfig(rotate_config);
    if (!cfg) {
      std::cerr << "flotilla-coordinator: " << cfg.error().message << "\n";
      return 2;
    }
    auto id = coordinator::rotatePlanKey(*cfg);
    if (!id) {
      std::cerr << "flotilla-coordinator: " << id.error().message << "\n";
      return 1;
    }
    std::cout << "new plan key " << *id << "; restart the coordinator to sign with it\n";
    return 0;
  }
  auto cfg = coordinator::loadCoordinatorConfig(config_file);
  if (!cfg) {
    std::cerr << "flotilla-coordinator: " << cfg.error().message << "\n";
    return 2;
  }
  common::setupLogging("flotilla-coordinator", log_level.empty() ? cfg->log_level : log_level);
  // A coordinator that lost its leadership lease starts again from scratch as
  // a standby (docs/ha.md): this very program, same arguments, same pid.
  auto relaunch = [argv] {
    spdlog::warn("restarting as a standby");
    spdlog::shutdown();
    ::execv("/proc/self/exe", argv);
    std::cerr << "flotilla-coordinator: re-executing /proc/self/exe: " << std::strerror(errno) << "\n";
  };
  auto ran = coordinator::runCoordinator(std::move(*cfg), common::RealClock::instance(), relaunch);
  if (!ran) {
    spdlog::critical("{}", ran.error().message);
    return 1;
  }
  if (*ran == coordinator::RunEnd::kLeadershipLost) return 1;
  return 0;
}
