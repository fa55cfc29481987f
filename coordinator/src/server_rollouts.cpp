// Driving rollouts: acting on the engine's actions, the orders they open and
// their outbox, persisting and finishing a rollout, resuming after a restart,
// and recording events.
#include <spdlog/spdlog.h>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/control_docs.h"
#include "flotilla/coordinator/host_record.h"
#include "flotilla/coordinator/order_signing.h"
#include "flotilla/coordinator/rollout_restore.h"
#include "flotilla/coordinator/server.h"
#include "flotilla/protocol/control.h"

namespace flotilla::coordinator {

using common::SteadyTime;
using protocol::Phase;

namespace {

constexpr std::size_t kOrderChunk = 500;  // orders committed and sent together in a large wave

}  // namespace

void Server::applyActions(ActiveRollout& r, SteadyTime now) {
  // Actions can trigger more actions (an unreachable host fails a wave...), so loop.
  for (int round = 0; round < 1000; ++round) {
    auto actions = r.engine->drainActions();
    if (actions.empty()) return;
    r.store_stale = true;
    // One statement reserves the sequences of a whole wave's orders.
    std::uint64_t orders = 0;
    for (const auto& act : actions)
      if (act.kind != RolloutAction::Kind::kEvent) ++orders;
    if (orders > 1) {
      if (auto last = store_->reserveSequences(r.plan.app, orders); last.ok())
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
          break;
      }
      // A large wave goes out in chunks, each committed before it leaves, so
      // the first hosts verify while the coordinator records the rest.
      if (act.kind != RolloutAction::Kind::kEvent && ++unflushed == kOrderChunk) {
        persistRollout(r);
        commitAndFlush();
        (void)store_->begin();
        unflushed = 0;
      }
    }
    orders_.endReservation();
  }
}

void Server::sendOrder(ActiveRollout& r, const std::string& agent_id, bool rollback, SteadyTime now) {
  const Agent* agent = agents_.find(agent_id);
  const bool online = agent && agent->online && !agent->routing_id.empty();
  if (!rollback && !online) {
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
    storeFailed(seq.error());
    r.engine->onHostPhase(agent_id, rollback, Phase::kFailed, "coordinator store error: " + seq.error().message, now);
    return;
  }
  ref.sequence = *seq;
  const std::string version = ref.version;
  r.engine->setOrder(agent_id, openOrder(std::move(ref)), *seq);
  recordEvent(
      r, rollback ? "rollback_sent" : "order_sent", agent_id, slot ? static_cast<int>(slot->wave) : -1,
      version + " (sequence " + std::to_string(*seq) + ")" + (online ? "" : "; host offline, sent when it returns"));
}

std::string Server::openOrder(OrderRef ref, std::string order_id) {
  order_id = orders_.open(std::move(ref), std::move(order_id));
  const Agent* a = agents_.find(orders_.find(order_id)->agent_id);
  if (a && a->online) queueOrder(order_id);
  return order_id;
}

void Server::closeOrder(const std::string& order_id) { orders_.close(order_id); }

std::optional<ReleaseData> Server::releaseFor(const OrderRef& ref) {
  auto active = rollouts_.find(ref.rollout_id);
  if (active != rollouts_.end() && !ref.rollback && !ref.converge) {
    const auto& r = *active->second;
    return ReleaseData{r.spec, r.artifact_digest, r.release_signature, r.artifact_size};
  }
  const auto key = std::make_pair(ref.app, ref.version);
  if (auto cached = release_cache_.find(key); cached != release_cache_.end()) return cached->second;
  auto rel = store_->release(ref.app, ref.version);
  if (!rel) {
    storeFailed(rel.error());
    return std::nullopt;
  }
  ReleaseData data;
  if (rel->has_value()) {
    data = ReleaseData{std::make_shared<const std::string>((*rel)->spec), (*rel)->artifact_digest,
                       (*rel)->release_signature, (*rel)->artifact_size};
  } else {
    // Not deployed through this coordinator: the agent must still have
    // the release on disk (it keeps the last keep_releases).
    data.spec = std::make_shared<const std::string>();
  }
  if (release_cache_.size() >= 64) release_cache_.clear();
  return release_cache_.emplace(key, std::move(data)).first->second;
}

