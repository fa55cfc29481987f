#pragma once
// ActiveRollout: a rollout the coordinator is running: its engine (Rollout),
// its plan, its store record and the release its orders carry. Built in one
// place, makeActiveRollout(), whether submitted now or resumed after a restart,
// so both follow the same rule.
//
// Owned by RolloutDriver (one per active rollout, by id); reactor thread only.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "flotilla/coordinator/approvals.h"
#include "flotilla/coordinator/rollout.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

struct ActiveRollout {
  std::unique_ptr<Rollout> engine;
  protocol::Plan plan;
  RolloutRecord record;
  std::shared_ptr<const std::string> spec;  // msgpack OrderSpec for this release
  std::string artifact_digest;
  std::uint64_t artifact_size = 0;
  std::string release_signature;
  std::string kind;          // "rollout" | "rollback" (a rollback plan has its waves overridden)
  std::string plan_text;     // as submitted, to rebuild the plan after a restart
  bool store_stale = false;  // the snapshot in the store is stale: RolloutDriver writes it
  bool watch_tick = false;   // watchers want a fresh status (gates count down): RolloutDriver pushes it
  bool broke_glass = false;  // started past closed policy gates: freezes do not hold it
  // The approvals it waits for, or waited for (policy.approvals); none when it needed none.
  std::optional<ApprovalState> approval;
};

// The engine's configuration for rollout `id` of `plan`: the plan's waves, and
// a rollback deadline of the plan's wave deadline but at least two minutes.
Rollout::Config engineConfig(const std::string& id, const protocol::Plan& plan);

// The store record of a rollout submitted at `now_ms` (its state and snapshot
// are filled in once its engine exists; its artifact digest by the caller).
RolloutRecord newRolloutRecord(const std::string& id, const protocol::Plan& plan, const std::string& plan_name,
                               const std::string& plan_text, const std::string& actor, const std::string& kind,
                               std::int64_t now_ms);

// `record.plan_text` is the plan as submitted; `release` is the release the
// rollout deploys (its spec, artifact and signature go into every order).
std::unique_ptr<ActiveRollout> makeActiveRollout(RolloutRecord record, protocol::Plan plan, std::string kind,
                                                 const ReleaseRecord& release, std::unique_ptr<Rollout> engine);

}  // namespace flotilla::coordinator
