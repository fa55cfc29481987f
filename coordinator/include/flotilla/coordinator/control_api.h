#pragma once
// ControlApi: the coordinator's side of the control protocol
// (protocol/control.h, docs/protocol.md). One handler per command, found in a
// dispatch table by the request's "cmd"; each reads its typed request and
// returns its typed reply (or an ErrorReply) as JSON.
//
// It owns no state. What it needs of the daemon (agents, the store, active
// rollouts, starting one, telling a rollout an operator acted, watching) comes
// through ControlContext, which Server implements. Reactor thread only.
// The artifact of a rollout was uploaded before (upload_begin/chunk/end, on
// the artifact worker); the rollout command names it by digest.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/active_rollout.h"
#include "flotilla/coordinator/agent_registry.h"
#include "flotilla/coordinator/judge.h"
#include "flotilla/coordinator/policy_gates.h"
#include "flotilla/coordinator/provenance_gate.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/protocol/control.h"

namespace flotilla::coordinator {

// A rollout to start: a plan and the release it deploys.
struct RolloutStart {
  protocol::Plan plan;
  std::string plan_text, plan_name;
  std::string digest;
  std::uint64_t size = 0;
  std::string actor;
  std::string kind;  // "rollout" | "rollback"
  std::string release_signature;
  // Set when policy.approvals covers the plan: the rollout waits for them instead of starting.
  std::optional<ApprovalState> approval;
};

class ControlContext {
 public:
  virtual ~ControlContext() = default;
  virtual AgentRegistry& agents() = 0;
  virtual Store& store() = 0;
  virtual common::SteadyTime steadyNow() const = 0;
  virtual std::int64_t nowMs() const = 0;  // wall clock, unix ms
  // The size of the stored artifact `digest` (uploaded before the rollout
  // command), or an error telling the operator to upload it first.
  virtual Result<std::uint64_t> storedArtifact(const std::string& digest) const = 0;
  virtual ActiveRollout* findRollout(const std::string& id) = 0;
  virtual std::vector<const ActiveRollout*> activeRollouts() const = 0;
  // The id of app's active rollout, or "" when none.
  virtual std::string activeRolloutOf(const std::string& app) const = 0;
  // A rejected or revoked agent that was online is lost to every rollout.
  virtual void cutOff(Agent& a, const std::string& why) = 0;
  // Durable before any order leaves; returns the new rollout's id.
  virtual Result<std::string> startRollout(RolloutStart start) = 0;
  // A rollout a policy gate refused before it started: recorded, finished in
  // state "refused", with the refusal as its event. Returns its id.
  virtual Result<std::string> recordRefusal(const RolloutStart& start, const Error& why) = 0;
  // An operator changed `r`'s engine: record the event, act on it, persist.
  virtual void operatorActed(ActiveRollout& r, const std::string& kind, const std::string& message,
                             const std::string& actor) = 0;
  virtual void watch(const std::string& rollout_id, const std::string& routing_id) = 0;
  // The verdict so far of an analysed rollout's current wave; nothing when it is not being analysed.
  virtual std::optional<Verdict> interimVerdict(const ActiveRollout& r) const = 0;
  // Where artifacts are stored, one file per digest (the coordinator's own
  // small ones, flag sets, are read and written there: flag_rollouts.h).
  virtual const std::filesystem::path& artifactsDir() const = 0;
  // The policy gates (freezes, approvals, break-glass) a rollout must pass to start.
  virtual const PolicyGates& policyGates() const = 0;
  // A rollout started past closed gates by break-glass (counted in /metrics).
  virtual void brokeGlass() = 0;
};

class FlagRollouts;

class ControlApi {
 public:
  // `provenance` is checked on every rollout request before it starts (never
  // on a rollback, which redeploys a release that already passed).
  explicit ControlApi(ControlContext& ctx, ProvenanceGate provenance = ProvenanceGate());
  ~ControlApi();

  // `req` is the request as received, with "_peer" added (the identity the
  // control socket authenticated: operator_identity.h). The commands a worker answers
  // (upload_*, metrics: background_work.h) never reach it.
  // Returns the reply without "type" and "req" (the caller adds them); a
  // request that is not an object with a string "cmd", or has a field of the
  // wrong type, gets an invalid_argument error.
  nlohmann::json handle(const std::string& routing_id, const nlohmann::json& req);

 private:
  struct Call {
    const std::string& routing_id;
    const nlohmann::json& req;
    const std::string& actor;     // for people: the identity and the name the console gives
    const std::string& identity;  // the authenticated identity ("" when unknown)
  };
  using Handler = nlohmann::json (ControlApi::*)(const Call&);

  nlohmann::json agents(const Call& c);
  nlohmann::json agentAction(const Call& c);
  nlohmann::json rollout(const Call& c);
  // The length of the rollout's artifact, uploaded or at artifact.url; sets r.artifact_digest for a URL's.
  Result<std::uint64_t> artifactLength(const protocol::Plan& plan, const std::string& name,
                                       protocol::control::RolloutRequest& r);
  nlohmann::json status(const Call& c);
  nlohmann::json rolloutAction(const Call& c);
  nlohmann::json rollback(const Call& c);
  nlohmann::json rollbackToEarlier(const std::string& app, const std::string& to, const std::string& actor);
  nlohmann::json history(const Call& c);
  nlohmann::json events(const Call& c);
  nlohmann::json watch(const Call& c);
  nlohmann::json ping(const Call& c);
  nlohmann::json analysis(const Call& c);      // control_analysis.cpp
  nlohmann::json policy(const Call& c);        // control_policy.cpp
  nlohmann::json approve(const Call& c);       // control_policy.cpp
  nlohmann::json flagsPush(const Call& c);     // control_flags.cpp
  nlohmann::json flagsKill(const Call& c);     // control_flags.cpp
  nlohmann::json flagsShow(const Call& c);     // control_flags.cpp
  nlohmann::json flagsHistory(const Call& c);  // control_flags.cpp
  // Passes `start` through the policy gates and starts it (or records its
  // refusal); a rollout's reply, or the error.
  nlohmann::json admitAndStart(RolloutStart start, const Call& c, const std::string& break_glass);
  nlohmann::json refuse(const RolloutStart& start, const Error& why);
  // Records each policy gate's decision on a rollout that started, and a break-glass.
  void recordGates(ActiveRollout& r, const protocol::Plan& plan, const std::vector<GateDecision>& overridden,
                   const std::string& reason, const std::string& actor);

  ControlContext& ctx_;
  ProvenanceGate provenance_;
  std::unique_ptr<FlagRollouts> flags_;  // flag_rollouts.h
  std::unordered_map<std::string, Handler> handlers_;
};

}  // namespace flotilla::coordinator
