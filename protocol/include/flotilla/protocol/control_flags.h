#pragma once
// The control protocol's flag commands (docs/flags.md "Flag rollouts"): push a
// flag set, kill a flag, show the flag sets live on the fleet, and the flag
// rollouts of an app. A push or a kill is answered like `rollout`, with a
// RolloutReply (control.h); show and history have documents of their own,
// defined here once so every reader (console, dashboard) shares them.
// Requests read leniently and replies strictly, as control.h says.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/protocol/control.h"

namespace flotilla::protocol::control {

inline constexpr const char* kFlagsPush = "flags_push";
inline constexpr const char* kFlagsKill = "flags_kill";
inline constexpr const char* kFlagsShow = "flags_show";
inline constexpr const char* kFlagsHistory = "flags_history";

struct FlagsPushRequest {
  std::string app;
  std::string flags;               // the flag set's JSON text, exactly as it is to reach the hosts
  std::string source;              // the file it came from, for messages ("" = "flags.json")
  std::vector<std::string> waves;  // cumulative sizes ("1", "25%"); empty = a canary of 1 host, then 100%
  std::string bake;                // between waves ("" = none), e.g. "5m"
  std::string break_glass;         // as for `rollout`
};

struct FlagsKillRequest {
  std::string app, flag;
  std::string variant;  // the off variant, when the flag has none the coordinator can tell
};

struct FlagsShowRequest {
  std::string app;
  std::string host;  // "" = the fleet
};

struct FlagsHistoryRequest {
  std::string app;
  std::int64_t limit = 50;
};

// One flag of a flag set, as people look at it.
struct FlagDoc {
  std::string key, state;                      // state: ENABLED | DISABLED
  std::optional<std::string> default_variant;  // null: the caller's own default
  std::vector<std::string> variants;
  bool targeted = false;  // has a targeting rule
  bool killed = false;    // went to its off variant by `flags kill`
  bool operator==(const FlagDoc&) const = default;
};

struct FlagVersionDoc {
  std::string version;  // "" = hosts that reported no flag set
  std::uint64_t hosts = 0;
  bool operator==(const FlagVersionDoc&) const = default;
};

struct FlagHostDoc {
  std::string host;
  std::string version;  // "" = no flag set reported
  bool operator==(const FlagHostDoc&) const = default;
};

// `flags show`: which flag set each host runs and the flags of one set: the
// newest (or, with a host, that host's).
struct FlagsShowReply {
  std::string app;
  std::string version;                   // the set whose flags are listed ("" = none yet)
  std::vector<FlagVersionDoc> versions;  // how many hosts run each version, by version
  std::vector<FlagHostDoc> hosts;
  std::vector<FlagDoc> flags;
  bool operator==(const FlagsShowReply&) const = default;
};

// One flag rollout (a push or a kill) and what it changed against the set
// before it.
struct FlagHistoryEntry {
  std::string id, kind, version, state, submitted_by;  // kind: push | kill
  std::optional<std::string> submitted_at, finished_at;
  std::string message;
  std::vector<std::string> added, removed, changed;  // flag keys
  bool operator==(const FlagHistoryEntry&) const = default;
};

struct FlagsHistoryReply {
  std::string app;
  std::vector<FlagHistoryEntry> rollouts;  // newest first
  bool operator==(const FlagsHistoryReply&) const = default;
};

void to_json(json& j, const FlagsPushRequest& r);
void from_json(const json& j, FlagsPushRequest& r);
void to_json(json& j, const FlagsKillRequest& r);
void from_json(const json& j, FlagsKillRequest& r);
void to_json(json& j, const FlagsShowRequest& r);
void from_json(const json& j, FlagsShowRequest& r);
void to_json(json& j, const FlagsHistoryRequest& r);
void from_json(const json& j, FlagsHistoryRequest& r);
void to_json(json& j, const FlagDoc& r);
void from_json(const json& j, FlagDoc& r);
void to_json(json& j, const FlagVersionDoc& r);
void from_json(const json& j, FlagVersionDoc& r);
void to_json(json& j, const FlagHostDoc& r);
void from_json(const json& j, FlagHostDoc& r);
void to_json(json& j, const FlagsShowReply& r);
void from_json(const json& j, FlagsShowReply& r);
void to_json(json& j, const FlagHistoryEntry& r);
void from_json(const json& j, FlagHistoryEntry& r);
void to_json(json& j, const FlagsHistoryReply& r);
void from_json(const json& j, FlagsHistoryReply& r);

}  // namespace flotilla::protocol::control
