// What ControlApi asks of the daemon (ControlContext): starting a rollout and
// telling one an operator acted. The commands themselves are in control_api.cpp.
#include <spdlog/spdlog.h>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/control_docs.h"
#include "flotilla/coordinator/server.h"

namespace flotilla::coordinator {

std::int64_t Server::nowMs() const { return common::toUnixMillis(clock_.systemNow()); }

ActiveRollout* Server::findRollout(const std::string& id) {
  auto it = rollouts_.find(id);
  return it == rollouts_.end() ? nullptr : it->second.get();
}

std::vector<const ActiveRollout*> Server::activeRollouts() const {
  std::vector<const ActiveRollout*> out;
  out.reserve(rollouts_.size());
  for (const auto& [id, r] : rollouts_) out.push_back(r.get());
  return out;
}

std::string Server::activeRolloutOf(const std::string& app) const {
  auto it = active_by_app_.find(app);
  return it == active_by_app_.end() ? std::string() : it->second;
}

nlohmann::json Server::statusJson(const ActiveRollout& r) const { return statusDoc(r, false, clock_.steadyNow()); }

void Server::operatorActed(ActiveRollout& r, const std::string& kind, const std::string& message,
                           const std::string& actor) {
  recordEvent(r, kind, "", -1, message, actor);
  applyActions(r, clock_.steadyNow());
  persistRollout(r);
}

Result<std::string> Server::startRollout(RolloutStart start) {
  protocol::Plan& plan = start.plan;
  const std::string& kind = start.kind;
  if (!store_error_.empty())
    return Error(Errc::kUnavailable, "the coordinator's store is failing (" + store_error_ +
                                         "); no new rollout starts until it is writable again");
  if (active_by_app_.count(plan.app))
    return Error(Errc::kConflict, "rollout " + active_by_app_.at(plan.app) + " of app '" + plan.app +
                                      "' is still active; one active rollout per app (abort or wait for it)");
  std::vector<std::string> targets;
  std::map<std::string, std::string> previous;
  for (const Agent* a : agents_.accepted(plan.target_labels)) {
    targets.push_back(a->record.id);
    if (auto r = a->record.releases.find(plan.app); r != a->record.releases.end()) previous[a->record.id] = r->second;
  }
  if (targets.empty()) {
    std::string labels;
    for (const auto& [k, v] : plan.target_labels) labels += (labels.empty() ? "" : ", ") + k + "=" + v;
    return Error(Errc::kInvalidArgument,
                 start.plan_name + ": target.labels: no accepted agent matches {" + labels + "}");
  }
  auto count = store_->countRollouts(plan.app);
  if (!count) return count.error();
  const std::string id = plan.app + "-" + std::to_string(*count + 1);

  protocol::OrderSpec spec{plan.deploy, plan.health};
  auto spec_bytes = protocol::encodeSpec(spec);
  ReleaseRecord rel{plan.app,        plan.version,           start.digest, start.size, std::move(spec_bytes),
                    start.plan_text, start.release_signature};
  FLOTILLA_TRY(store_->putRelease(rel));

  RolloutRecord record = newRolloutRecord(id, plan, start.plan_name, start.plan_text, start.actor, kind, nowMs());
  record.artifact_digest = start.digest;
  auto engine = std::make_unique<Rollout>(engineConfig(id, plan), orderHosts(id, targets), previous);
  auto ar = makeActiveRollout(std::move(record), std::move(plan), kind, rel, std::move(engine));
  ar->record.state = toString(ar->engine->state());
  ar->record.snapshot = statusJson(*ar).dump();
  FLOTILLA_TRY(store_->insertRollout(ar->record));
  auto& r = *ar;
  rollouts_.emplace(id, std::move(ar));
  active_by_app_[r.plan.app] = id;
  recordEvent(r, "submitted", "", -1,
              kind + " of " + r.plan.app + " " + r.plan.version + " to " + std::to_string(targets.size()) +
                  " hosts from " + start.plan_name,
              start.actor);
  persistRollout(r);
  // The rollout is durable before any order leaves: if the store cannot take
  // it, nothing has happened and the operator is told why.
  if (auto st = store_->commit(); !st.ok() || write_failed_) {
    active_by_app_.erase(r.plan.app);
    rollouts_.erase(id);
    Error e = st.ok() ? Error(Errc::kIo, store_error_) : st.error();
    storeFailed(e);
    (void)store_->begin();
    return Error(Errc::kUnavailable, "the coordinator's store is failing (" + e.message + "); rollout not started");
  }
  if (auto st = store_->begin(); !st.ok()) storeFailed(st.error());
  r.engine->start(clock_.steadyNow());
  applyActions(r, clock_.steadyNow());
  persistRollout(r);
  return id;
}

}  // namespace flotilla::coordinator
