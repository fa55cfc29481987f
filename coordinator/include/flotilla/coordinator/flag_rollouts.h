#pragma once
// FlagRollouts: the coordinator's side of the flag commands (docs/flags.md
// "Flag rollouts", "The kill switch"). A flag set of app `web` is a release of
// the app "flags:web" (protocol/flag_app.h), so once a push or a kill is
// planned here, the rollout machinery does the rest: signed and sequenced
// orders, waves, bake, health gates, the agents' self-revert, fleet rollback,
// history, watch and the event log.
//
// - push: re-checks the flag set (the console is never trusted), stores it as
//   an artifact under its digest, and plans it from web's most recent plan
//   (flag_plan.h); ControlApi passes it through web's policy gates (a gate
//   that covers `web` covers `flags:web`: alarm_policy.h) and starts it.
//   An app that was never deployed has no health checks or target to borrow:
//   refused, kNotFound.
// - kill: the app's flag set with the flag at its off variant (flag_kill.h),
//   started at once on every target host. A kill is a recovery, like a
//   rollback: no policy gate holds it. A flag rollout of the app still in
//   progress is aborted first (event flag_superseded); the kill's own rollout
//   records flag_killed naming the flag and the operator.
// - show, history: the documents of flag_docs.h.
//
// Flag sets are small (at most kMaxFlagSetBytes), so they are read and written
// in the artifacts directory on the reactor thread, like a store commit.
// Owns no state beyond the context it is given. Reactor thread only.

#include <cstdint>
#include <optional>
#include <string>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/control_api.h"
#include "flotilla/coordinator/flag_plan.h"
#include "flotilla/flags/flag_set.h"
#include "flotilla/protocol/control_flags.h"

namespace flotilla::coordinator {

class FlagRollouts {
 public:
  // `flags history` reads at most this many flag sets (each one file).
  static constexpr std::int64_t kMaxFlagHistory = 1000;

  explicit FlagRollouts(ControlContext& ctx) : ctx_(ctx) {}

  // The rollout a push starts, once the policy gates admit it.
  Result<RolloutStart> push(const protocol::control::FlagsPushRequest& r, const std::string& actor);
  // Supersedes a flag rollout in progress and starts the kill; returns its id.
  Result<std::string> kill(const protocol::control::FlagsKillRequest& r, const std::string& actor);
  Result<protocol::control::FlagsShowReply> show(const protocol::control::FlagsShowRequest& r);
  Result<protocol::control::FlagsHistoryReply> history(const protocol::control::FlagsHistoryRequest& r);

 private:
  // The plan text of app's most recent rollout; kNotFound when it has none.
  Result<std::string> appPlan(const std::string& app);
  // The stored flag set of `digest`, as text, and parsed (nullopt when it is
  // not stored: a rollout that never got that far).
  Result<std::string> setText(const std::string& digest);
  Result<std::optional<flags::FlagSet>> parsedSet(const std::string& digest);
  struct Base {
    std::string version, digest;
  };
  // The set a kill starts from: the newest kill's when the newest rollout is
  // a kill not rolled back (it may still be rolling out: its flag stays off);
  // else the app's current flag set (the last that rolled out in full), or the
  // newest one pushed when that has the flag and the current one does not.
  Result<Base> killBase(const std::string& app, const std::string& flag);
  // Writes the set under its digest unless it is there already.
  Status storeSet(const FlagSetRelease& set);
  RolloutStart startOf(FlagPlan plan, const FlagSetRelease& set, const std::string& actor) const;

  ControlContext& ctx_;
};

}  // namespace flotilla::coordinator
