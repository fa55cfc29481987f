// RolloutDriver, its running side: starting a rollout, acting on its engine's
// actions and the orders they open, routing agents' news to the engines, and
// the reactor's per-iteration pass. Persisting, finishing and resuming are in
// rollout_driver_store.cpp.
#include "flotilla/coordinator/rollout_driver.h"

#include "flotilla/common/duration.h"
#include "flotilla/protocol/control.h"
#include "flotilla/protocol/flag_app.h"
#include "flotilla/protocol/order.h"

namespace flotilla::coordinator {

using common::SteadyTime;
using protocol::Phase;

RolloutDriver::RolloutDriver(Parts parts, Hooks hooks, common::Millis resume_grace)
    : store_(parts.store),
      agents_(parts.agents),
      orders_(parts.orders),
      events_(parts.events),
      watchers_(parts.watchers),
      convergence_(parts.convergence),
      analysis_(parts.analysis),
      clock_(parts.clock),
      hooks_(std::move(hooks)),
      resume_grace_(resume_grace) {}

ActiveRollout* RolloutDriver::find(const std::string& id) {
  auto it = rollouts_.find(id);
  return it == rollouts_.end() ? nullptr : it->second.get();
}

std::vector<const ActiveRollout*> RolloutDriver::all() const {
  std::vector<const ActiveRollout*> out;
  out.reserve(rollouts_.size());
  for (const auto& [id, r] : rollouts_) out.push_back(r.get());
  return out;
}

std::string RolloutDriver::activeOf(const std::string& app) const {
  auto it = active_by_app_.find(app);
  return it == active_by_app_.end() ? std::string() : it->second;
}

std::optional<SteadyTime> RolloutDriver::nextDeadline() const {
  std::optional<SteadyTime> next;
  for (const auto& [id, r] : rollouts_) {
    auto d = r->engine->nextDeadline();
    if (d && (!next || *d < *next)) next = d;
  }
  return next;
}

Result<std::string> RolloutDriver::start(RolloutStart start) {
  protocol::Plan& plan = start.plan;
  const std::string& kind = start.kind;
  // A rollout that ended within this request (a kill aborts the flag
  // rollout it supersedes) is finished now, not at the end of the iteration.
  if (auto it = active_by_app_.find(plan.app);
      it != active_by_app_.end() && rollouts_.at(it->second)->engine->finished())
    finish(*rollouts_.at(it->second));
  if (active_by_app_.count(plan.app))
    return Error(Errc::kConflict, "rollout " + active_by_app_.at(plan.app) + " of app '" + plan.app +
                                      "' is still active; one active rollout per app (abort or wait for it)");
  std::vector<std::string> targets;
  std::map<std::string, std::string> previous;
  for (const Agent* a : agents_.accepted(plan.target_labels)) {
    targets.push_back(a->record.id);
    if (auto r = a->record.releases.find(plan.app); r != a->record.releases.end() && !r->second.empty())
      previous[a->record.id] = r->second;
    else if (protocol::flaggedApp(plan.app))
      previous[a->record.id] = std::string(protocol::kNoFlagSet);
  }
  if (targets.empty()) {
    std::string labels;
    for (const auto& [k, v] : plan.target_labels) labels += (labels.empty() ? "" : ", ") + k + "=" + v;
    return Error(Errc::kInvalidArgument,
                 start.plan_name + ": target.labels: no accepted agent matches {" + labels + "}");
  }
  auto count = store_.countRollouts(plan.app);
  if (!count) return count.error();
  const std::string id = plan.app + "-" + std::to_string(*count + 1);

  protocol::OrderSpec spec{plan.deploy, plan.health};
  auto spec_bytes = protocol::encodeSpec(spec);
  ReleaseRecord rel{plan.app,        plan.version,           start.digest, start.size, std::move(spec_bytes),
                    start.plan_text, start.release_signature};
  // A version names one artifact for good: what was approved, deployed or
  // rolled back to as "web 8" is never replaced by another build under that name.
  auto known = store_.release(plan.app, plan.version);
  if (!known) return known.error();
  if (*known && (*known)->artifact_digest != start.digest)
    return Error(Errc::kConflict, start.plan_name + ": release " + plan.app + " " + plan.version +
                                      " exists with another artifact (" + (*known)->artifact_digest.substr(0, 16) +
                                      "...); a version names one artifact for good: give this build a new version");
  FLOTILLA_TRY(store_.putRelease(rel));

  RolloutRecord record = newRolloutRecord(id, plan, start.plan_name, start.plan_text, start.actor, kind,
                                          common::toUnixMillis(clock_.systemNow()));
  record.artifact_digest = start.digest;
  auto engine = std::make_unique<Rollout>(engineConfig(id, plan), orderHosts(id, targets), previous);
  auto ar = makeActiveRollout(std::move(record), std::move(plan), kind, rel, std::move(engine));
  ar->record.state = toString(ar->engine->state());
  ar->record.snapshot = statusJson(*ar).dump();
  FLOTILLA_TRY(store_.insertRollout(ar->record));
  auto& r = *ar;
  rollouts_.emplace(id, std::move(ar));
  active_by_app_[r.plan.app] = id;
  // Waiting for approvals is part of what the first commit makes durable.
  if (start.approval) {
    r.approval = std::move(start.approval);
    r.engine->awaitApproval("waits for " + std::to_string(r.approval->required) +
                            " approval(s) by operators other than " + r.approval->submitter + ": `flotilla approve " +
                            id + "`");
  }
  recordEvent(r, "submitted", "", -1,
              kind + " of " + r.plan.app + " " + r.plan.version + " to " + std::to_string(targets.size()) +
                  " hosts from " + start.plan_name,
              start.actor);
  persist(r);
  // The rollout is durable before any order leaves: if the store cannot take
  // it, nothing has happened and the operator is told why.
  if (auto st = hooks_.commit(); !st.ok()) {
    active_by_app_.erase(r.plan.app);
    rollouts_.erase(id);
    hooks_.store_failed(st.error());
    (void)store_.begin();
    return Error(Errc::kUnavailable,
                 "the coordinator's store is failing (" + st.error().message + "); rollout not started");
  }
  if (auto st = store_.begin(); !st.ok()) hooks_.store_failed(st.error());
  if (!r.approval) r.engine->start(clock_.steadyNow());
  applyActions(r, clock_.steadyNow());
  persist(r);
  return id;
}

Result<std::string> RolloutDriver::recordRefusal(const RolloutStart& start, const Error& why) {
  auto count = store_.countRollouts(start.plan.app);
  if (!count) return count.error();
  const std::string id = start.plan.app + "-" + std::to_string(*count + 1);
  const std::int64_t now_ms = common::toUnixMillis(clock_.systemNow());
  RolloutRecord record =
      newRolloutRecord(id, start.plan, start.plan_name, start.plan_text, start.actor, start.kind, now_ms);
  record.artifact_digest = start.digest;
  record.state = "refused";
  record.finished_at_ms = now_ms;
  record.message = why.message;
  // The status document of a rollout that has no engine: no wave ever ran.
  protocol::control::RolloutStatus status;
  status.id = id;
  status.app = start.plan.app;
  status.version = start.plan.version;
  status.state = record.state;
  status.submitted_by = start.actor;
  status.message = why.message;
  record.snapshot = nlohmann::json(status).dump();
  FLOTILLA_TRY(store_.insertRollout(record));
  recordEventFor(id, "submitted", "", -1,
                 start.kind + " of " + start.plan.app + " " + start.plan.version + " from " + start.plan_name,
                 start.actor);
  recordEventFor(id, "policy_refused", "", -1, why.message, start.actor);
  return id;
}

void RolloutDriver::forgetIneligibleApprovals(const ApprovalGate& gate) {
  const std::int64_t now_ms = common::toUnixMillis(clock_.systemNow());
  for (auto& [id, r] : rollouts_) {
    if (!r->approval || r->engine->state() != RolloutState::kAwaitingApproval) continue;
    const auto gone = r->approval->retainEligible(gate);
    for (const auto& a : gone)
      recordEvent(*r, "approval_dropped", "", -1,
                  "the approval by " + a.by + " no longer counts: it may not approve any more; " +
                      r->approval->describe(now_ms));
    if (!gone.empty()) persist(*r);
  }
}

void RolloutDriver::sweepApprovals(const std::function<std::string(const ActiveRollout&)>& closed_gate) {
  const std::int64_t now_ms = common::toUnixMillis(clock_.systemNow());
  const auto now = clock_.steadyNow();
  for (auto& [id, r] : rollouts_) {
    if (!r->approval || r->engine->state() != RolloutState::kAwaitingApproval) continue;
    // Approved while a freeze was closed: it starts when the freeze ends.
    if (r->approval->satisfied(now_ms) && closed_gate(*r).empty()) {
      r->engine->start(now);
      recordEvent(*r, "hold_lifted", "", -1, "approved, and no freeze holds it any more; the rollout starts");
      applyActions(*r, now);
      r->store_stale = true;
      continue;
    }
    for (const auto& gone : r->approval->expire(now_ms)) {
      recordEvent(*r, "approval_expired", "", -1,
                  "the approval by " + gone.by + " is older than " + common::formatDuration(r->approval->ttl) +
                      " and no longer counts; " + r->approval->describe(now_ms));
      r->store_stale = true;
    }
  }
}

void RolloutDriver::operatorActed(ActiveRollout& r, const std::string& kind, const std::string& message,
                                  const std::string& actor) {
  recordEvent(r, kind, "", -1, message, actor);
  applyActions(r, clock_.steadyNow());
  persist(r);
}

void RolloutDriver::onReport(const OrderRef& ref, const std::string& agent_id, Phase phase,
                             const std::string& message) {
  if (ref.converge) {
    if (!protocol::isTerminal(phase)) return;
    const bool ok = phase == Phase::kHealthy;
    recordEventFor(ref.rollout_id, ok ? "host_converged" : "host_converge_failed", agent_id, -1,
                   ok ? "now on " + ref.version : std::string(protocol::toString(phase)) + ": " + message);
    return;
  }
  auto r = rollouts_.find(ref.rollout_id);
  if (r == rollouts_.end()) return;
  if (phase == Phase::kProbation && !ref.rollback) analysis_.canaryProbation(*r->second, agent_id);
  r->second->engine->onHostPhase(agent_id, ref.rollback, phase, message, clock_.steadyNow());
}

void RolloutDriver::onSamples(const std::string& agent_id, const protocol::Samples& m) {
  if (auto r = rollouts_.find(m.rollout_id); r != rollouts_.end()) analysis_.onSamples(*r->second, agent_id, m);
}

void RolloutDriver::drainPrometheus() {
  analysis_.drainPrometheus([this](const std::string& id) -> const ActiveRollout* { return find(id); });
}

void RolloutDriver::onAgentBack(const std::string& agent_id) {
  for (auto& [id, r] : rollouts_) analysis_.agentBack(*r, agent_id);
}

void RolloutDriver::applyVerdict(ActiveRollout& r, std::size_t wave, const Verdict& v, SteadyTime now) {
  recordEvent(r, "analysis_verdict", "", static_cast<int>(wave), verdictMessage(v, *r.plan.analysis));
  r.engine->onVerdict(decisionOf(v), v.reason, now);
}

void RolloutDriver::onUnhealthy(const std::string& app, const std::string& agent_id) {
  // A flag set is judged by its app's health (flag_plan.h), and the agent's
  // idle checks run the app's, never the flag app's: web turning unhealthy
  // while flags:web bakes counts against the flag rollout too.
  for (const std::string& judged : {app, protocol::flagAppOf(app)})
    if (auto r = active_by_app_.find(judged); r != active_by_app_.end())
      rollouts_.at(r->second)->engine->onHostUnhealthy(agent_id, clock_.steadyNow());
}

void RolloutDriver::onHostLost(const std::string& agent_id, SteadyTime now) {
  for (auto& [id, r] : rollouts_) r->engine->onHostLost(agent_id, now);
}

void RolloutDriver::onRejoinMissed(const std::string& agent_id, SteadyTime now) {
  for (auto it = held_for_rejoin_.begin(); it != held_for_rejoin_.end();) {
    if (it->second != agent_id) {
      ++it;
      continue;
    }
    if (const OrderRef* ref = orders_.find(it->first))
      if (auto r = rollouts_.find(ref->rollout_id); r != rollouts_.end()) r->second->engine->onHostLost(agent_id, now);
    it = held_for_rejoin_.erase(it);
  }
}

void RolloutDriver::applyHolds(const std::function<std::string(const ActiveRollout&)>& hold_of, SteadyTime now) {
  for (auto& [id, r] : rollouts_) r->engine->setHold(r->broke_glass ? std::string() : hold_of(*r), now);
}

void RolloutDriver::markWatchTicks() {
  for (auto& [id, r] : rollouts_)
    if (watchers_.any(id)) r->watch_tick = true;
}

void RolloutDriver::advance(SteadyTime now) {
  std::vector<std::string> done;
  for (auto& [id, r] : rollouts_) {
    analysis_.pollPrometheus(*r, now);
    if (auto early = analysis_.earlyFailure(*r, now)) applyVerdict(*r, r->engine->currentWave(), *early, now);
    auto d = r->engine->nextDeadline();
    if (d && *d <= now) r->engine->tick(now);
    applyActions(*r, now);
    if (r->store_stale)
      persist(*r);
    else if (r->watch_tick)
      pushStatus(*r, now);
    if (r->engine->finished()) done.push_back(id);
  }
  for (const auto& id : done) finish(*rollouts_.at(id));
}

void RolloutDriver::applyActions(ActiveRollout& r, SteadyTime now) {
  // Actions can trigger more actions (an unreachable host fails a wave...), so loop.
  for (int round = 0; round < 1000; ++round) {
    auto actions = r.engine->drainActions();
    if (actions.empty()) return;
    r.store_stale = true;
    // One statement reserves the sequences of a whole wave's orders.
    std::uint64_t orders = 0;
    for (const auto& act : actions)
      if (act.kind == RolloutAction::Kind::kDeploy || act.kind == RolloutAction::Kind::kRollback) ++orders;
    if (orders > 1) {
      if (auto last = store_.reserveSequences(r.plan.app, orders); last.ok())
        orders_.reserve(r.plan.app, *last - orders + 1, *last + 1);
    }
    std::size_t unflushed = 0;
    for (const auto& act : actions) {
      switch (act.kind) {
        case RolloutAction::Kind::kDeploy:
          sendOrder(r, act.agent_id, false, now);
          break;
        case RolloutAction::Kind::kRollback:
          sendOrder(r, act.agent_id, true, now);
          break;
        case RolloutAction::Kind::kEvent:
          recordEvent(r, act.event, act.agent_id, act.wave, act.message);
          if (act.event == "wave_started") analysis_.waveStarted(r, static_cast<std::size_t>(act.wave));
          break;
        case RolloutAction::Kind::kAnalyze: {
          const auto wave = static_cast<std::size_t>(act.wave);
          applyVerdict(r, wave, analysis_.decide(r, wave), now);
          break;
        }
      }
      // A large wave goes out in chunks, each committed before it leaves, so
      // the first hosts verify while the coordinator records the rest.
      const bool order = act.kind == RolloutAction::Kind::kDeploy || act.kind == RolloutAction::Kind::kRollback;
      if (order && ++unflushed == kOrderChunk) {
        persist(r);
        hooks_.commit_and_flush();
        (void)store_.begin();
        unflushed = 0;
      }
    }
    orders_.endReservation();
  }
}

void RolloutDriver::sendOrder(ActiveRollout& r, const std::string& agent_id, bool rollback, SteadyTime now) {
  const Agent* agent = agents_.find(agent_id);
  const bool online = agent && agent->online && !agent->routing_id.empty();
  // An agent not back yet since this coordinator started gets its order when
  // it returns; only then, or at its rejoin_until, is it counted unreachable.
  if (!rollback && !online && !(agent && AgentRegistry::awaited(*agent, now))) {
    r.engine->onHostLost(agent_id, now);
    return;
  }
  const HostSlot* slot = r.engine->host(agent_id);
  OrderRef ref;
  ref.rollout_id = r.record.id;
  ref.agent_id = agent_id;
  ref.app = r.plan.app;
  ref.version = rollback ? (slot ? slot->previous_version : "") : r.plan.version;
  ref.rollback = rollback;
  auto seq = takeSequence(ref.app);
  if (!seq) {
    hooks_.store_failed(seq.error());
    r.engine->onHostPhase(agent_id, rollback, Phase::kFailed, "coordinator store error: " + seq.error().message, now);
    return;
  }
  ref.sequence = *seq;
  const std::string version = ref.version;
  const std::string order_id = openOrder(std::move(ref));
  if (!online && !rollback) held_for_rejoin_.emplace(order_id, agent_id);
  r.engine->setOrder(agent_id, order_id, *seq);
  recordEvent(
      r, rollback ? "rollback_sent" : "order_sent", agent_id, slot ? static_cast<int>(slot->wave) : -1,
      version + " (sequence " + std::to_string(*seq) + ")" + (online ? "" : "; host offline, sent when it returns"));
}

Result<std::uint64_t> RolloutDriver::takeSequence(const std::string& app) {
  if (auto reserved = orders_.takeReserved(app)) return *reserved;
  return store_.nextSequence(app);
}

std::string RolloutDriver::openOrder(OrderRef ref, std::string order_id) {
  order_id = orders_.open(std::move(ref), std::move(order_id));
  const Agent* a = agents_.find(orders_.find(order_id)->agent_id);
  if (a && a->online) queueOrder(order_id);
  return order_id;
}

void RolloutDriver::queueOrder(const std::string& order_id) {
  const OrderRef* ref = orders_.find(order_id);
  if (!ref) return;
  held_for_rejoin_.erase(order_id);  // its agent is back
  // Without its release it is not sent now: retries try again (last_sent is unchanged).
  if (auto release = releaseFor(*ref)) orders_.queue(order_id, *release, clock_.steadyNow());
}

std::optional<ReleaseData> RolloutDriver::releaseFor(const OrderRef& ref) {
  auto active = rollouts_.find(ref.rollout_id);
  if (active != rollouts_.end() && !ref.rollback && !ref.converge) {
    const auto& r = *active->second;
    ReleaseData data;
    data.spec = r.spec;
    data.digest = r.artifact_digest;
    data.signature = r.release_signature;
    data.size = r.artifact_size;
    setArtifactSource(data, r.plan);
    return data;
  }
  const auto key = std::make_pair(ref.app, ref.version);
  if (auto cached = release_cache_.find(key); cached != release_cache_.end()) return cached->second;
  auto rel = store_.release(ref.app, ref.version);
  if (!rel) {
    hooks_.store_failed(rel.error());
    return std::nullopt;
  }
  ReleaseData data;
  if (rel->has_value()) {
    data.spec = std::make_shared<const std::string>((*rel)->spec);
    data.digest = (*rel)->artifact_digest;
    data.signature = (*rel)->release_signature;
    data.size = (*rel)->artifact_size;
    // Where its artifact is served is in the plan it was deployed with.
    if (auto plan = protocol::parsePlan((*rel)->plan_text, ref.app + "@" + ref.version, ""))
      setArtifactSource(data, *plan);
  } else if (ref.version == protocol::kNoFlagSet && protocol::flaggedApp(ref.app)) {
    // Back to before the app's first flag set: nothing to fetch or check.
    data.spec = std::make_shared<const std::string>(protocol::encodeSpec(protocol::OrderSpec{}));
  } else {
    // Not deployed through this coordinator: the agent must still have
    // the release on disk (it keeps the last keep_releases).
    data.spec = std::make_shared<const std::string>();
  }
  if (release_cache_.size() >= 64) release_cache_.clear();
  return release_cache_.emplace(key, std::move(data)).first->second;
}

}  // namespace flotilla::coordinator
