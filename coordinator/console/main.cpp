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

constexpr const char* kFlagsFooter = R"(
A flag set is a flagd flag-definition document (docs/flags.md). It rolls out as
the releases of the app "flags:APP": signed and sequenced orders, in waves, with
APP's own health checks and target, automatic revert on a failing host and fleet
rollback, shown by `flotilla history`, `status` and `watch` like any rollout.
Exit codes: 0 done (with --watch: the rollout succeeded); 1 with --watch, it
failed, rolled_back or was aborted; 2 the flag set is invalid (the message names
the file, the flag and the key), or the coordinator refused it (not_found: APP
was never deployed, or has no such flag); 3 coordinator unreachable; 4 refused
by policy (a gate that covers APP covers its flag rollouts).)";

constexpr const char* kFooter = R"(
Environment:
  FLOTILLA_CONTROL  control endpoint (or comma-separated list) used when --control is not given
  FLOTILLA_KEY      operator key file used when --key is not given (tcp:// endpoints)
  FLOTILLA_COORDINATOR_KEY  the coordinator's CURVE public key when --coordinator-key is not given
  USER              a name shown, as USER@HOSTNAME, beside the identity the control
                    socket authenticated (the operator key over tcp://, the Unix
                    user over ipc://); policy gates decide on that identity only

Exit codes:
  0    success; a watched rollout ended succeeded
  1    a watched rollout did not succeed: it ended failed, rolled_back or aborted
  2    bad usage or invalid input (plan errors name file:line:col and the key), or
       the coordinator refused the request (invalid_argument, not_found, conflict, ...)
  3    coordinator unreachable (no control socket, no reply within --timeout) or
       access denied (permission)
  4    refused by policy (policy_denied): the message names the gate and what
       is wrong, e.g. "policy provenance: the plan carries no CI signature"
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
3 coordinator unreachable, access denied, or a malformed reply; 4 refused by
policy before anything started (the message names the gate, docs/policy.md).)";

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

// Every subcommand and the values its arguments fill. CLI11 keeps pointers to
// these fields, so a CommandLine stays where it was made.
struct CommandLine {
  CLI::App *agents = nullptr, *accept = nullptr, *reject = nullptr, *revoke = nullptr;
  std::string agent_id;

  CLI::App* rollout = nullptr;
  std::string plan_path;
  bool rollout_watch = false;

  CLI::App* status = nullptr;
  std::string status_id;
  bool status_hosts = false;

  CLI::App* watch = nullptr;
  std::string watch_id;

  // pause | resume | promote | abort
  struct OperatorCommand {
    const char* name;
    const char* help;
    CLI::App* app = nullptr;
  };
  OperatorCommand ops[4] = {
      {"pause", "Pause a running rollout: no new host starts; hosts already deploying finish"},
      {"resume", "Resume a paused rollout (also past a failed wave when on_failure = \"pause\")"},
      {"promote", "Approve the next wave of a manual-approval rollout, or cut the current bake short"},
      {"abort", "Abort a rollout: nothing more is sent; hosts stay where they are (see rollback)"},
  };
  std::string op_id;

  CLI::App* rollback = nullptr;
  std::string rollback_app, rollback_to;
  bool rollback_watch = false;

  CLI::App* history = nullptr;
  std::string history_app;
  std::int64_t history_limit = 50;

  CLI::App* events = nullptr;
  std::string events_id;
  std::int64_t events_after = 0;

  std::string break_glass;

  CLI::App* approve = nullptr;
  std::string approve_id;

  CLI::App* policy = nullptr;
  CLI::App* policy_explain = nullptr;
  std::string policy_plan;

  CLI::App* analysis = nullptr;
  std::string analysis_id;
  std::int64_t analysis_wave = -1;

  CLI::App* metrics = nullptr;
  std::string metrics_app;
  std::int64_t metrics_days = 30;

  CLI::App* keygen = nullptr;
  std::string keygen_prefix;
  bool keygen_release = false, keygen_operator = false, keygen_ci = false;

  CLI::App* sign = nullptr;
  std::string sign_plan, sign_key;
  bool sign_ci = false;

  CLI::App *flags = nullptr, *flags_push = nullptr, *flags_kill = nullptr, *flags_show = nullptr,
           *flags_history = nullptr;
  std::string flags_app, flags_file, flags_bake, flags_flag, flags_variant, flags_host;
  std::vector<std::string> flags_waves;
  bool flags_watch = false;
  std::int64_t flags_limit = 50;
};

void addGlobalOptions(CLI::App& app, console::ConsoleOptions& opts) {
  app.add_option("--control", opts.control,
                 "Control endpoint of the coordinator, e.g. ipc:///var/lib/flotilla/control.sock, or a "
                 "comma-separated list of a leader and its standbys (tcp://a:7701,tcp://b:7701): a request a "
                 "standby answers not_leader goes to the leader it names, one that gets no answer to the next "
                 "endpoint, and watch re-dials by itself after a restart or failover (docs/ha.md) "
                 "(default: $FLOTILLA_CONTROL)")
      ->envname("FLOTILLA_CONTROL");
  app.add_flag("--json", opts.json,
               "Machine-readable output: one JSON document on stdout (JSON Lines for watch); errors as "
               "{\"error\": {...}} on stdout");
  app.add_option("--timeout", opts.timeout_seconds,
                 "Seconds to wait for a reply from the coordinator; a watch re-dials for 120 s (or this long, "
                 "if longer) without hearing from any coordinator before it gives up")
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
}

void addAgentCommands(CLI::App& app, CommandLine& c) {
  c.agents = app.add_subcommand("agents",
                                "List the agents: id, state (online | lost | pending | revoked), "
                                "labels, release per app, health. Subcommands accept/reject/revoke ID");
  c.agents->require_subcommand(0, 1);
  c.accept = c.agents->add_subcommand("accept", "Accept a pending agent: it may join and receive orders");
  c.accept->add_option("ID", c.agent_id, "Agent id (as listed by `flotilla agents`)")->required();
  c.reject = c.agents->add_subcommand("reject", "Reject a pending agent: its key is refused from now on");
  c.reject->add_option("ID", c.agent_id, "Agent id (as listed by `flotilla agents`)")->required();
  c.revoke = c.agents->add_subcommand("revoke", "Revoke an accepted agent: it is disconnected at once and refused");
  c.revoke->add_option("ID", c.agent_id, "Agent id (as listed by `flotilla agents`)")->required();
}

// rollout, status, watch, the operator actions and rollback: the commands that
// start, follow and steer rollouts.
void addRolloutCommands(CLI::App& app, CommandLine& c) {
  c.rollout = app.add_subcommand(
      "rollout",
      "Submit a plan: parse PLAN.toml locally (errors name file:line:col and the key, exit 2), upload the artifact "
      "it names and start the rollout; prints the rollout id and status");
  c.rollout->add_option("PLAN", c.plan_path, "Plan file (TOML); [artifact] file is read relative to it")->required();
  c.rollout->add_flag("--watch", c.rollout_watch, "Follow the rollout until it ends, as `flotilla watch ID` does");
  c.rollout->add_option("--break-glass", c.break_glass,
                        "REASON: start past closed policy gates (a freeze) and without waiting for approvals; "
                        "only operators listed in policy.break_glass may; recorded with the reason");
  c.rollout->footer(kRolloutFooter);

  c.approve = app.add_subcommand(
      "approve",
      "Approve a rollout awaiting approval (policy.approvals, docs/policy.md): it starts once enough distinct "
      "operators other than its submitter approved within the ttl. You are who the control socket says (your "
      "operator key over tcp://, your Unix user over ipc://). Exit 4 when the policy refuses your approval "
      "(your own rollout, or you are not an approver)");
  c.approve->add_option("ROLLOUT", c.approve_id, "Rollout id, e.g. web-3")->required();

  c.status = app.add_subcommand(
      "status",
      "Show a rollout (state, gate, progress of every wave), or without ROLLOUT the active rollouts. "
      "Exits 0 whatever the rollout's state");
  c.status->add_option("ROLLOUT", c.status_id, "Rollout id, e.g. web-3");
  c.status->add_flag("--hosts", c.status_hosts, "Also list every host: wave, state, phase, previous release, message");

  c.watch = app.add_subcommand("watch", "Follow a rollout until it ends (the rollout does not depend on it)");
  c.watch->add_option("ROLLOUT", c.watch_id, "Rollout id, e.g. web-3")->required();
  c.watch->footer(kWatchFooter);

  for (auto& op : c.ops) {
    op.app = app.add_subcommand(op.name, op.help);
    op.app->add_option("ROLLOUT", c.op_id, "Rollout id, e.g. web-3")->required();
  }

  c.rollback = app.add_subcommand(
      "rollback",
      "Roll APP back: while a rollout of APP is active, send every host it moved back to its previous release; "
      "otherwise start a fast rollout (one wave, no bake) of the previous successful release, or of --to VERSION");
  c.rollback->add_option("APP", c.rollback_app, "Application name")->required();
  c.rollback->add_option("--to", c.rollback_to, "Release to go back to (only when no rollout of APP is active)");
  c.rollback->add_flag("--watch", c.rollback_watch,
                       "Follow the rollback until it ends; exit 0 when it reached its goal (rolled_back for an active "
                       "rollout, succeeded for a new one), else 1");
}

// history, events, metrics: what the coordinator recorded.
void addRecordCommands(CLI::App& app, CommandLine& c) {
  c.history = app.add_subcommand("history",
                                 "List past and active rollouts, newest first: id, app, version, "
                                 "state, submitted at, by whom, duration");
  c.history->add_option("--app", c.history_app, "Only rollouts of this application");
  c.history->add_option("--limit", c.history_limit, "At most this many rollouts")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000}))
      ->capture_default_str();

  c.events = app.add_subcommand(
      "events", "Print the recorded events of a rollout, one a line: TIME KIND [AGENT] [wave N] MESSAGE (actor)");
  c.events->add_option("ROLLOUT", c.events_id, "Rollout id, e.g. web-3")->required();
  c.events->add_option("--after", c.events_after, "Only events with a sequence number above this")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  c.policy = app.add_subcommand("policy",
                                "List the policy gates (docs/policy.md): each freeze, whether it is open now and when "
                                "that changes, in its own time zone and in UTC");
  c.policy->require_subcommand(0, 1);
  c.policy_explain = c.policy->add_subcommand("explain", "Each gate's decision for PLAN now, and why");
  c.policy_explain->add_option("PLAN", c.policy_plan, "Plan file (TOML)")->required();

  c.analysis = app.add_subcommand(
      "analysis",
      "Print the release analysis of a rollout, per wave: the verdict (pass | marginal | fail) and score, then "
      "METRIC CANARY BASELINE CHANGE TOLERANCE/BOUND VERDICT WHY (docs/analysis.md). A wave still sampled shows "
      "its verdict so far");
  c.analysis->add_option("ROLLOUT", c.analysis_id, "Rollout id, e.g. web-3")->required();
  c.analysis->add_option("--wave", c.analysis_wave, "Only this wave (from 0)")->check(CLI::NonNegativeNumber);

  c.metrics = app.add_subcommand(
      "metrics",
      "DORA delivery metrics over a window ending now: deployment frequency, lead time for changes, "
      "change failure rate, failed-deployment recovery time, each beside its performance band and the "
      "rollouts it rests on (docs/metrics.md)");
  c.metrics->add_option("--app", c.metrics_app, "Only this application (default: the fleet and every app)");
  c.metrics->add_option("--days", c.metrics_days, "Window length in days")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3650}))
      ->capture_default_str();
}

