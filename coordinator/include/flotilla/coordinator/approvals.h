#pragma once
// Approvals, the two-person rule ([policy.approvals] of coordinator.toml,
// docs/policy.md): a rollout the gate covers waits in `awaiting_approval`
// until `required` distinct operators other than its submitter have approved
// it (`flotilla approve ROLLOUT`); an approval older than `ttl` no longer
// counts. Operators are identities the control socket authenticated
// (operator_identity.h), never names a console claims.
//
// ApprovalGate is the configured gate (immutable after make(); any thread);
// ApprovalState is one rollout's approvals, kept with the rollout and
// persisted in its engine state so a restart keeps them (reactor thread, as
// its rollout). Pure: callers pass the time.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

// [policy.approvals] of coordinator.toml.
struct ApprovalPolicy {
  std::size_t required = 0;                   // 0 = no approvals gate
  std::vector<std::string> apps;              // empty = every app
  std::map<std::string, std::string> labels;  // rollouts whose target includes these; empty = any
  common::Millis ttl = std::chrono::hours(24);
  // Who may approve (canonical identities). Empty: every operator key of
  // control.operators; local users approve only when listed as user:NAME.
  std::vector<std::string> approvers;
};

struct Approval {
  std::string by;  // identity
  std::int64_t at_ms = 0;
};

class ApprovalGate;

// One rollout's approvals.
struct ApprovalState {
  std::string submitter;  // identity of who started the rollout (never counted)
  std::size_t required = 0;
  common::Millis ttl{};
  std::vector<Approval> approvals;  // one per identity, the latest; submitter never in it

  // Approvals younger than ttl at `now_ms`.
  std::size_t valid(std::int64_t now_ms) const;
  bool satisfied(std::int64_t now_ms) const { return valid(now_ms) >= required; }
  // Records `by`'s approval at `at_ms` (again: the newer time counts). The
  // submitter's own approval is ignored: false.
  bool add(const std::string& by, std::int64_t at_ms);
  // Removes and returns approvals that expired by `now_ms`.
  std::vector<Approval> expire(std::int64_t now_ms);
  // Removes and returns approvals by identities `gate` no longer lets approve
  // (an operator key taken out of control.operators, say).
  std::vector<Approval> retainEligible(const ApprovalGate& gate);
  // "1 of 2 approvals (by operator:ab12...; needs 1 more)"
  std::string describe(std::int64_t now_ms) const;

  nlohmann::json toJson() const;
  static Result<ApprovalState> fromJson(const nlohmann::json& j);

 private:
  // `a` counts at `now_ms`: not the submitter's, younger than ttl, not from the future.
  bool counts(const Approval& a, std::int64_t now_ms) const;
};

class ApprovalGate {
 public:
  // `operators`: identities of control.operators (who may approve when the
  // policy lists no approvers). Refused when `required` exceeds the operators
  // who could ever approve: a rule nobody can satisfy is a configuration error.
  static Result<ApprovalGate> make(const ApprovalPolicy& policy, const std::vector<std::string>& operators);
  ApprovalGate() = default;

  bool enabled() const { return policy_.required > 0; }
  bool covers(const protocol::Plan& plan) const;
  const ApprovalPolicy& policy() const { return policy_; }
  // Who could ever approve (sorted).
  const std::vector<std::string>& eligible() const { return eligible_; }

  // The approvals a rollout of `submitter` starts with (none), or kPolicyDenied
  // when fewer than `required` operators other than the submitter could approve.
  Result<ApprovalState> open(const std::string& submitter) const;
  // May `who` approve a rollout in state `s`? kPolicyDenied says why not
  // (the submitter, or not an approver).
  Status mayApprove(const ApprovalState& s, const std::string& who) const;

 private:
  ApprovalPolicy policy_;
  std::vector<std::string> eligible_;
};

}  // namespace flotilla::coordinator
