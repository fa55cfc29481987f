// ControlApi's policy side: the `policy` command (each gate now, or for a
// plan) and the events a rollout's gates leave (docs/policy.md).
#include "flotilla/common/duration.h"
#include "flotilla/coordinator/control_api.h"
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

void ControlApi::recordGates(ActiveRollout& r, const protocol::Plan& plan, const std::vector<GateDecision>& overridden,
                             const std::string& reason, const std::string& actor) {
  const auto now = common::fromUnixMillis(ctx_.nowMs());
  for (const auto& d : ctx_.policyGates().explain(plan, now)) {
    if (!d.applies) continue;
    ctx_.operatorActed(r, "policy_gate", d.gate + ": " + (d.open ? "open" : "closed, overridden") + " (" + d.why + ")",
                       actor);
  }
  if (overridden.empty()) return;
  r.broke_glass = true;
  std::string gates;
  for (const auto& d : overridden) gates += (gates.empty() ? "" : ", ") + d.gate;
  ctx_.operatorActed(r, "break_glass", "started past " + gates + ": " + reason, actor);
  ctx_.brokeGlass();
}

}  // namespace flotilla::coordinator
