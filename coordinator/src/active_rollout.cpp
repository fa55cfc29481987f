#include "flotilla/coordinator/active_rollout.h"

#include <algorithm>

#include "flotilla/common/duration.h"

namespace flotilla::coordinator {

Rollout::Config engineConfig(const std::string& id, const protocol::Plan& plan) {
  std::optional<common::Millis> analysis_window;
  if (plan.analysis) analysis_window = plan.analysis->window();
  return Rollout::Config{id,
                         plan.app,
                         plan.version,
                         plan.waves,
                         std::max(plan.waves.deadline, common::Millis(std::chrono::minutes(2))),
                         analysis_window};
}

RolloutRecord newRolloutRecord(const std::string& id, const protocol::Plan& plan, const std::string& plan_name,
                               const std::string& plan_text, const std::string& actor, const std::string& kind,
                               std::int64_t now_ms) {
  RolloutRecord record;
  record.id = id;
  record.app = plan.app;
  record.version = plan.version;
  record.plan_name = plan_name;
  record.submitted_by = actor;
  record.submitted_at_ms = now_ms;
  record.started_at_ms = now_ms;
  record.message = kind;
  record.plan_text = plan_text;
  record.unplanned = kind == "rollback" || (plan.change && plan.change->unplanned);
  if (plan.change) {
    record.commit = plan.change->commit;
    if (plan.change->committed_at) record.committed_at_ms = common::toUnixMillis(*plan.change->committed_at);
  }
  return record;
}

std::unique_ptr<ActiveRollout> makeActiveRollout(RolloutRecord record, protocol::Plan plan, std::string kind,
                                                 const ReleaseRecord& release, std::unique_ptr<Rollout> engine) {
  auto r = std::make_unique<ActiveRollout>();
  r->engine = std::move(engine);
  r->plan = std::move(plan);
  r->plan_text = record.plan_text;
  r->record = std::move(record);
  r->spec = std::make_shared<const std::string>(release.spec);
  r->artifact_digest = release.artifact_digest;
  r->artifact_size = release.artifact_size;
  r->release_signature = release.release_signature;
  r->kind = std::move(kind);
  return r;
}

}  // namespace flotilla::coordinator
