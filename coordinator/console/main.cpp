// flotilla: the console. Thin main: parses flags, initialises libsodium, and
// hands the command to flotilla::console::Console (commands.h).
#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "flotilla/common/crypto.h"
#include "flotilla/console/client.h"
#include "flotilla/console/commands.h"
#include "flotilla/console/render.h"

using namespace flotilla;

namespace {

constexpr const char* kFooter = R"(
Environment:
  FLOTILLA_CONTROL  control endpoint used when --control is not given
  FLOTILLA_KEY      operator key file used when --key is not given (tcp:// endpoints)
  FLOTILLA_COORDINATOR_KEY  the coordinator's CURVE public key when --coordinator-key is not given
  USER              operator name recorded with every action, as USER@HOSTNAME

Exit codes:
  0    success; a watched rollout ended succeeded
  1    a watched rollout did not succeed: it ended failed, rolled_back or aborted
  2    bad usage or invalid input (plan errors name file:line:col and the key), or
       the coordinator refused the request (invalid_argument, not_found, conflict, ...)
  3    coordinator unreachable (no control socket, no reply within --timeout) or
       access denied (permission)
  130  a watch was interrupted (Ctrl-C); the rollout continues on the coordinator

With --json, stdout carries exactly one JSON document (JSON Lines for watch and
--watch), timestamps in RFC 3339 UTC and durations in seconds; an error is
{"error": {"code": ..., "message": ...}} on stdout with the exit code above.)";

constexpr const char* kWatchFooter = R"(
Shows each wave's progress, the gate the rollout waits on (bake, approval) and
every host event as it happens; on a terminal the wave block is redrawn in
place, otherwise every change is a plain line. Ends with one summary line.
Exit codes: 0 the rollout succeeded; 1 it failed, rolled_back or was aborted;
2 no such rollout; 3 coordinator unreachable (nothing heard for --timeout)
or access denied.)";

constexpr const char* kRolloutFooter = R"(
Exit codes: 0 submitted (with --watch: the rollout succeeded); 1 with --watch,
the rollout failed, rolled_back or was aborted; 2 the plan or its artifact is
invalid or unreadable (the message names file:line:col and the key), or the
coordinator refused it (e.g. conflict: a rollout of the app is still active);
3 coordinator unreachable, access denied, or a malformed reply.)";

