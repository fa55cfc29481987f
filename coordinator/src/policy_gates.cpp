#include "flotilla/coordinator/policy_gates.h"

#include <algorithm>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/operator_identity.h"

namespace flotilla::coordinator {

Result<PolicyGates> PolicyGates::make(const PolicyConfig& config, const std::vector<std::string>& operators) {
  PolicyGates g;
  for (const auto& f : config.freezes) {
    auto w = makeFreezeWindow(f.name, f.start, f.end, f.timezone);
    if (!w) return w.error().context("policy.freeze \"" + f.name + "\"");
    g.freezes_.push_back(Freeze{f, std::move(*w)});
  }
  for (const auto& written : config.break_glass) {
    auto id = parseIdentity(written);
    if (!id) return id.error().context("policy.break_glass.operators");
    g.break_glass_.push_back(*id);
  }
  ApprovalPolicy approvals = config.approvals;
  for (auto& written : approvals.approvers) {
    auto id = parseIdentity(written);
    if (!id) return id.error().context("policy.approvals.approvers");
    written = *id;
  }
  auto gate = ApprovalGate::make(approvals, operators);
  if (!gate) return gate.error().context("policy.approvals");
  g.approvals_ = std::move(*gate);
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

GateDecision PolicyGates::approvalsDecision() const {
  const auto& p = approvals_.policy();
  GateDecision d;
  d.gate = "approvals";
  std::string who;
  for (const auto& e : approvals_.eligible()) who += (who.empty() ? "" : ", ") + e;
  d.why = "a rollout waits for " + std::to_string(p.required) + " approval(s) by operators other than its " +
          "submitter, each valid for " + common::formatDuration(p.ttl) + " (approvers: " + who + ")";
  return d;
}

std::vector<GateDecision> PolicyGates::status(common::SysTime now) const {
  std::vector<GateDecision> out;
  for (const auto& f : freezes_) out.push_back(decide(f, now));
  if (approvals_.enabled()) out.push_back(approvalsDecision());
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
  if (approvals_.enabled()) {
    GateDecision d = approvalsDecision();
    d.applies = approvals_.covers(plan);
    if (!d.applies) d.why = "does not cover " + plan.app + " (apps or labels do not match)";
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

std::string PolicyGates::closedFreeze(const protocol::Plan& plan, common::SysTime now) const {
  for (const auto& f : freezes_)
    if (covers(f.policy, plan) && f.window.activeAt(now)) return "freeze " + f.policy.name;
  return "";
}

Status PolicyGates::breakGlassAllowed(const std::string& who) const {
  if (!who.empty() && std::find(break_glass_.begin(), break_glass_.end(), who) != break_glass_.end()) return {};
  return Error(Errc::kPolicyDenied,
               "break-glass refused: " + (who.empty() ? std::string("an unidentified operator") : who) +
                   " is not in policy.break_glass");
}

Result<PolicyAdmission> PolicyGates::admit(const protocol::Plan& plan, common::SysTime now,
                                           const std::string& submitter, const std::string& break_glass) const {
  PolicyAdmission a;
  std::vector<GateDecision> closed;
  for (auto& d : explain(plan, now))
    if (!d.open) closed.push_back(std::move(d));
  if (!closed.empty()) {
    if (break_glass.empty())
      return Error(Errc::kPolicyDenied, "policy " + closed.front().gate + ": " + closed.front().why +
                                            "; an operator listed in policy.break_glass may override it with "
                                            "`flotilla rollout PLAN --break-glass \"REASON\"`");
    if (auto st = breakGlassAllowed(submitter); !st.ok())
      return Error(Errc::kPolicyDenied,
                   "policy " + closed.front().gate + ": " + closed.front().why + "; " + st.error().message);
    a.overridden = std::move(closed);
  }
  if (!approvals_.covers(plan)) return a;
  if (!break_glass.empty()) {
    // Break-glass stands in for the approvals too: recorded, never silent.
    if (auto st = breakGlassAllowed(submitter); !st.ok())
      return Error(Errc::kPolicyDenied, "policy approvals: " + st.error().message);
    a.overridden.push_back(approvalsDecision());
    return a;
  }
  auto opened = approvals_.open(submitter);
  if (!opened) return opened.error();
  a.approval = std::move(*opened);
  return a;
}

}  // namespace flotilla::coordinator
