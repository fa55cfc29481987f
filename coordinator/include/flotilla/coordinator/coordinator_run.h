#pragma once
// How `flotilla-coordinator run` runs (docs/ha.md): alone, or under the
// leadership lease.
//
// Without store.url (SQLite) the coordinator leads alone, in epoch 0: the
// Server starts and runs as it always did.
//
// With store.url every coordinator starts as a candidate: it tries to take the
// lease; while another holds it, it is a standby (standby_responder.h)
// answering not_leader and polling the lease each renew interval. Once it has
// the lease it starts exactly as a restarted coordinator does (the Server
// resumes every unfinished rollout from the store: orders in hand resent with
// the same id, deadlines extended) under a LeaseKeeper (lease_keeper.h) that
// renews the lease and fences the store. When it loses the lease it stops and
// calls `relaunch` (main.cpp executes itself again, same argv, as a standby,
// so nothing of the old epoch survives in memory), with the Server already
// gone; kLeadershipLost when `relaunch` returns (it could not).
//
// Runs on the calling (main) thread; SIGTERM and SIGINT stop it cleanly in
// either role.

#include <functional>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/config.h"

namespace flotilla::coordinator {

enum class RunEnd : std::uint8_t {
  kStopped,         // a signal or requestStop: exit
  kLeadershipLost,  // the lease was lost: start again as a standby (re-execute)
};

Result<RunEnd> runCoordinator(CoordinatorConfig config, const common::Clock& clock,
                              const std::function<void()>& relaunch);

}  // namespace flotilla::coordinator