// keygen and sign: offline key work.
void addKeyCommands(CLI::App& app, CommandLine& c) {
  c.keygen = app.add_subcommand(
      "keygen",
      "Make a key pair: PREFIX.key (secret, 0600) and PREFIX.pub. --release: an offline release key for "
      "`flotilla sign` (agents list its public half in release_keys); --ci: a CI key for `flotilla sign --ci` "
      "(coordinator.toml lists its .pub file in [policy.provenance] ci_keys); --operator: an operator key for a "
      "tcp:// control endpoint (the coordinator lists it in [control] operators). Works offline");
  c.keygen->add_option("PREFIX", c.keygen_prefix, "Path prefix of the two files")->required();
  auto* kg_rel = c.keygen->add_flag("--release", c.keygen_release, "Ed25519 release signing key");
  auto* kg_op = c.keygen->add_flag("--operator", c.keygen_operator, "X25519 CURVE operator key");
  auto* kg_ci = c.keygen->add_flag("--ci", c.keygen_ci, "Ed25519 CI signing key (docs/policy.md)");
  kg_rel->excludes(kg_op);
  kg_ci->excludes(kg_rel)->excludes(kg_op);

  c.sign = app.add_subcommand(
      "sign",
      "Sign the release a plan names (app, version, artifact digest and length) with an offline release key; "
      "writes the plan's artifact.signature file (default: ARTIFACT.sig). With --ci: sign, with a CI key, the "
      "release and the plan's [change] commit and ref; writes artifact.ci_signature (default: ARTIFACT.ci-sig), "
      "which a coordinator with [policy.provenance] ci_keys requires. Works offline");
  c.sign->add_option("PLAN", c.sign_plan, "Plan file (TOML)")->required();
  c.sign
      ->add_option("--key", c.sign_key,
                   "Key file: from `flotilla keygen --release`, or with --ci from `flotilla keygen --ci`")
      ->required();
  c.sign->add_flag("--ci", c.sign_ci, "Write the CI signature (provenance) instead of the release signature");
}

