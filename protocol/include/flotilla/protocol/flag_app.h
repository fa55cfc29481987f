#pragma once
// Flag rollouts ride the release machinery under an app name of their own.
//
// The flag sets of app `web` are rolled out as the releases of the app
// "flags:web": its versions are flag-set versions, its artifact is the flag
// set's JSON (flagd's flag-definition document), its orders are signed and
// sequenced like any order (the sequence counter of "flags:web" is its own),
// and the agent reports the live flag set in its heartbeat's releases map
// under "flags:web". So waves, bake, health checks, self-revert, fleet
// rollback, history and the event log need nothing new. The colon cannot
// appear in an app name (validAppName), so no real app collides with it.
//
// Pure functions; used by the coordinator, the agent and the console.

#include <optional>
#include <string>
#include <string_view>

namespace flotilla::protocol {

inline constexpr std::string_view kFlagAppPrefix = "flags:";

// The version of a flag app on a host before its first flag set. A rollback
// to it removes <apps_dir>/<app>/flags.json, so a first flag set that fails
// its wave is rolled back like any other. Flag-set versions are "f-" and a
// digest, so no pushed set is ever called this.
inline constexpr std::string_view kNoFlagSet = "none";

// "web" -> "flags:web".
std::string flagAppOf(std::string_view app);
// "flags:web" -> "web"; nullopt for anything else (a release app, or a
// "flags:" name whose rest is not a valid app name).
std::optional<std::string> flaggedApp(std::string_view order_app);
// An app an order, a rollout or a heartbeat may name: a valid app name, or the
// flag app of one.
bool validOrderApp(std::string_view app);

}  // namespace flotilla::protocol
