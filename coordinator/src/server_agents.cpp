// The agents' side of the reactor: what each agent message does (rollouts'
// news goes to RolloutDriver), liveness, orders sent again, and convergence
// of hosts to their apps' current releases.

#include <spdlog/spdlog.h>

#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "flotilla/coordinator/server.h"
#include "flotilla/protocol/agent_app.h"
#include "flotilla/protocol/flag_app.h"
#include "flotilla/protocol/order.h"

namespace flotilla::coordinator {

using common::SteadyTime;
using protocol::Phase;

void Server::onHello(const std::string& rid, const std::string& key, const protocol::Hello& m) {
  const auto now_ms = common::toUnixMillis(clock_.systemNow());
  auto useToken = [&](const std::string& token) {
    auto ok = store_->useToken(common::blake2bHex(common::asBytes(token)), now_ms);
    return ok.ok() && *ok;
  };
  auto admitted = agents_.hello(rid, key, m, now_ms, clock_.steadyNow(), useToken);
  if (!admitted) {
    refuse(rid, admitted.refusal.code, admitted.refusal.detail);
    return;
  }
  Agent& a = *admitted.agent;
  if (auto st = store_->upsertAgent(a.record); !st.ok()) storeFailed(st.error());

  protocol::Welcome w;
  w.heartbeat_interval_ms = config_.heartbeat_interval.count();
  w.server_time_ms = now_ms;
  w.epoch = leadership_ ? leadership_->epoch() : 0;
  if (a.state == AgentState::kAccepted) {
    a.online = true;
    w.status = protocol::WelcomeStatus::kAccepted;
    w.message = "welcome";
    sendToAgent(rid, protocol::encode(w));
    // Agents still pinning an older plan key follow the chain to the current one.
    for (const auto& r : config_.rotations) sendToAgent(rid, protocol::encode(r));
    spdlog::info("agent {} online ({} apps)", a.record.id, m.releases.size());
    // A new session may have lost orders in flight (or the coordinator
    // restarted): send again what it has not finished, then bring it to the
    // current release of apps it missed.
    resendOrders(a);
    maybeConverge(a);
    rollouts_->onAgentBack(a.record.id);
  } else {
    a.online = false;
    w.status = protocol::WelcomeStatus::kPending;
    w.message = "pending: an operator must run `flotilla agents accept " + a.record.id + "`";
    sendToAgent(rid, protocol::encode(w));
  }
}

void Server::onHeartbeat(Agent& a, const protocol::Heartbeat& m) {
  bool releases_changed = a.record.releases != m.releases;
  a.record.releases = m.releases;
  a.busy = m.busy;
  for (const auto& [app, state] : m.health) {
    auto& prev = a.health[app];
    const char* word = protocol::toString(state);
    if (state == protocol::HealthState::kUnhealthy && prev != word) {
      rollouts_->onUnhealthy(app, a.record.id);
    }
    prev = word;
  }
  if (releases_changed) {
    a.record.last_seen_ms = common::toUnixMillis(clock_.systemNow());
    if (auto st = store_->upsertAgent(a.record); !st.ok()) storeFailed(st.error());
  }
}

void Server::onReport(Agent& a, const protocol::Report& m) {
  if (!m.live_version.empty()) a.record.releases[m.app] = m.live_version;
  OrderRef* open = orders_.find(m.order_id);
  if (!open || open->agent_id != a.record.id) {
    spdlog::debug("report for unknown order {} from {}", m.order_id, a.record.id);
    return;
  }
  open->reported = true;
  const OrderRef ref = *open;
  // The agent tries its new binary, then execs it: the connection drops and a
  // new one says hello when the new agent is up. A loaded host may take longer
  // than heartbeat_expiry for that; the old agent's watchdog bounds it. The
  // order's end (a trial that failed, the new agent healthy) ends the wait.
  if (m.app == protocol::kAgentApp) {
    const ActiveRollout* r = m.phase == Phase::kRestarting ? rollouts_->find(ref.rollout_id) : nullptr;
    if (r)
      a.handover_until = clock_.steadyNow() + protocol::handoverSilence(r->plan.health.deadline);
    else if (protocol::isTerminal(m.phase))
      a.handover_until = {};
  }
  if (m.phase == Phase::kRefused) refusals_.count(m.message);
  if (m.phase == Phase::kFailed) artifact_failures_.count(m.message);
  if (protocol::isTerminal(m.phase)) {
    orders_.close(m.order_id);
    if (auto st = store_->upsertAgent(a.record); !st.ok()) storeFailed(st.error());
  }
  rollouts_->onReport(ref, a.record.id, m.phase, m.message);
  // An app's flag set waits for the app on a host (convergence.h): now it runs it.
  if (m.phase == Phase::kHealthy && !protocol::flaggedApp(m.app)) maybeConverge(a, protocol::flagAppOf(m.app));
}

// Chunk reads run on the artifact worker; chunks go straight back to the agent.
void Server::onFetch(Agent& a, const protocol::Fetch& m) { background_->fetch(a.routing_id, m); }

void Server::sweepLiveness(SteadyTime now) {
  for (Agent* a : agents_.silentSince(now, config_.heartbeat_expiry))
    markLost(*a, "no heartbeat for " + common::formatDuration(config_.heartbeat_expiry), now);
  const auto not_back = agents_.notBack(now);
  if (!not_back.empty())
    spdlog::warn(
        "{} known agent(s) not back within {} of this coordinator's start ({} among them): orders held for "
        "them are given up",
        not_back.size(), common::formatDuration(2 * config_.heartbeat_expiry), not_back.front()->record.id);
  for (Agent* a : not_back) rollouts_->onRejoinMissed(a->record.id, now);
}

void Server::markLost(Agent& a, const std::string& why, SteadyTime now) {
  a.online = false;
  spdlog::warn("agent {} lost: {}", a.record.id, why);
  rollouts_->onHostLost(a.record.id, now);
}

void Server::maybeConverge(Agent& a, const std::string& only_app) {
  auto busy = [&](const std::string& app) { return rollouts_->appActive(app) || orders_.busyWith(a.record.id, app); };
  for (const auto& c : convergence_.candidates(a, busy)) {
    const AppRecord& cur = *c.app;
    if (!only_app.empty() && cur.app != only_app) continue;
    auto st = store_->hostState(cur.current_rollout, a.record.id);
    if (!st) {
      storeFailed(st.error());
      continue;
    }
    if (!Convergence::mayConverge(*st)) continue;
    convergence_.markTried(a.record.id, cur);
    auto seq = store_->nextSequence(cur.app);
    if (!seq) {
      storeFailed(seq.error());
      continue;
    }
    OrderRef ref;
    ref.rollout_id = cur.current_rollout;
    ref.agent_id = a.record.id;
    ref.app = cur.app;
    ref.version = cur.current_version;
    ref.sequence = *seq;
    ref.converge = true;
    rollouts_->recordEventFor(cur.current_rollout, "host_converging", a.record.id, -1,
                              Convergence::eventMessage(c, *seq), "coordinator");
    spdlog::info("agent {} converging to {} {}", a.record.id, cur.app, cur.current_version);
    rollouts_->openOrder(std::move(ref));
  }
}

void Server::resendOrders(Agent& a) {
  // A copy: queueOrder does not change the set, but keep the loop independent of it.
  const auto ids = orders_.ofAgent(a.record.id);
  for (const auto& id : ids) rollouts_->queueOrder(id);
}

void Server::retryOrders(SteadyTime now) {
  // An order nobody acknowledged may have been lost with a connection: send it
  // again. The agent recognises a repeat by its id and only reports again.
  for (const auto& id : orders_.dueForRetry(now, config_.order_retry)) {
    const Agent* a = agents_.find(orders_.find(id)->agent_id);
    if (a && a->online) rollouts_->queueOrder(id);
  }
}

}  // namespace flotilla::coordinator