// flags push/kill/show/history: feature flags (docs/flags.md).
void addFlagCommands(CLI::App& app, CommandLine& c) {
  c.flags = app.add_subcommand("flags",
                               "Feature flags: roll out an app's flag set in waves, kill a flag, show "
                               "what the fleet runs (docs/flags.md)");
  c.flags->require_subcommand(1);
  c.flags->footer(kFlagsFooter);
  c.flags_push = c.flags->add_subcommand(
      "push",
      "Check FLAGS.json locally (flagd flag definitions; errors name the file, the flag and the key, exit 2) and "
      "roll it out to APP's hosts as a flag rollout (version f-<digest>: the same set is the same version), in "
      "waves with APP's health checks; a host whose checks fail reverts to its previous set by itself and the "
      "rollout is rolled back");
  c.flags_push->add_option("APP", c.flags_app, "Application name")->required();
  c.flags_push->add_option("FLAGS", c.flags_file, "Flag set file (JSON)")->required();
  c.flags_push
      ->add_option("--waves", c.flags_waves,
                   "Cumulative wave sizes, hosts or percentages, e.g. 1,25%,100% (default: a canary of 1 host, "
                   "then 100%)")
      ->delimiter(',');
  c.flags_push->add_option("--bake", c.flags_bake, "Time each wave bakes before the next, e.g. 5m (default: none)");
  c.flags_push->add_flag("--watch", c.flags_watch, "Follow the rollout until it ends, as `flotilla watch ID` does");
  c.flags_push->add_option("--break-glass", c.break_glass,
                           "REASON: start past closed policy gates, as for `flotilla rollout`");
  c.flags_push->footer(kFlagsFooter);

  c.flags_kill = c.flags->add_subcommand(
      "kill",
      "Turn FLAG of APP to its off variant on every host at once: its targeting removed and its default variant "
      "the variant named \"off\" (for a boolean flag: the false one; else name it with --variant). One wave, no "
      "bake, no health gate; signed, recorded (event flag_killed) and counted like any rollout. A flag rollout of "
      "APP in progress is aborted first");
  c.flags_kill->add_option("APP", c.flags_app, "Application name")->required();
  c.flags_kill->add_option("FLAG", c.flags_flag, "Flag key")->required();
  c.flags_kill->add_option("--variant", c.flags_variant, "The flag's off variant, when it has no \"off\" or false one");
  c.flags_kill->add_flag("--watch", c.flags_watch, "Follow the kill until every host has it");
  c.flags_kill->footer(kFlagsFooter);

  c.flags_show = c.flags->add_subcommand(
      "show",
      "The flag set each host of APP runs (hosts per version) and the flags of the newest set: key, state, "
      "default variant, variants, whether targeted; with --host, that host's set");
  c.flags_show->add_option("APP", c.flags_app, "Application name")->required();
  c.flags_show->add_option("--host", c.flags_host, "Only this agent (id as listed by `flotilla agents`)");

  c.flags_history = c.flags->add_subcommand(
      "history",
      "The flag rollouts and kills of APP, newest first: id, kind, version, state, when, by whom, and "
      "the flags added (+), removed (-) and changed (~) against the set before");
  c.flags_history->add_option("APP", c.flags_app, "Application name")->required();
  c.flags_history->add_option("--limit", c.flags_limit, "At most this many")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000}))
      ->capture_default_str();
}