std::size_t terminalWidth() {
  struct winsize ws {};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

bool interactiveStdout() {
  if (!::isatty(STDOUT_FILENO)) return false;
  const char* term = std::getenv("TERM");
  return term && *term && std::strcmp(term, "dumb") != 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "flotilla: the Flotilla console. Submit, watch and steer rollouts, and manage the agents of the fleet,\n"
      "through the coordinator's control endpoint. See docs/operations.md."};
  app.fallthrough();  // global options are also accepted after the command
  app.require_subcommand(1);

  console::ConsoleOptions opts;
  app.add_option("--control", opts.control,
                 "Control endpoint of the coordinator, e.g. ipc:///var/lib/flotilla/control.sock "
                 "(default: $FLOTILLA_CONTROL)")
      ->envname("FLOTILLA_CONTROL");
  app.add_flag("--json", opts.json,
               "Machine-readable output: one JSON document on stdout (JSON Lines for watch); errors as "
               "{\"error\": {...}} on stdout");
  app.add_option("--timeout", opts.timeout_seconds,
                 "Seconds to wait for a reply from the coordinator; a watch gives up after this long without "
                 "hearing from it")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            char* end = nullptr;
            const double v = std::strtod(value.c_str(), &end);
            if (end == value.c_str() || *end != '\0' || !(v > 0) || v > 86400)
              return "expected a number of seconds above 0 and at most 86400, got '" + value + "'";
            return {};
          },
          "SECONDS"))
      ->capture_default_str();

  app.add_option(
         "--key", opts.key_file,
         "Operator key file (flotilla keygen --operator) for a tcp:// control endpoint (default: $FLOTILLA_KEY)")
      ->envname("FLOTILLA_KEY");
  app.add_option("--coordinator-key", opts.coordinator_key,
                 "The coordinator's CURVE public key (hex, its keys/curve.pub) for a tcp:// control endpoint "
                 "(default: $FLOTILLA_COORDINATOR_KEY)")
      ->envname("FLOTILLA_COORDINATOR_KEY");

  // agents
  auto* agents = app.add_subcommand("agents",
                                    "List the agents: id, state (online | lost | pending | revoked), "
                                    "labels, release per app, health. Subcommands accept/reject/revoke ID");
  agents->require_subcommand(0, 1);
  std::string agent_id;
  auto* accept = agents->add_subcommand("accept", "Accept a pending agent: it may join and receive orders");
  accept->add_option("ID", agent_id, "Agent id (as listed by `flotilla agents`)")->required();
  auto* reject = agents->add_subcommand("reject", "Reject a pending agent: its key is refused from now on");
  reject->add_option("ID", agent_id, "Agent id (as listed by `flotilla agents`)")->required();
  auto* revoke = agents->add_subcommand("revoke", "Revoke an accepted agent: it is disconnected at once and refused");
  revoke->add_option("ID", agent_id, "Agent id (as listed by `flotilla agents`)")->required();

  // rollout
  std::string plan_path;
  bool rollout_watch = false;
  auto* rollout = app.add_subcommand(
      "rollout",
      "Submit a plan: parse PLAN.toml locally (errors name file:line:col and the key, exit 2), upload the artifact "
      "it names and start the rollout; prints the rollout id and status");
  rollout->add_option("PLAN", plan_path, "Plan file (TOML); [artifact] file is read relative to it")->required();
  rollout->add_flag("--watch", rollout_watch, "Follow the rollout until it ends, as `flotilla watch ID` does");
  rollout->footer(kRolloutFooter);

  // status
  std::string status_id;
  bool status_hosts = false;
  auto* status = app.add_subcommand(
      "status",
      "Show a rollout (state, gate, progress of every wave), or without ROLLOUT the active rollouts. "
      "Exits 0 whatever the rollout's state");
  status->add_option("ROLLOUT", status_id, "Rollout id, e.g. web-3");
  status->add_flag("--hosts", status_hosts, "Also list every host: wave, state, phase, previous release, message");

  // watch
  std::string watch_id;
  auto* watch = app.add_subcommand("watch", "Follow a rollout until it ends (the rollout does not depend on it)");
  watch->add_option("ROLLOUT", watch_id, "Rollout id, e.g. web-3")->required();
  watch->footer(kWatchFooter);

  // pause | resume | promote | abort
  std::string op_id;
  struct OperatorCommand {
    const char* name;
    const char* help;
    CLI::App* app = nullptr;
  };
  OperatorCommand ops[] = {
      {"pause", "Pause a running rollout: no new host starts; hosts already deploying finish"},
      {"resume", "Resume a paused rollout (also past a failed wave when on_failure = \"pause\")"},
      {"promote", "Approve the next wave of a manual-approval rollout, or cut the current bake short"},
      {"abort", "Abort a rollout: nothing more is sent; hosts stay where they are (see rollback)"},
  };
  for (auto& op : ops) {
    op.app = app.add_subcommand(op.name, op.help);
    op.app->add_option("ROLLOUT", op_id, "Rollout id, e.g. web-3")->required();
  }

  // rollback
  std::string rollback_app, rollback_to;
  bool rollback_watch = false;
  auto* rollback = app.add_subcommand(
      "rollback",
      "Roll APP back: while a rollout of APP is active, send every host it moved back to its previous release; "
      "otherwise start a fast rollout (one wave, no bake) of the previous successful release, or of --to VERSION");
  rollback->add_option("APP", rollback_app, "Application name")->required();
  rollback->add_option("--to", rollback_to, "Release to go back to (only when no rollout of APP is active)");
  rollback->add_flag("--watch", rollback_watch,
                     "Follow the rollback until it ends; exit 0 when it reached its goal (rolled_back for an active "
                     "rollout, succeeded for a new one), else 1");

  // history
  std::string history_app;
  std::int64_t history_limit = 50;
  auto* history = app.add_subcommand("history",
                                     "List past and active rollouts, newest first: id, app, version, "
                                     "state, submitted at, by whom, duration");
  history->add_option("--app", history_app, "Only rollouts of this application");
  history->add_option("--limit", history_limit, "At most this many rollouts")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000}))
      ->capture_default_str();

  // events
  std::string events_id;
  std::int64_t events_after = 0;
  auto* events = app.add_subcommand(
      "events", "Print the recorded events of a rollout, one a line: TIME KIND [AGENT] [wave N] MESSAGE (actor)");
  events->add_option("ROLLOUT", events_id, "Rollout id, e.g. web-3")->required();
  events->add_option("--after", events_after, "Only events with a sequence number above this")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  // metrics
  std::string metrics_app;
  std::int64_t metrics_days = 30;
  auto* metrics = app.add_subcommand(
      "metrics",
      "DORA delivery metrics over a window ending now: deployment frequency, lead time for changes, "
      "change failure rate, failed-deployment recovery time, each beside its performance band and the "
      "rollouts it rests on (docs/metrics.md)");
  metrics->add_option("--app", metrics_app, "Only this application (default: the fleet and every app)");
  metrics->add_option("--days", metrics_days, "Window length in days")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3650}))
      ->capture_default_str();

  // keygen
  std::string keygen_prefix;
  bool keygen_release = false, keygen_operator = false;
  auto* keygen = app.add_subcommand(
      "keygen",
      "Make a key pair: PREFIX.key (secret, 0600) and PREFIX.pub. --release: an offline release key for "
      "`flotilla sign` (agents list its public half in release_keys); --operator: an operator key for a "
      "tcp:// control endpoint (the coordinator lists it in [control] operators). Works offline");
  keygen->add_option("PREFIX", keygen_prefix, "Path prefix of the two files")->required();
  auto* kg_rel = keygen->add_flag("--release", keygen_release, "Ed25519 release signing key");
  auto* kg_op = keygen->add_flag("--operator", keygen_operator, "X25519 CURVE operator key");
  kg_rel->excludes(kg_op);

  // sign
  std::string sign_plan, sign_key;
  auto* sign = app.add_subcommand(
      "sign",
      "Sign the release a plan names (app, version, artifact digest and length) with an offline release key; "
      "writes the plan's artifact.signature file (default: ARTIFACT.sig). Works offline");
  sign->add_option("PLAN", sign_plan, "Plan file (TOML)")->required();
  sign->add_option("--key", sign_key, "Release key file from `flotilla keygen --release`")->required();

  app.footer(kFooter);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    if (rc == 0) return 0;  // --help
    if (opts.json) std::cout << console::errorDoc(Error(Errc::kInvalidArgument, e.what())).dump() << "\n";
    return console::kExitUsage;
  }

  if (auto st = common::initCrypto(); !st.ok()) {
    std::cerr << "flotilla: " << st.error().message << "\n";
    return console::kExitUsage;
  }
  opts.terminal = !opts.json && interactiveStdout();
  opts.width = opts.terminal ? terminalWidth() : 0;
  opts.operator_name = console::defaultOperatorName();

  console::Console con(opts, std::cout, std::cerr);
  if (*agents) {
    if (*accept) return con.agentAction("accept", agent_id);
    if (*reject) return con.agentAction("reject", agent_id);
    if (*revoke) return con.agentAction("revoke", agent_id);
    return con.agents();
  }
  if (*rollout) return con.rollout(plan_path, rollout_watch);
  if (*status) return con.status(status_id, status_hosts);
  if (*watch) return con.watch(watch_id);
  for (const auto& op : ops)
    if (*op.app) return con.operatorAction(op.name, op_id);
  if (*rollback) return con.rollback(rollback_app, rollback_to, rollback_watch);
  if (*history) return con.history(history_app, history_limit);
  if (*events) return con.events(events_id, events_after);
  if (*metrics) return con.metrics(metrics_app, metrics_days);
  if (*keygen) {
    if (!keygen_release && !keygen_operator) {
      std::cerr << "flotilla: keygen: say --release or --operator\n";
      return console::kExitUsage;
    }
    return con.keygen(keygen_prefix, keygen_release ? "release" : "operator");
  }
  if (*sign) return con.sign(sign_plan, sign_key);
  std::cerr << app.help();
  return console::kExitUsage;
}