void Server::queueOrder(const std::string& order_id) {
  const OrderRef* ref = orders_.find(order_id);
  if (!ref) return;
  // Without its release it is not sent now: retryOrders() tries again (last_sent is unchanged).
  if (auto release = releaseFor(*ref)) orders_.queue(order_id, *release, clock_.steadyNow());
}

void Server::flushOutbox() {
  if (orders_.outboxEmpty()) return;
  auto outbox = orders_.takeOutbox();
  // Issue times are taken here, when the orders really leave.
  const auto sys_now = clock_.systemNow();
  const auto issued = common::toUnixSeconds(sys_now), expires = common::toUnixSeconds(sys_now + config_.order_ttl);
  std::vector<OutgoingOrder*> ready;
  std::vector<const Agent*> to;
  ready.reserve(outbox.size());
  to.reserve(outbox.size());
  for (auto& o : outbox) {
    const Agent* a = agents_.find(o.agent_id);
    if (!a || !a->online || a->routing_id.empty()) continue;
    o.body.issued_at = issued;
    o.body.expires_at = expires;
    ready.push_back(&o);
    to.push_back(a);
  }
  // Signed on two threads for a large batch, then sent one by one.
  const auto encoded = signOrders(ready, config_.plan_key);
  for (std::size_t i = 0; i < ready.size(); ++i) sendToAgent(to[i]->routing_id, encoded[i]);
}

Result<std::uint64_t> Server::takeSequence(const std::string& app) {
  if (auto reserved = orders_.takeReserved(app)) return *reserved;
  return store_->nextSequence(app);
}

void Server::resendOrders(Agent& a) {
  // A copy: queueOrder does not change the set, but keep the loop independent of it.
  const auto ids = orders_.ofAgent(a.record.id);
  for (const auto& id : ids) queueOrder(id);
}

void Server::retryOrders(SteadyTime now) {
  // An order nobody acknowledged may have been lost with a connection: send it
  // again. The agent recognises a repeat by its id and only reports again.
  for (const auto& id : orders_.dueForRetry(now, config_.order_retry)) {
    const Agent* a = agents_.find(orders_.find(id)->agent_id);
    if (a && a->online) queueOrder(id);
  }
}

Status Server::restoreRollouts() {
  auto stored = store_->unfinishedRollouts();
  if (!stored) return stored.error();
  const auto steady_now = clock_.steadyNow();
  const auto sys_ms = common::toUnixMillis(clock_.systemNow());
  auto release = [&](const std::string& app, const std::string& version) { return store_->release(app, version); };
  auto hosts = [&](const std::string& id) { return store_->rolloutHosts(id); };
  for (auto& rec : *stored) {
    auto st = rolloutStateFromString(rec.state);
    if (!st || isFinished(*st)) continue;
    auto out = restoreRollout(rec, release, hosts, steady_now, sys_ms, 2 * config_.heartbeat_expiry);
    if (!out) return out.error();
    if (!out->rollout) {
      FLOTILLA_TRY(failUnresumable(std::move(rec), out->why_not, sys_ms));
      continue;
    }
    FLOTILLA_TRY(resumeRollout(std::move(out->rollout)));
  }
  return {};
}

Status Server::failUnresumable(RolloutRecord rec, const std::string& why, std::int64_t sys_ms) {
  // Nothing to resume from: close it loudly rather than guess.
  rec.message = "coordinator restarted and could not resume the rollout: " + why;
  rec.state = toString(RolloutState::kFailed);
  rec.finished_at_ms = sys_ms;
  rec.engine.clear();
  FLOTILLA_TRY(store_->updateRollout(rec));
  EventRecord e{0, rec.id, sys_ms, "rollout_failed", "", -1, rec.message, "coordinator"};
  spdlog::error("[{}] {}", rec.id, rec.message);
  if (auto seq = store_->appendEvent(e); !seq) return seq.error();
  return {};
}

