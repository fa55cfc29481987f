#pragma once
// The documents of the flag commands (protocol/control_flags.h) made from
// flag sets and the coordinator's records, defined once for every reader
// (`flotilla flags show/history`, the dashboard). Pure.

#include <string>
#include <utility>
#include <vector>

#include "flotilla/coordinator/store.h"
#include "flotilla/flags/flag_set.h"
#include "flotilla/protocol/control_flags.h"

namespace flotilla::coordinator {

// The flags of a set, by key.
std::vector<protocol::control::FlagDoc> flagDocs(const flags::FlagSet& set);

// Hosts (id, the flag-set version each reports; "" = none) as a `flags show`
// document listing `set`'s flags (none when null) as version `version`.
protocol::control::FlagsShowReply flagsShowDoc(const std::string& app, const std::string& version,
                                               const std::vector<std::pair<std::string, std::string>>& hosts,
                                               const flags::FlagSet* set);

// Flag keys added, removed and changed from `before` to `after` (either may be null: no set).
struct FlagChanges {
  std::vector<std::string> added, removed, changed;
};
FlagChanges flagChanges(const flags::FlagSet* before, const flags::FlagSet* after);

// One flag rollout of the history; `changes` against the set before it.
protocol::control::FlagHistoryEntry flagHistoryEntry(const RolloutRecord& r, FlagChanges changes);

}  // namespace flotilla::coordinator
