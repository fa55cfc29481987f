#pragma once
// Rebuilding an active rollout after a coordinator restart from what the store
// kept: its record (engine state, kind, plan text), its hosts and its release.
// Pure apart from the two loaders it is given (store reads); runs at start-up
// on the thread that starts the Server.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/active_rollout.h"
#include "flotilla/coordinator/order_book.h"

namespace flotilla::coordinator {

struct RestoreOutcome {
  std::unique_ptr<ActiveRollout> rollout;  // null when it cannot resume
  std::string why_not;                     // why not, for the record and the event
};

using ReleaseLoader =
    std::function<Result<std::optional<ReleaseRecord>>(const std::string& app, const std::string& version)>;
using HostsLoader = std::function<Result<std::vector<RolloutHostRecord>>(const std::string& rollout_id)>;

// An error only when a loader fails (start-up stops). A rollout that cannot
// resume (no engine state, a plan or hosts that do not parse, its release
// gone) comes back with `why_not`. Deadlines of a resumed rollout are pushed
// to at least steady_now + reconnect_grace: agents need time to reconnect and
// report what happened meanwhile. `sys_ms` is the wall clock at steady_now.
Result<RestoreOutcome> restoreRollout(const RolloutRecord& rec, const ReleaseLoader& release, const HostsLoader& hosts,
                                      common::SteadyTime steady_now, std::int64_t sys_ms,
                                      common::Millis reconnect_grace);

// The orders a resumed rollout had in hand (hosts deploying or rolling back),
// each with its order id; an empty id means it was dispatched in a chunk that
// never committed, so it never left and is to be issued anew.
std::vector<std::pair<OrderRef, std::string>> ordersInHand(const ActiveRollout& r);

}  // namespace flotilla::coordinator