Status Server::resumeRollout(std::unique_ptr<ActiveRollout> rollout) {
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
    auto seq = store_->nextSequence(r.plan.app);
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
  spdlog::info("[{}] resumed after a restart ({} orders in hand)", id, in_hand.size());
  return {};
}

void Server::recordEvent(ActiveRollout& r, const std::string& kind, const std::string& agent, int wave,
                         const std::string& message, const std::string& actor) {
  recordEventFor(r.record.id, kind, agent, wave, message, actor);
}

void Server::recordEventFor(const std::string& rollout_id, const std::string& kind, const std::string& agent, int wave,
                            const std::string& message, const std::string& actor) {
  if (auto st = events_.record(rollout_id, kind, agent, wave, message, actor); !st.ok()) storeFailed(st.error());
}

void Server::publishEvent(const EventRecord& e) {
  // Watchers follow active rollouts only (a rollout's watchers end with it).
  if (!watchers_.any(e.rollout_id) || !findRollout(e.rollout_id)) return;
  nlohmann::json doc = eventDoc(e);
  doc["type"] = protocol::control::kTypeEvent;
  pushToWatchers(e.rollout_id, doc);
}

void Server::persistRollout(ActiveRollout& r) {
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
    r.record.engine = nlohmann::json{{"engine", r.engine->saveState(to_wall)}, {"kind", r.kind}}.dump();
  }
  if (auto st = store_->updateRollout(r.record); !st.ok()) storeFailed(st.error());
  for (auto idx : r.engine->drainDirtyHosts())
    if (auto st = store_->putRolloutHost(r.record.id, toHostRecord(idx, r.engine->hosts()[idx])); !st.ok())
      storeFailed(st.error());
  pushStatus(r, now);
}

void Server::pushStatus(ActiveRollout& r, SteadyTime now) {
  r.watch_tick = false;
  if (!watchers_.any(r.record.id)) return;
  nlohmann::json snap = statusJson(r);
  snap["type"] = protocol::control::kTypeStatus;
  snap["gate"] = r.engine->gate(now);
  pushToWatchers(r.record.id, snap);
}

void Server::finishRollout(ActiveRollout& r) {
  const std::string id = r.record.id;
  r.record.state = toString(r.engine->state());
  r.record.finished_at_ms = common::toUnixMillis(clock_.systemNow());
  r.record.message = r.engine->finalMessage();
  if (r.engine->state() == RolloutState::kSucceeded) {
    AppRecord app{r.plan.app, r.plan.version, id, r.plan.target_labels};
    if (auto st = store_->setCurrentRelease(app); !st.ok()) storeFailed(st.error());
    convergence_.setCurrent(std::move(app));
  }
  const bool succeeded = r.engine->state() == RolloutState::kSucceeded;
  persistRollout(r);
  unsaved_finals_.push_back(r.record);
  nlohmann::json end = statusJson(r);
  end["type"] = protocol::control::kTypeEnd;
  pushToWatchers(id, end);
  watchers_.endRollout(id);
  for (const auto& oid : orders_.ofRollout(id)) closeOrder(oid);
  active_by_app_.erase(r.plan.app);
  // Hosts this rollout could not reach and that are back now converge to it.
  std::vector<Agent*> missed;
  if (succeeded)
    for (const auto& h : r.engine->hosts())
      if (h.state == HostState::kUnreachable || h.state == HostState::kPending)
        if (Agent* a = agents_.find(h.agent_id); a && a->online) missed.push_back(a);
  rollouts_.erase(id);
  for (auto* a : missed) maybeConverge(*a);
}

}  // namespace flotilla::coordinator
