// Rollout's save and restore: its state as JSON in the store, so a restarted
// coordinator resumes every rollout where it stood.
#include "flotilla/coordinator/rollout.h"

#include "rollout_state_names.h"

namespace flotilla::coordinator {

namespace {

using FromWall = std::function<common::SteadyTime(std::int64_t)>;

// The waves' progress onto `waves` as the plan laid them out; the stored waves
// must cover the same hosts.
Status restoreWaves(std::vector<WaveSlot>& waves, std::size_t current, const nlohmann::json& stored,
                    const FromWall& from_wall) {
  auto bad = [](const std::string& what) { return Error(Errc::kCorrupt, what); };
  if (!stored.is_array() || stored.size() != waves.size())
    return bad("it has " + std::to_string(stored.is_array() ? stored.size() : 0) + " waves; its plan gives " +
               std::to_string(waves.size()));
  if (current >= waves.size() && !waves.empty()) return bad("current wave out of range");
  for (std::size_t i = 0; i < waves.size(); ++i) {
    auto& w = waves[i];
    const auto& j = stored[i];
    if (j.at("begin").get<std::size_t>() != w.begin || j.at("end").get<std::size_t>() != w.end)
      return bad("wave " + std::to_string(i) + " holds other hosts than its plan gives");
    auto ws = waveStateFromString(j.at("state").get<std::string>());
    if (!ws) return bad("wave " + std::to_string(i) + ": unknown state");
    w.state = *ws;
    w.next = j.at("next").get<std::size_t>();
    w.in_flight = j.at("in_flight").get<std::size_t>();
    w.healthy = j.at("healthy").get<std::size_t>();
    w.failed = j.at("failed").get<std::size_t>();
    w.unreachable = j.at("unreachable").get<std::size_t>();
    if (w.next < w.begin || w.next > w.end) return bad("wave " + std::to_string(i) + ": next host out of range");
    w.started = from_wall(j.at("started_ms").get<std::int64_t>());
    w.deadline = from_wall(j.at("deadline_ms").get<std::int64_t>());
    w.bake_until = from_wall(j.at("bake_until_ms").get<std::int64_t>());
  }
  return okStatus();
}

// The stored host rows replace the fresh slots; each must sit in the wave the plan gives it.
Status restoreHosts(std::vector<HostSlot>& slots, std::vector<HostSlot> stored) {
  for (std::size_t i = 0; i < stored.size(); ++i) {
    auto& slot = slots[i];
    if (stored[i].wave != slot.wave) {
      return Error(Errc::kCorrupt, "host " + slot.agent_id + " is stored in another wave");
    }
    slot = std::move(stored[i]);
  }
  return okStatus();
}

// Hosts dispatched whose order was never stored (the coordinator stopped
// before that chunk committed) are still dispatched: the caller issues
// their orders (deploying, no order id).
void redispatchUnstoredOrders(const std::vector<WaveSlot>& waves, std::vector<HostSlot>& hosts) {
  for (const auto& w : waves)
    for (std::size_t i = w.begin; i < w.next; ++i)
      if (hosts[i].state == HostState::kPending) {
        hosts[i].state = HostState::kDeploying;
        hosts[i].moved = true;
      }
}

}  // namespace

void Rollout::extendDeadlines(common::SteadyTime not_before) {
  if (!waves_.empty()) {
    auto& w = waves_[current_];
    if (w.state == WaveState::kRunning && w.deadline < not_before) w.deadline = not_before;
    // An analysed wave lost the samples taken while the coordinator was down,
    // and its hosts start sampling afresh when they are asked again: it bakes
    // one more analysis window after they have had time to reconnect.
    if (w.state == WaveState::kBaking && analysing() && w.bake_until < not_before + *config_.analysis_window)
      w.bake_until = not_before + *config_.analysis_window;
  }
  if (state_ == RolloutState::kRollingBack && rollback_deadline_ < not_before) rollback_deadline_ = not_before;
}

nlohmann::json Rollout::saveState(const std::function<std::int64_t(common::SteadyTime)>& to_wall) const {
  nlohmann::json waves = nlohmann::json::array();
  for (const auto& w : waves_) {
    waves.push_back({{"state", toString(w.state)},
                     {"begin", w.begin},
                     {"end", w.end},
                     {"next", w.next},
                     {"in_flight", w.in_flight},
                     {"healthy", w.healthy},
                     {"failed", w.failed},
                     {"unreachable", w.unreachable},
                     {"started_ms", to_wall(w.started)},
                     {"deadline_ms", to_wall(w.deadline)},
                     {"bake_until_ms", to_wall(w.bake_until)}});
  }
  return {{"state", toString(state_)},
          {"current", current_},
          {"failure_pending", failure_pending_},
          {"analysis_done", analysis_done_},
          {"analysis_paused", analysis_paused_},
          {"held", held_},
          {"rollback_outstanding", rollback_outstanding_},
          {"rollback_deadline_ms", to_wall(rollback_deadline_)},
          {"paused_at_ms", to_wall(paused_at_)},
          {"final_message", final_message_},
          {"waves", std::move(waves)}};
}

Result<std::unique_ptr<Rollout>> Rollout::restore(Config config, std::vector<HostSlot> hosts,
                                                  const nlohmann::json& state,
                                                  const std::function<common::SteadyTime(std::int64_t)>& from_wall) {
  const std::string context = "stored state of rollout " + config.id;
  try {
    std::vector<std::string> ids;
    ids.reserve(hosts.size());
    for (const auto& h : hosts) ids.push_back(h.agent_id);
    auto r = std::make_unique<Rollout>(std::move(config), std::move(ids), std::map<std::string, std::string>{});
    r->drainDirtyHosts();  // nothing new to write: the rows came from the store
    auto st = rolloutStateFromString(state.at("state").get<std::string>());
    if (!st) return Error(Errc::kCorrupt, "unknown state").context(context);
    r->state_ = *st;
    r->current_ = state.at("current").get<std::size_t>();
    r->failure_pending_ = state.at("failure_pending").get<bool>();
    // Absent in state saved before analysis existed: no wave had a verdict.
    r->analysis_done_ = state.value("analysis_done", false);
    r->analysis_paused_ = state.value("analysis_paused", false);
    r->held_ = state.value("held", false);
    r->rollback_outstanding_ = state.at("rollback_outstanding").get<std::size_t>();
    r->rollback_deadline_ = from_wall(state.at("rollback_deadline_ms").get<std::int64_t>());
    r->paused_at_ = from_wall(state.at("paused_at_ms").get<std::int64_t>());
    r->final_message_ = state.at("final_message").get<std::string>();
    if (Status s = restoreWaves(r->waves_, r->current_, state.at("waves"), from_wall); !s) {
      return s.error().context(context);
    }
    if (Status s = restoreHosts(r->hosts_, std::move(hosts)); !s) return s.error().context(context);
    redispatchUnstoredOrders(r->waves_, r->hosts_);
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Error(Errc::kCorrupt, e.what()).context(context);
  }
}

}  // namespace flotilla::coordinator