int runFlagCommand(const CommandLine& c, console::Console& con) {
  if (*c.flags_push)
    return con.flagsPush(c.flags_app, c.flags_file, c.flags_waves, c.flags_bake, c.flags_watch, c.break_glass);
  if (*c.flags_kill) return con.flagsKill(c.flags_app, c.flags_flag, c.flags_variant, c.flags_watch);
  if (*c.flags_show) return con.flagsShow(c.flags_app, c.flags_host);
  return con.flagsHistory(c.flags_app, c.flags_limit);
}

// Runs the parsed command; returns the exit code.
int runCommand(const CommandLine& c, console::Console& con, const CLI::App& app) {
  if (*c.agents) {
    if (*c.accept) return con.agentAction("accept", c.agent_id);
    if (*c.reject) return con.agentAction("reject", c.agent_id);
    if (*c.revoke) return con.agentAction("revoke", c.agent_id);
    return con.agents();
  }
  if (*c.rollout) return con.rollout(c.plan_path, c.rollout_watch, c.break_glass);
  if (*c.policy) return con.policy(*c.policy_explain ? c.policy_plan : "");
  if (*c.approve) return con.approve(c.approve_id);
  if (*c.status) return con.status(c.status_id, c.status_hosts);
  if (*c.watch) return con.watch(c.watch_id);
  for (const auto& op : c.ops)
    if (*op.app) return con.operatorAction(op.name, c.op_id);
  if (*c.rollback) return con.rollback(c.rollback_app, c.rollback_to, c.rollback_watch);
  if (*c.history) return con.history(c.history_app, c.history_limit);
  if (*c.events) return con.events(c.events_id, c.events_after);
  if (*c.analysis) return con.analysis(c.analysis_id, c.analysis_wave);
  if (*c.metrics) return con.metrics(c.metrics_app, c.metrics_days);
  if (*c.keygen) {
    if (!c.keygen_release && !c.keygen_operator && !c.keygen_ci) {
      std::cerr << "flotilla: keygen: say --release, --ci or --operator\n";
      return console::kExitUsage;
    }
    return con.keygen(c.keygen_prefix, c.keygen_release ? "release" : c.keygen_ci ? "ci" : "operator");
  }
  if (*c.flags) return runFlagCommand(c, con);
  if (*c.sign) return c.sign_ci ? con.signCi(c.sign_plan, c.sign_key) : con.sign(c.sign_plan, c.sign_key);
  std::cerr << app.help();
  return console::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "flotilla: the Flotilla console. Submit, watch and steer rollouts, and manage the agents of the fleet,\n"
      "through the coordinator's control endpoint. See docs/operations.md."};
  app.fallthrough();  // global options are also accepted after the command
  app.require_subcommand(1);

  console::ConsoleOptions opts;
  addGlobalOptions(app, opts);
  CommandLine commands;
  addAgentCommands(app, commands);
  addRolloutCommands(app, commands);
  addRecordCommands(app, commands);
  addKeyCommands(app, commands);
  addFlagCommands(app, commands);
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
  return runCommand(commands, con, app);
}
