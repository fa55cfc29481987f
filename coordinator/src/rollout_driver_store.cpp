// RolloutDriver, its recorded side: events, persisting a rollout and pushing
// its status to watchers, finishing it, resuming after a restart and
// re-saving after a failed transaction.
#include <spdlog/spdlog.h>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/control_docs.h"
#include "flotilla/coordinator/host_record.h"
#include "flotilla/coordinator/rollout_driver.h"
#include "flotilla/coordinator/rollout_restore.h"
#include "flotilla/protocol/control.h"

namespace flotilla::coordinator {

using common::SteadyTime;
using nlohmann::json;

void RolloutDriver::recordEvent(ActiveRollout& r, const std::string& kind, const std::string& agent, int wave,
                                const std::string& message, const std::string& actor) {
  recordEventFor(r.record.id, kind, agent, wave, message, actor);
}

void RolloutDriver::recordEventFor(const std::string& rollout_id, const std::string& kind, const std::string& agent,
                                   int wave, const std::string& message, const std::string& actor) {
  if (auto st = events_.record(rollout_id, kind, agent, wave, message, actor); !st.ok())
    hooks_.store_failed(st.error());
}

void RolloutDriver::publishEvent(const EventRecord& e) {
  // Watchers follow active rollouts only (a rollout's watchers end with it).
  if (!watchers_.any(e.rollout_id) || !find(e.rollout_id)) return;
  nlohmann::json doc = eventDoc(e);
  doc["type"] = protocol::control::kTypeEvent;
  pushToWatchers(e.rollout_id, doc);
}

nlohmann::json RolloutDriver::statusJson(const ActiveRollout& r) const {
  return statusDoc(r, false, clock_.steadyNow());
}

void RolloutDriver::pushToWatchers(const std::string& rollout_id, const nlohmann::json& doc) {
  const auto dropped = watchers_.push(rollout_id, doc.dump(), hooks_.send_control);
  if (dropped > 0) spdlog::info("[{}] {} watcher(s) gone; no longer following", rollout_id, dropped);
}

void RolloutDriver::persist(ActiveRollout& r) {
  r.store_stale = false;
  const auto now = clock_.steadyNow();
  r.record.state = toString(r.engine->state());
  nlohmann::json snap = statusJson(r);
  r.record.snapshot = snap.dump();
  if (r.engine->finished()) {
    r.record.engine.clear();
  } else {
    const auto sys_ms = common::toUnixMillis(clock_.systemNow());
    auto to_wall = [&](SteadyTime t) { return sys_ms + std::chrono::duration_cast<common::Millis>(t - now).count(); };
    nlohmann::json saved{{"engine", r.engine->saveState(to_wall)}, {"kind", r.kind}};
    if (r.broke_glass) saved["broke_glass"] = true;
    if (r.approval) saved["approval"] = r.approval->toJson();
    r.record.engine = saved.dump();
  }
  if (auto st = store_.updateRollout(r.record); !st.ok()) hooks_.store_failed(st.error());
  for (auto idx : r.engine->drainDirtyHosts())
    if (auto st = store_.putRolloutHost(r.record.id, toHostRecord(idx, r.engine->hosts()[idx])); !st.ok())
      hooks_.store_failed(st.error());
  pushStatus(r, now);
}

void RolloutDriver::pushStatus(ActiveRollout& r, SteadyTime now) {
  r.watch_tick = false;
  if (!watchers_.any(r.record.id)) return;
  nlohmann::json snap = statusJson(r);
  snap["type"] = protocol::control::kTypeStatus;
  snap["gate"] = gateOf(r, now);
  if (auto v = analysis_.interim(r)) {
    json a = toJson(*v);
    a["wave"] = r.engine->currentWave();
    a["final"] = false;
    a["at"] = nullptr;
    snap["analysis"] = std::move(a);
  }
  pushToWatchers(r.record.id, snap);
}

void RolloutDriver::finish(ActiveRollout& r) {
  const std::string id = r.record.id;
  r.record.state = toString(r.engine->state());
  r.record.finished_at_ms = common::toUnixMillis(clock_.systemNow());
  r.record.message = r.engine->finalMessage();
  if (r.engine->state() == RolloutState::kSucceeded) {
    AppRecord app{r.plan.app, r.plan.version, id, r.plan.target_labels};
    if (auto st = store_.setCurrentRelease(app); !st.ok()) hooks_.store_failed(st.error());
    convergence_.setCurrent(std::move(app));
  }
  const bool succeeded = r.engine->state() == RolloutState::kSucceeded;
  persist(r);
  unsaved_finals_.push_back(r.record);
  nlohmann::json end = statusJson(r);
  end["type"] = protocol::control::kTypeEnd;
  pushToWatchers(id, end);
  watchers_.endRollout(id);
  analysis_.finished(r);
  for (const auto& oid : orders_.ofRollout(id)) orders_.close(oid);
  active_by_app_.erase(r.plan.app);
  // Hosts this rollout could not reach and that are back now converge to it.
  std::vector<Agent*> missed;
  if (succeeded)
    for (const auto& h : r.engine->hosts())
      if (h.state == HostState::kUnreachable || h.state == HostState::kPending)
        if (Agent* a = agents_.find(h.agent_id); a && a->online) missed.push_back(a);
  rollouts_.erase(id);
  for (auto* a : missed) hooks_.converge(*a);
}

Status RolloutDriver::restore() {
  auto stored = store_.unfinishedRollouts();
  if (!stored) return stored.error();
  const auto steady_now = clock_.steadyNow();
  const auto sys_ms = common::toUnixMillis(clock_.systemNow());
  auto release = [&](const std::string& app, const std::string& version) { return store_.release(app, version); };
  auto hosts = [&](const std::string& id) { return store_.rolloutHosts(id); };
  for (auto& rec : *stored) {
    auto st = rolloutStateFromString(rec.state);
    if (!st || isFinished(*st)) continue;
    auto out = restoreRollout(rec, release, hosts, steady_now, sys_ms, resume_grace_);
    if (!out) return out.error();
    if (!out->rollout) {
      FLOTILLA_TRY(failUnresumable(std::move(rec), out->why_not, sys_ms));
      continue;
    }
    FLOTILLA_TRY(resume(std::move(out->rollout)));
  }
  return {};
}

Status RolloutDriver::failUnresumable(RolloutRecord rec, const std::string& why, std::int64_t sys_ms) {
  // Nothing to resume from: close it loudly rather than guess.
  rec.message = "coordinator restarted and could not resume the rollout: " + why;
  rec.state = toString(RolloutState::kFailed);
  rec.finished_at_ms = sys_ms;
  rec.engine.clear();
  FLOTILLA_TRY(store_.updateRollout(rec));
  EventRecord e{0, rec.id, sys_ms, "rollout_failed", "", -1, rec.message, "coordinator"};
  spdlog::error("[{}] {}", rec.id, rec.message);
  if (auto seq = store_.appendEvent(e); !seq) return seq.error();
  return {};
}

Status RolloutDriver::resume(std::unique_ptr<ActiveRollout> rollout) {
  auto& r = *rollout;
  const std::string id = r.record.id;
  rollouts_.emplace(id, std::move(rollout));
  active_by_app_[r.plan.app] = id;
  // Orders in hand when the coordinator stopped go out again (same id and
  // sequence) as their agents reconnect.
  const auto in_hand = ordersInHand(r);
  for (auto [ref, order_id] : in_hand) {
    if (!order_id.empty()) {
      openOrder(std::move(ref), order_id);
      continue;
    }
    // Dispatched, but its order was in a chunk that never committed: it
    // never left. Issue it now; it goes out when the agent returns.
    auto seq = store_.nextSequence(r.plan.app);
    if (!seq) return seq.error();
    ref.sequence = *seq;
    const std::string agent_id = ref.agent_id;
    r.engine->setOrder(agent_id, openOrder(std::move(ref)), *seq);
  }
  recordEvent(r, "rollout_resumed", "", -1,
              "coordinator restarted; resuming " + std::string(toString(r.engine->state())) + " rollout at wave " +
                  std::to_string(r.engine->currentWave()) + " with " + std::to_string(in_hand.size()) +
                  " orders in hand",
              "coordinator");
  r.store_stale = true;
  analysis_.resumed(r);
  spdlog::info("[{}] resumed after a restart ({} orders in hand)", id, in_hand.size());
  return {};
}

void RolloutDriver::resave() {
  for (const auto& rec : unsaved_finals_)
    if (auto st = store_.updateRollout(rec); !st.ok()) hooks_.store_failed(st.error());
  for (auto& [id, r] : rollouts_) {
    r->engine->markAllDirty();
    r->store_stale = true;
  }
  spdlog::info("re-saving {} active and {} finished rollouts after a failed store transaction", rollouts_.size(),
               unsaved_finals_.size());
}

}  // namespace flotilla::coordinator
