// ControlApi's policy side: the `policy` command (each gate now, or for a
// plan), `approve`, and the events a rollout's gates leave (docs/policy.md).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/control_api.h"
#include "flotilla/coordinator/control_docs.h"
#include "flotilla/protocol/control.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

using nlohmann::json;
namespace control = protocol::control;

namespace {

control::GateDoc gateDoc(const GateDecision& d) {
  control::GateDoc g;
  g.gate = d.gate;
  g.open = d.open;
  g.applies = d.applies;
  g.why = d.why;
  if (d.changes_at) g.changes_at = common::formatRfc3339(*d.changes_at);
  return g;
}

}  // namespace

json ControlApi::policy(const Call& c) {
  const auto r = c.req.get<control::PolicyRequest>();
  const auto now = common::fromUnixMillis(ctx_.nowMs());
  control::PolicyReply reply;
  reply.now = common::formatRfc3339(now);
  if (r.plan.empty()) {
    for (const auto& d : ctx_.policyGates().status(now)) reply.gates.push_back(gateDoc(d));
    return reply;
  }
  auto plan = protocol::parsePlan(r.plan, r.plan_name.empty() ? "plan.toml" : r.plan_name, "");
  if (!plan) return control::ErrorReply{errcName(plan.error().code), plan.error().message};
  for (const auto& d : ctx_.policyGates().explain(*plan, now)) reply.gates.push_back(gateDoc(d));
  return reply;
}

json ControlApi::approve(const Call& c) {
  const auto r = c.req.get<control::ApproveRequest>();
  ActiveRollout* active = ctx_.findRollout(r.rollout);
  if (!active) {
    auto rec = ctx_.store().rollout(r.rollout);
    if (rec.ok() && rec->has_value())
      return control::ErrorReply{errcName(Errc::kConflict),
                                 "rollout '" + r.rollout + "' is " + (*rec)->state + "; there is nothing to approve"};
    return control::ErrorReply{errcName(Errc::kNotFound), "no rollout '" + r.rollout + "'"};
  }
  if (!active->approval || active->engine->state() != RolloutState::kAwaitingApproval)
    return control::ErrorReply{errcName(Errc::kConflict), "rollout '" + r.rollout + "' is " +
                                                              toString(active->engine->state()) +
                                                              "; only a rollout awaiting approval can be approved"};
  ApprovalState& state = *active->approval;
  if (auto st = ctx_.policyGates().approvals().mayApprove(state, c.identity); !st.ok()) {
    spdlog::warn("[{}] approval by {} refused: {}", r.rollout, c.actor, st.error().message);
    // Recorded too: a refused self-approval is worth seeing in the rollout's events.
    ctx_.operatorActed(*active, "approval_refused", st.error().message, c.actor);
    return control::ErrorReply{errcName(st.error().code), st.error().message};
  }
  const std::int64_t now_ms = ctx_.nowMs();
  state.add(c.identity, now_ms);
  ctx_.operatorActed(*active, "approved", "approved by " + c.identity + ": " + state.describe(now_ms), c.actor);
  if (state.satisfied(now_ms)) {
    // A freeze closed now holds even an approved rollout that has not started
    // (whatever its in_flight): the sweep starts it when the freeze ends.
    const std::string closed = ctx_.policyGates().closedFreeze(active->plan, common::fromUnixMillis(now_ms));
    if (closed.empty()) active->engine->start(ctx_.steadyNow());
    ctx_.operatorActed(
        *active, "approvals_satisfied",
        state.describe(now_ms) + (closed.empty() ? "; the rollout starts" : "; it starts when " + closed + " ends"),
        c.actor);
  }
  return control::RolloutReply{statusDoc(*active, false, ctx_.steadyNow())};
}

void ControlApi::recordGates(ActiveRollout& r, const protocol::Plan& plan, const std::vector<GateDecision>& overridden,
                             const std::string& reason, const std::string& actor) {
  const auto now = common::fromUnixMillis(ctx_.nowMs());
  for (const auto& d : ctx_.policyGates().explain(plan, now)) {
    if (!d.applies) continue;
    const bool waived =
        std::any_of(overridden.begin(), overridden.end(), [&](const GateDecision& o) { return o.gate == d.gate; });
    const char* decision = waived ? (d.open ? "waived by break-glass" : "closed, overridden")
                                  : (d.gate == "approvals" ? "the rollout waits for approvals" : "open");
    ctx_.operatorActed(r, "policy_gate", d.gate + ": " + decision + " (" + d.why + ")", actor);
  }
  if (overridden.empty()) return;
  r.broke_glass = true;
  std::string gates;
  for (const auto& d : overridden) gates += (gates.empty() ? "" : ", ") + d.gate;
  ctx_.operatorActed(r, "break_glass", "started past " + gates + ": " + reason, actor);
  ctx_.brokeGlass();
}

}  // namespace flotilla::coordinator
