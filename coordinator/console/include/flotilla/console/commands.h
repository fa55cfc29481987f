#pragma once
// The console's commands: each turns arguments into control requests, prints
// the reply for people (or as one JSON document with --json) and returns the
// process exit code (render.h: kExitOk .. kExitUnreachable).
//
// Errors go to `err` as "flotilla: <message>", or with --json to `out` as
// {"error": {"code", "message"}}. Nothing here throws: every reply is read
// into its struct (protocol/control.h) before anything is printed, and one
// that does not fit is reported as an error with code "corrupt" naming the
// field, exit 3 (render.h: kExitUnreachable), like any coordinator fault.
//
// A Console connects lazily, on the first command that needs the coordinator,
// so local validation (a plan's syntax, a missing endpoint) never waits on the
// network. Single-threaded; one Console per process (it owns the ZeroMQ context).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"
#include "flotilla/console/client.h"
#include "flotilla/protocol/control.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::console {

class WatchView;

struct ConsoleOptions {
  std::string control;          // control endpoint; "" = none configured
  bool json = false;            // --json
  double timeout_seconds = 10;  // --timeout: reply wait (a watch re-dials at least kWatchReconnectLimit)
  bool terminal = false;        // stdout is an interactive terminal: redraw the watch view in place
  std::size_t width = 0;        // terminal columns (0 = unknown)
  std::string operator_name;    // "user@host", recorded with every action
  std::string key_file;         // --key: operator CURVE key for a tcp:// endpoint
  std::string coordinator_key;  // --coordinator-key: the coordinator's CURVE public key (hex)
};

// Re-send `watch` after this long without any message from the coordinator
// (to the next endpoint of --control when the connection is down, or when
// the last re-send went unanswered too).
inline constexpr common::Millis kWatchResend{3000};
// A watch that hears from no coordinator re-dials for this long (or
// --timeout, if longer) before it gives up: a coordinator restart or a
// failover to a standby (docs/ha.md) takes less.
inline constexpr common::Millis kWatchReconnectLimit{120000};

class Console {
 public:
  Console(ConsoleOptions options, std::ostream& out, std::ostream& err);
  ~Console();

  int agents();
  // action: "accept", "reject" or "revoke".
  int agentAction(const std::string& action, const std::string& id);
  // Parses PLAN locally (errors name file:line:col and the key; exit 2), then
  // submits it with the artifact it names.
  // `break_glass`: the reason to start past closed policy gates ("" = none).
  int rollout(const std::string& plan_path, bool watch, const std::string& break_glass = "");
  // The policy gates now; with a plan, each gate's decision for it (`policy explain PLAN`).
  int policy(const std::string& plan_path);
  // Approves a rollout awaiting approval (exit 4 when the policy refuses it).
  int approve(const std::string& rollout);
  // rollout "" lists the active rollouts.
  int status(const std::string& rollout, bool hosts);
  int watch(const std::string& rollout);
  // cmd: "pause", "resume", "promote" or "abort".
  int operatorAction(const std::string& cmd, const std::string& rollout);
  int rollback(const std::string& app, const std::string& to, bool watch);
  int history(const std::string& app, std::int64_t limit);
  int events(const std::string& rollout, std::int64_t after);
  // wave -1 = every wave.
  int analysis(const std::string& rollout, std::int64_t wave);
  // app "" = the fleet and every app; days >= 1.
  int metrics(const std::string& app, std::int64_t days);
  // Writes PREFIX.key (0600) and PREFIX.pub: kind "release" (Ed25519, for
  // `sign`), "ci" (Ed25519, for `sign --ci`) or "operator" (X25519 CURVE, for a
  // tcp:// control endpoint).
  int keygen(const std::string& prefix, const std::string& kind);
  // Signs the release a plan names (app, version, artifact digest and length)
  // with an offline release key; writes artifact.signature (default ARTIFACT.sig).
  int sign(const std::string& plan_path, const std::string& key_file);
  // Signs, with a CI key, the plan's release and its [change] commit and ref
  // (protocol/provenance.h); writes artifact.ci_signature (default
  // ARTIFACT.ci-sig). In sign_ci.cpp.
  int signCi(const std::string& plan_path, const std::string& key_file);

  // Feature flags (flags.cpp, docs/flags.md). A push reads FLAGS.json and
  // checks it locally (errors name the file, the flag and the key; exit 2),
  // then submits it as a flag rollout of APP. `waves`: cumulative sizes
  // ("1", "25%"; empty = a canary of 1 host, then 100%); `bake` "" = none.
  int flagsPush(const std::string& app, const std::string& file, const std::vector<std::string>& waves,
                const std::string& bake, bool watch, const std::string& break_glass = "");
  // Turns FLAG to its off variant on every host at once (`variant`: the off
  // variant when the coordinator cannot tell it).
  int flagsKill(const std::string& app, const std::string& flag, const std::string& variant, bool watch);
  // host "" = the fleet.
  int flagsShow(const std::string& app, const std::string& host);
  int flagsHistory(const std::string& app, std::int64_t limit);

  // Called from a SIGINT/SIGTERM handler: a running watch stops at its next
  // wake-up and says the rollout continues without it. Async-signal-safe.
  static void interrupt();

 private:
  Result<ControlClient*> client();
  Result<json> request(json req);
  int fail(const Error& e);
  int fail(const Error& e, int exit_code);
  // Sends `req` and reads the reply as T; on failure reports it and sets `rc`.
  template <typename T>
  std::optional<T> call(json req, int& rc);
  // --json: the reply's fields without "ok".
  int printReply(const json& reply);
  // A status document as JSON, or for people after `human_prefix`.
  int printRolloutReply(const protocol::control::RolloutStatus& status, const std::string& human_prefix);
  // Follows a rollout until it ends. `success_state` is the final state that
  // counts as success (exit 0); `submitted` is when this console submitted it.
  int watchLoop(const std::string& id, const std::string& success_state, std::optional<common::SteadyTime> submitted);
  // Shows `first` and every message already waiting behind it, then redraws;
  // an exit code when the watch must end on an error.
  std::optional<int> readBurst(ControlClient& cl, WatchView& view, const std::string& id, json first);
  template <typename F>
  int guarded(F&& body);
  // What `sign` and `signCi` sign with: the plan, the Ed25519 key in
  // `key_file` (`what` names its kind in errors) and the artifact's digest.
  struct SignInputs {
    protocol::Plan plan;
    common::SigningKeyPair key;
    common::FileDigest artifact;
  };
  Result<SignInputs> signInputs(const std::string& plan_path, const std::string& key_file, const std::string& what);

  ConsoleOptions options_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<ControlClient> client_;
};

}  // namespace flotilla::console
