#include "flotilla/coordinator/policy_gates.h"

#include <algorithm>

namespace flotilla::coordinator {

Result<PolicyGates> PolicyGates::make(const PolicyConfig& config) {
  PolicyGates g;
  for (const auto& f : config.freezes) {
    auto w = makeFreezeWindow(f.name, f.start, f.end, f.timezone);
    if (!w) return w.error().context("policy.freeze \"" + f.name + "\"");
    g.freezes_.push_back(Freeze{f, std::move(*w)});
  }
  g.break_glass_ = config.break_glass;
  return g;
}

bool PolicyGates::covers(const FreezePolicy& f, const protocol::Plan& plan) {
  return policyCovers(f.apps, f.labels, plan);
}

GateDecision PolicyGates::decide(const Freeze& f, common::SysTime now) const {
  GateDecision d;
  d.gate = "freeze " + f.policy.name;
  d.open = !f.window.activeAt(now);
  d.changes_at = f.window.nextChange(now);
  const std::string when = d.changes_at ? f.window.formatTime(*d.changes_at) : std::string("never");
  d.why = d.open ? "open; the freeze starts " + when : "frozen until " + when;
  return d;
}

std::vector<GateDecision> PolicyGates::status(common::SysTime now) const {
  std::vector<GateDecision> out;
  for (const auto& f : freezes_) out.push_back(decide(f, now));
  return out;
}

std::vector<GateDecision> PolicyGates::explain(const protocol::Plan& plan, common::SysTime now) const {
  std::vector<GateDecision> out;
  for (const auto& f : freezes_) {
    GateDecision d = decide(f, now);
    d.applies = covers(f.policy, plan);
    if (!d.applies) {
      d.open = true;
      d.why = "does not cover " + plan.app + " (apps or labels do not match)";
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::string PolicyGates::holdReason(const protocol::Plan& plan, common::SysTime now) const {
  for (const auto& f : freezes_)
    if (!f.policy.finish_in_flight && covers(f.policy, plan) && f.window.activeAt(now))
      return "freeze " + f.policy.name;
  return "";
}

Result<std::vector<GateDecision>> PolicyGates::admit(const protocol::Plan& plan, common::SysTime now,
                                                     const std::string& operator_key_id,
                                                     const std::string& break_glass) const {
  std::vector<GateDecision> closed;
  for (auto& d : explain(plan, now))
    if (!d.open) closed.push_back(std::move(d));
  if (closed.empty()) return closed;
  if (break_glass.empty())
    return Error(Errc::kPolicyDenied, "policy " + closed.front().gate + ": " + closed.front().why +
                                          "; an operator listed in policy.break_glass may override it with "
                                          "`flotilla rollout PLAN --break-glass \"REASON\"`");
  const bool listed = !operator_key_id.empty() &&
                      std::find(break_glass_.begin(), break_glass_.end(), operator_key_id) != break_glass_.end();
  if (!listed)
    return Error(Errc::kPolicyDenied,
                 "policy " + closed.front().gate + ": " + closed.front().why + "; break-glass refused: " +
                     (operator_key_id.empty() ? std::string("only an operator key (tcp:// control) can break glass")
                                              : "operator " + operator_key_id + " is not in policy.break_glass"));
  return closed;
}

}  // namespace flotilla::coordinator
