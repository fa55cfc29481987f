#include "flotilla/coordinator/rollout_restore.h"

#include <nlohmann/json.hpp>

#include "flotilla/coordinator/host_record.h"

namespace flotilla::coordinator {

namespace {

RestoreOutcome cannotResume(std::string why) { return RestoreOutcome{nullptr, std::move(why)}; }

}  // namespace

Result<RestoreOutcome> restoreRollout(const RolloutRecord& rec, const ReleaseLoader& release, const HostsLoader& hosts,
                                      common::SteadyTime steady_now, std::int64_t sys_ms,
                                      common::Millis reconnect_grace) {
  auto saved = nlohmann::json::parse(rec.engine, nullptr, false);
  if (!saved.is_object() || !saved.contains("engine") || rec.plan_text.empty())
    return cannotResume("no stored engine state");
  auto plan = protocol::parsePlan(rec.plan_text, rec.plan_name, "");
  if (!plan) return cannotResume(plan.error().message);
  const auto stored_kind = saved.find("kind");
  const std::string kind =
      stored_kind != saved.end() && stored_kind->is_string() ? stored_kind->get<std::string>() : "rollout";
  if (kind == "rollback") {
    plan->waves = rollbackPolicy(plan->waves);
    plan->analysis.reset();  // a rollback is fast: no analysis
  }
  auto rel = release(plan->app, plan->version);
  if (!rel) return rel.error();
  if (!rel->has_value()) return cannotResume("release " + plan->app + " " + plan->version + " is not in the store");
  auto rows = hosts(rec.id);
  if (!rows) return rows.error();
  std::vector<HostSlot> slots;
  slots.reserve(rows->size());
  for (std::size_t i = 0; i < rows->size(); ++i) {
    auto slot = (*rows)[i].idx == i ? fromHostRecord(std::move((*rows)[i])) : std::nullopt;
    if (!slot) return cannotResume("its stored hosts are inconsistent");
    slots.push_back(std::move(*slot));
  }
  auto from_wall = [&](std::int64_t ms) { return steady_now + common::Millis(ms - sys_ms); };
  auto engine = Rollout::restore(engineConfig(rec.id, *plan), std::move(slots), saved["engine"], from_wall);
  if (!engine) return cannotResume(engine.error().message);
  (*engine)->extendDeadlines(steady_now + reconnect_grace);
  auto active = makeActiveRollout(rec, std::move(*plan), kind, **rel, std::move(*engine));
  if (auto bg = saved.find("broke_glass"); bg != saved.end() && bg->is_boolean()) active->broke_glass = bg->get<bool>();
  if (saved.contains("approval")) {
    auto approval = ApprovalState::fromJson(saved["approval"]);
    if (!approval) return cannotResume(approval.error().message);
    active->approval = std::move(*approval);
  }
  return RestoreOutcome{std::move(active), ""};
}

std::vector<std::pair<OrderRef, std::string>> ordersInHand(const ActiveRollout& r) {
  std::vector<std::pair<OrderRef, std::string>> out;
  for (const HostSlot& h : r.engine->hosts()) {
    const bool rolling_back = h.state == HostState::kRollingBack;
    if (h.state != HostState::kDeploying && !rolling_back) continue;
    OrderRef ref;
    ref.rollout_id = r.record.id;
    ref.agent_id = h.agent_id;
    ref.app = r.plan.app;
    ref.version = rolling_back ? h.previous_version : r.plan.version;
    ref.sequence = h.sequence;
    ref.rollback = rolling_back;
    out.emplace_back(std::move(ref), h.order_id);
  }
  return out;
}

}  // namespace flotilla::coordinator
