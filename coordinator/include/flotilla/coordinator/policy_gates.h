#pragma once
// PolicyGates: the coordinator's policy gates (docs/policy.md) that decide
// whether a rollout may start now: freeze windows, evaluated in each
// window's own time zone; approvals (approvals.h), which make a rollout wait
// for other operators; and break-glass, which lets listed operators start a
// rollout a freeze would refuse or approvals would hold, with a reason that
// is recorded. Rollbacks and aborts are never gated.
//
// Pure: the caller passes `now`. Built once from the configuration (a bad
// window is a configuration error naming it). Reactor thread only.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/alarm_policy.h"
#include "flotilla/coordinator/approvals.h"
#include "flotilla/coordinator/freeze_window.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

// [[policy.freeze]] of coordinator.toml.
struct FreezePolicy {
  std::string name;
  std::string start, end;  // 5-field cron, or RFC 3339 for a one-off window
  std::string timezone = "UTC";
  std::vector<std::string> apps;              // empty = every app
  std::map<std::string, std::string> labels;  // rollouts whose target includes these; empty = any
  bool finish_in_flight = false;              // in_flight = "finish" (default "pause")
};

// [policy] of coordinator.toml (the parts PolicyGates decides).
struct PolicyConfig {
  std::vector<FreezePolicy> freezes;
  std::vector<std::string> break_glass;  // identities (operator_identity.h): key ids or user:NAME
  std::vector<AlarmPolicy> alarms;       // [[policy.alarm]], polled by AlarmWatch (not a start gate)
  ApprovalPolicy approvals;              // [policy.approvals]; required = 0: none
};

// One gate's decision, for people and events.
struct GateDecision {
  std::string gate;     // "freeze weekend"
  bool open = true;     // true: it lets rollouts through now
  bool applies = true;  // false: the gate does not cover this plan (explain only)
  std::string why;      // "closed until Mon 2026-12-07 08:00 CET (07:00 UTC)"
  std::optional<common::SysTime> changes_at;
};

// What admit() lets through: the closed gates break-glass overrode (to be
// recorded), and the approvals the rollout must wait for (none: it starts).
struct PolicyAdmission {
  std::vector<GateDecision> overridden;
  std::optional<ApprovalState> approval;
};

class PolicyGates {
 public:
  // `operators`: identities of control.operators (who may approve by default).
  static Result<PolicyGates> make(const PolicyConfig& config, const std::vector<std::string>& operators = {});
  PolicyGates() = default;

  // Every gate, open or closed now, with when that changes.
  std::vector<GateDecision> status(common::SysTime now) const;
  // Every gate's decision for this plan now.
  std::vector<GateDecision> explain(const protocol::Plan& plan, common::SysTime now) const;

  // May `plan`, submitted by `submitter` (an identity), start now? A closed
  // gate refuses with kPolicyDenied naming it and when it reopens, as does an
  // approvals rule the submitter's colleagues cannot satisfy, unless
  // `break_glass` (the operator's reason) is given by an operator listed in
  // policy.break_glass: then the overridden gates are returned, to be
  // recorded. A plan the approvals gate covers otherwise waits for approvals.
  Result<PolicyAdmission> admit(const protocol::Plan& plan, common::SysTime now, const std::string& submitter,
                                const std::string& break_glass) const;
  const ApprovalGate& approvals() const { return approvals_; }

  // What holds a running rollout of `plan` at its next wave boundary now: the
  // first active freeze covering it with in_flight = "pause" ("" = nothing).
  std::string holdReason(const protocol::Plan& plan, common::SysTime now) const;

  // The first freeze covering `plan` that is active now, whatever its
  // in_flight ("" = none): an approved rollout that has not started waits for it.
  std::string closedFreeze(const protocol::Plan& plan, common::SysTime now) const;

  bool empty() const { return freezes_.empty() && !approvals_.enabled(); }

 private:
  struct Freeze {
    FreezePolicy policy;
    FreezeWindow window;
  };
  GateDecision decide(const Freeze& f, common::SysTime now) const;
  GateDecision approvalsDecision() const;
  Status breakGlassAllowed(const std::string& who) const;
  static bool covers(const FreezePolicy& f, const protocol::Plan& plan);

  std::vector<Freeze> freezes_;
  std::vector<std::string> break_glass_;
  ApprovalGate approvals_;
};

}  // namespace flotilla::coordinator
