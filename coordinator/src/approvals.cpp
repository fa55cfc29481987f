#include "flotilla/coordinator/approvals.h"

#include <algorithm>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/alarm_policy.h"

namespace flotilla::coordinator {

bool ApprovalState::counts(const Approval& a, std::int64_t now_ms) const {
  return a.by != submitter && a.at_ms > now_ms - ttl.count() && a.at_ms <= now_ms;
}

std::size_t ApprovalState::valid(std::int64_t now_ms) const {
  return static_cast<std::size_t>(
      std::count_if(approvals.begin(), approvals.end(), [&](const Approval& a) { return counts(a, now_ms); }));
}

bool ApprovalState::add(const std::string& by, std::int64_t at_ms) {
  if (by.empty() || by == submitter) return false;
  for (auto& a : approvals)
    if (a.by == by) {
      a.at_ms = std::max(a.at_ms, at_ms);
      return true;
    }
  approvals.push_back(Approval{by, at_ms});
  return true;
}

std::vector<Approval> ApprovalState::expire(std::int64_t now_ms) {
  const std::int64_t oldest = now_ms - ttl.count();
  std::vector<Approval> gone;
  std::erase_if(approvals, [&](const Approval& a) {
    if (a.at_ms > oldest) return false;
    gone.push_back(a);
    return true;
  });
  return gone;
}

std::vector<Approval> ApprovalState::retainEligible(const ApprovalGate& gate) {
  std::vector<Approval> gone;
  std::erase_if(approvals, [&](const Approval& a) {
    if (gate.mayApprove(*this, a.by).ok()) return false;
    gone.push_back(a);
    return true;
  });
  return gone;
}

std::string ApprovalState::describe(std::int64_t now_ms) const {
  const std::size_t have = valid(now_ms);
  std::string s = std::to_string(have) + " of " + std::to_string(required) + " approvals";
  std::string by;
  for (const auto& a : approvals)
    if (counts(a, now_ms)) by += (by.empty() ? "" : ", ") + a.by;
  if (!by.empty()) s += " (by " + by + ")";
  if (have < required) s += "; needs " + std::to_string(required - have) + " more";
  return s;
}

nlohmann::json ApprovalState::toJson() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& a : approvals) list.push_back({{"by", a.by}, {"at_ms", a.at_ms}});
  return {{"submitter", submitter}, {"required", required}, {"ttl_ms", ttl.count()}, {"approvals", list}};
}

Result<ApprovalState> ApprovalState::fromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Error(Errc::kCorrupt, "approval state: expected an object");
  try {
    ApprovalState s;
    s.submitter = j.at("submitter").get<std::string>();
    s.required = j.at("required").get<std::size_t>();
    s.ttl = common::Millis(j.at("ttl_ms").get<std::int64_t>());
    for (const auto& a : j.at("approvals")) s.approvals.push_back({a.at("by").get<std::string>(), a.at("at_ms")});
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Error(Errc::kCorrupt, std::string("approval state: ") + e.what());
  }
}

Result<ApprovalGate> ApprovalGate::make(const ApprovalPolicy& policy, const std::vector<std::string>& operators) {
  ApprovalGate g;
  g.policy_ = policy;
  if (policy.required == 0) return g;
  g.eligible_ = policy.approvers.empty() ? operators : policy.approvers;
  std::sort(g.eligible_.begin(), g.eligible_.end());
  g.eligible_.erase(std::unique(g.eligible_.begin(), g.eligible_.end()), g.eligible_.end());
  if (policy.required > g.eligible_.size())
    return Error(Errc::kInvalidArgument,
                 "required = " + std::to_string(policy.required) + " approvals, but only " +
                     std::to_string(g.eligible_.size()) + " operator(s) could ever approve (" +
                     (policy.approvers.empty() ? "the keys of control.operators" : "policy.approvals.approvers") +
                     "); such a rule would hold every rollout forever. List more approvers, or lower required");
  return g;
}

bool ApprovalGate::covers(const protocol::Plan& plan) const {
  return enabled() && policyCovers(policy_.apps, policy_.labels, plan);
}

Result<ApprovalState> ApprovalGate::open(const std::string& submitter) const {
  const auto others = static_cast<std::size_t>(
      std::count_if(eligible_.begin(), eligible_.end(), [&](const std::string& e) { return e != submitter; }));
  if (others < policy_.required)
    return Error(Errc::kPolicyDenied, "policy approvals: this rollout needs " + std::to_string(policy_.required) +
                                          " approvals from operators other than its submitter (" + submitter +
                                          "), but only " + std::to_string(others) +
                                          " other operator(s) may approve; another operator must submit it");
  ApprovalState s;
  s.submitter = submitter;
  s.required = policy_.required;
  s.ttl = policy_.ttl;
  return s;
}

Status ApprovalGate::mayApprove(const ApprovalState& s, const std::string& who) const {
  if (who == s.submitter)
    return Error(Errc::kPolicyDenied, who + " submitted this rollout; approvals must come from other operators");
  // A rollout that waits under a rule since removed from the configuration:
  // any operator but the submitter may release it.
  if (!enabled()) return {};
  if (!std::binary_search(eligible_.begin(), eligible_.end(), who))
    return Error(Errc::kPolicyDenied, who + " may not approve rollouts (" +
                                          (policy_.approvers.empty() ? std::string("not a key of control.operators")
                                                                     : "not in policy.approvals.approvers") +
                                          ")");
  return {};
}

}  // namespace flotilla::coordinator
