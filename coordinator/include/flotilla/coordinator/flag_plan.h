#pragma once
// The plans of flag rollouts (docs/flags.md "Flag rollouts"). A flag set of app
// `web` rolls out as a release of the app "flags:web" (protocol/flag_app.h):
// its plan is written here from web's own plan, the one its most recent
// rollout was submitted with, keeping what decides whether a host is healthy
// and which hosts run the app (its [health] and [target]) and nothing that
// belongs to a release of the code ([deploy] hooks and restart, [change],
// [analysis], signatures): a flag set needs no restart, and its orders carry
// an empty deploy spec.
//
// The plan text is TOML that parsePlan reads back (a restarted coordinator
// resumes a flag rollout from it like any other); its artifact is the flag
// set's JSON, stored under its digest, and its version is content-addressed:
// "f-" and the first 16 hex digits of the set's BLAKE2b-256 digest, so the same
// set pushed twice is the same version.
//
// Pure functions; any thread.

#include <cstddef>
#include <string>
#include <vector>

#include "flotilla/common/result.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

// The largest flag set the coordinator takes (it travels in one control frame).
inline constexpr std::size_t kMaxFlagSetBytes = std::size_t{1} << 20;

// A flag set checked for rollout: the exact bytes hosts receive, their digest
// and the version they make.
struct FlagSetRelease {
  std::string text;
  std::string digest;   // BLAKE2b-256, hex
  std::string version;  // flagSetVersion(digest)
};

// Parses the set (flags::FlagSet::parse) and digests it. Errors are
// kInvalidArgument naming `source` and the flag and key: "flags.json:
// flags.new-ui.defaultVariant: ...".
Result<FlagSetRelease> checkFlagSet(std::string text, const std::string& source);
std::string flagSetVersion(const std::string& digest);

// How a push goes out: cumulative wave sizes ("1", "25%") and the bake
// between waves ("" = none).
struct FlagWaves {
  std::vector<std::string> sizes;  // empty: a canary of 1 host, then 100%
  std::string bake;
};

struct FlagPlan {
  protocol::Plan plan;
  std::string plan_text;  // what parsePlan reads back into `plan`
  std::string plan_name;  // "flag push flags.json", "flag kill new-ui"
};

// Rollouts whose plan_name starts with this are kills.
inline constexpr const char* kFlagKillPlanPrefix = "flag kill ";
inline constexpr const char* kFlagPushPlanPrefix = "flag push ";

// A push of `set` for `app`, from app's plan text `app_plan`: its health
// checks and target, the waves asked for (wave policy otherwise as app's
// plan has it), failures rolled back.
Result<FlagPlan> flagPushPlan(const std::string& app, const std::string& app_plan, const FlagSetRelease& set,
                              const FlagWaves& waves, const std::string& source);
// A kill of `flag`: one wave of every target host at once (max_parallel =
// `hosts`), no bake, no health check (each host ends at the switch), no
// failure budget and never rolled back (a host that fails or cannot be reached
// keeps what it had; the others keep the kill), an unplanned change
// (docs/metrics.md).
Result<FlagPlan> flagKillPlan(const std::string& app, const std::string& app_plan, const FlagSetRelease& set,
                              std::size_t hosts, const std::string& flag);

}  // namespace flotilla::coordinator
