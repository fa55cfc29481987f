#include "flotilla/coordinator/rollout.h"

#include <algorithm>

#include "flotilla/common/duration.h"

namespace flotilla::coordinator {

using protocol::Phase;

Rollout::Rollout(Config config, std::vector<std::string> hosts, const std::map<std::string, std::string>& previous)
    : config_(std::move(config)) {
  auto ends = planWaveEnds(config_.policy.sizes, hosts.size());
  hosts_.reserve(hosts.size());
  std::size_t begin = 0;
  for (std::size_t w = 0; w < ends.size(); ++w) {
    WaveSlot slot;
    slot.index = w;
    slot.begin = begin;
    slot.end = ends[w];
    slot.next = begin;
    slot.max_failed = resolveBudget(config_.policy.max_failed, slot.size());
    slot.max_unreachable = resolveBudget(config_.policy.max_unreachable, slot.size());
    for (std::size_t i = begin; i < slot.end; ++i) {
      HostSlot h;
      h.agent_id = hosts[i];
      h.wave = w;
      if (auto it = previous.find(h.agent_id); it != previous.end()) h.previous_version = it->second;
      index_.emplace(h.agent_id, hosts_.size());
      hosts_.push_back(std::move(h));
    }
    waves_.push_back(slot);
    begin = slot.end;
  }
  // A new rollout's hosts all go to the store once.
  host_dirty_.assign(hosts_.size(), true);
  dirty_hosts_.resize(hosts_.size());
  for (std::size_t i = 0; i < hosts_.size(); ++i) dirty_hosts_[i] = i;
}

HostSlot& Rollout::touch(std::size_t idx) {
  if (!host_dirty_[idx]) {
    host_dirty_[idx] = true;
    dirty_hosts_.push_back(idx);
  }
  return hosts_[idx];
}

void Rollout::markAllDirty() {
  for (std::size_t i = 0; i < hosts_.size(); ++i) touch(i);
}

std::vector<std::size_t> Rollout::drainDirtyHosts() {
  std::vector<std::size_t> out;
  out.swap(dirty_hosts_);
  for (auto i : out) host_dirty_[i] = false;
  return out;
}

void Rollout::setOrder(const std::string& agent_id, const std::string& order_id, std::uint64_t sequence) {
  auto it = index_.find(agent_id);
  if (it == index_.end()) return;
  auto& h = touch(it->second);
  h.order_id = order_id;
  h.sequence = sequence;
}

const HostSlot* Rollout::host(const std::string& agent_id) const {
  auto it = index_.find(agent_id);
  return it == index_.end() ? nullptr : &hosts_[it->second];
}

void Rollout::event(std::string kind, std::string message, std::string agent, int wave) {
  RolloutAction a;
  a.kind = RolloutAction::Kind::kEvent;
  a.event = std::move(kind);
  a.message = std::move(message);
  a.agent_id = std::move(agent);
  a.wave = wave;
  actions_.push_back(std::move(a));
}

std::vector<RolloutAction> Rollout::drainActions() {
  std::vector<RolloutAction> out;
  out.swap(actions_);
  return out;
}

void Rollout::awaitApproval(const std::string& why) {
  if (state_ != RolloutState::kPending) return;
  state_ = RolloutState::kAwaitingApproval;
  event("awaiting_approval", why);
}

void Rollout::start(common::SteadyTime now) {
  if (state_ != RolloutState::kPending && state_ != RolloutState::kAwaitingApproval) return;
  state_ = RolloutState::kRunning;
  event("rollout_started", std::to_string(hosts_.size()) + " hosts in " + std::to_string(waves_.size()) + " waves");
  if (waves_.empty()) {
    finish(RolloutState::kSucceeded, "no hosts to deploy");
    return;
  }
  if (!hold_reason_.empty()) {
    waves_[0].state = WaveState::kAwaitingApproval;
    held_ = true;
    event("awaiting_approval",
          "wave 0 waits for " + hold_reason_ + " to end (or `flotilla promote " + config_.id + "`)", {}, 0);
    return;
  }
  startWave(0, now);
}

void Rollout::startWave(std::size_t w, common::SteadyTime now) {
  current_ = w;
  analysis_done_ = false;
  verdict_asked_ = false;
  auto& wave = waves_[w];
  wave.state = WaveState::kRunning;
  wave.started = now;
  wave.deadline = now + config_.policy.deadline;
  event("wave_started",
        std::to_string(wave.size()) + " hosts (max_failed " + std::to_string(wave.max_failed) + ", max_unreachable " +
            std::to_string(wave.max_unreachable) + ")",
        {}, static_cast<int>(w));
  dispatch(now);
}

void Rollout::dispatch(common::SteadyTime now) {
  if (state_ != RolloutState::kRunning) return;
  auto& wave = waves_[current_];
  if (wave.state != WaveState::kRunning || overBudget(wave)) return;
  while (wave.in_flight < config_.policy.max_parallel && wave.next < wave.end) {
    // Not marked for the store here: the coordinator stores the host with its
    // order id when it sends one (setOrder), and restore() recognises hosts
    // dispatched without one.
    auto& h = hosts_[wave.next++];
    h.state = HostState::kDeploying;
    h.moved = true;
    ++wave.in_flight;
    RolloutAction a;
    a.kind = RolloutAction::Kind::kDeploy;
    a.agent_id = h.agent_id;
    a.wave = static_cast<int>(current_);
    actions_.push_back(std::move(a));
  }
  evaluateWave(now);
}

bool Rollout::overBudget(const WaveSlot& w) const {
  return w.failed > w.max_failed || w.unreachable > w.max_unreachable;
}

void Rollout::onHostPhase(const std::string& agent_id, bool rollback_order, Phase phase, const std::string& message,
                          common::SteadyTime now) {
  auto it = index_.find(agent_id);
  if (it == index_.end()) return;
  std::size_t idx = it->second;
  auto& h = hosts_[idx];
  int wave = static_cast<int>(h.wave);
  if (rollback_order) {
    if (h.state != HostState::kRollingBack) return;
    h.phase = protocol::toString(phase);
    if (!protocol::isTerminal(phase)) {
      event("host_phase", std::string("rollback: ") + protocol::toString(phase), agent_id, wave);
      return;
    }
    rollbackHostDone(idx, phase == Phase::kHealthy, message);
    maybeFinishRollback(now);
    return;
  }
  if (h.state != HostState::kDeploying) return;  // late report after a deadline or loss: already counted
  h.phase = protocol::toString(phase);
  if (!protocol::isTerminal(phase)) {
    event("host_phase", protocol::toString(phase), agent_id, wave);
    return;
  }
  touch(idx);
  switch (phase) {
    case Phase::kHealthy:
      hostDone(idx, HostState::kHealthy, message, now);
      break;
    case Phase::kReverted:
    case Phase::kFailed:
    case Phase::kRefused:
      // The host is on its previous release already (reverted itself, or never switched).
      h.reverted_itself = true;
      hostDone(idx, HostState::kFailed, std::string(protocol::toString(phase)) + ": " + message, now);
      break;
    default:
      hostDone(idx, HostState::kFailed, std::string(protocol::toString(phase)) + ": " + message, now);
      break;
  }
}

void Rollout::hostDone(std::size_t idx, HostState result, const std::string& message, common::SteadyTime now) {
  auto& h = touch(idx);
  auto& wave = waves_[h.wave];
  if (h.state == HostState::kDeploying && wave.in_flight > 0) --wave.in_flight;
  h.state = result;
  h.message = message;
  switch (result) {
    case HostState::kHealthy:
      ++wave.healthy;
      event("host_healthy", message, h.agent_id, static_cast<int>(h.wave));
      break;
    case HostState::kFailed:
      ++wave.failed;
      event("host_failed", message, h.agent_id, static_cast<int>(h.wave));
      break;
    case HostState::kUnreachable:
      ++wave.unreachable;
      event("host_unreachable", message, h.agent_id, static_cast<int>(h.wave));
      break;
    default:
      break;
  }
  if (h.wave != current_ || state_ == RolloutState::kRollingBack || finished()) return;
  evaluateWave(now);
  if (state_ == RolloutState::kRunning && waves_[current_].state == WaveState::kRunning) dispatch(now);
}

void Rollout::evaluateWave(common::SteadyTime now) {
  auto& w = waves_[current_];
  if (w.state == WaveState::kRunning || w.state == WaveState::kBaking) {
    if (overBudget(w)) {
      failWave(std::to_string(w.failed) + " failed (budget " + std::to_string(w.max_failed) + "), " +
                   std::to_string(w.unreachable) + " unreachable (budget " + std::to_string(w.max_unreachable) + ")",
               now);
      return;
    }
  }
  if (w.state == WaveState::kRunning && w.done() == w.size()) {
    w.state = WaveState::kBaking;
    // An analysed wave bakes long enough for min_samples samples per host.
    auto bake = config_.policy.bake;
    if (config_.analysis_window) bake = std::max(bake, *config_.analysis_window);
    w.bake_until = now + bake;
    if (bake.count() > 0)
      event("wave_baking", "bake " + common::formatDuration(bake) + (config_.analysis_window ? ", analysed" : ""), {},
            static_cast<int>(current_));
    tick(now);
  }
}

void Rollout::failWave(const std::string& why, common::SteadyTime now) {
  auto& w = waves_[current_];
  w.state = WaveState::kFailed;
  event("wave_failed", why, {}, static_cast<int>(current_));
  switch (config_.policy.on_failure) {
    case protocol::OnFailure::kRollback:
      startRollback(now);
      break;
    case protocol::OnFailure::kPause:
      state_ = RolloutState::kPaused;
      failure_pending_ = true;
      event("rollout_paused", "on_failure = pause: resume to continue, or roll back / abort");
      break;
    case protocol::OnFailure::kHalt:
      finish(RolloutState::kFailed, "wave " + std::to_string(current_) + " failed: " + why);
      break;
  }
}

void Rollout::onHostLost(const std::string& agent_id, common::SteadyTime now) {
  auto it = index_.find(agent_id);
  if (it == index_.end()) return;
  auto& h = hosts_[it->second];
  if (h.state == HostState::kDeploying) {
    hostDone(it->second, HostState::kUnreachable, "host lost", now);
  } else if (h.state == HostState::kRollingBack) {
    // Its rollback order is resent when it comes back; only the rollback
    // deadline gives up on it.
    event("host_lost", "lost during rollback; its order is resent when it returns, until the rollback deadline",
          agent_id, static_cast<int>(h.wave));
  } else if (h.state == HostState::kHealthy && h.wave == current_ &&
             (waves_[current_].state == WaveState::kBaking || waves_[current_].state == WaveState::kRunning)) {
    // A host of the current wave counts until the wave is over, not just once it bakes.
    auto& w = waves_[current_];
    --w.healthy;
    h.state = HostState::kDeploying;  // hostDone counts it as unreachable
    ++w.in_flight;
    hostDone(it->second, HostState::kUnreachable, "host lost during bake", now);
  }
}

void Rollout::onHostUnhealthy(const std::string& agent_id, common::SteadyTime now) {
  auto it = index_.find(agent_id);
  if (it == index_.end()) return;
  auto& h = hosts_[it->second];
  const auto ws = waves_[current_].state;
  if (h.state != HostState::kHealthy || h.wave != current_ || (ws != WaveState::kBaking && ws != WaveState::kRunning))
    return;
  auto& w = waves_[current_];
  --w.healthy;
  h.state = HostState::kDeploying;
  ++w.in_flight;
  hostDone(it->second, HostState::kFailed, "unhealthy during bake", now);
}

void Rollout::tick(common::SteadyTime now) {
  if (finished()) return;
  if (state_ == RolloutState::kRollingBack) {
    if (now >= rollback_deadline_) {
      for (std::size_t i = 0; i < hosts_.size(); ++i)
        if (hosts_[i].state == HostState::kRollingBack) rollbackHostDone(i, false, "rollback deadline passed");
      maybeFinishRollback(now);
    }
    return;
  }
  auto& w = waves_[current_];
  if (state_ == RolloutState::kRunning && w.state == WaveState::kRunning && now >= w.deadline) {
    std::size_t timed_out = 0;
    for (std::size_t i = w.begin; i < w.next; ++i) {
      if (hosts_[i].state != HostState::kDeploying) continue;
      auto& h = touch(i);
      h.state = HostState::kFailed;
      h.message = "wave deadline passed in phase " + (h.phase.empty() ? std::string("dispatch") : h.phase);
      ++w.failed;
      ++timed_out;
      event("host_failed", h.message, h.agent_id, static_cast<int>(current_));
    }
    w.in_flight = 0;
    failWave("deadline " + common::formatDuration(config_.policy.deadline) + " passed with " +
                 std::to_string(w.size() - w.done() + timed_out) + " hosts unfinished",
             now);
    return;
  }
  if (state_ != RolloutState::kRunning) return;  // a paused rollout does not advance
  if (w.state == WaveState::kBaking && now >= w.bake_until) {
    if (config_.analysis_window && !analysis_done_) {
      if (!verdict_asked_) {
        verdict_asked_ = true;
        RolloutAction a;
        a.kind = RolloutAction::Kind::kAnalyze;
        a.wave = static_cast<int>(current_);
        actions_.push_back(std::move(a));
      }
      return;  // onVerdict decides
    }
    w.state = WaveState::kSucceeded;
    event("wave_succeeded",
          std::to_string(w.healthy) + " healthy, " + std::to_string(w.failed) + " failed, " +
              std::to_string(w.unreachable) + " unreachable",
          {}, static_cast<int>(current_));
    if (current_ + 1 == waves_.size()) {
      finish(RolloutState::kSucceeded, "all " + std::to_string(waves_.size()) + " waves succeeded");
      return;
    }
    if (config_.policy.approval == protocol::Approval::kManual || !hold_reason_.empty()) {
      current_ += 1;
      waves_[current_].state = WaveState::kAwaitingApproval;
      held_ = config_.policy.approval != protocol::Approval::kManual;
      event("awaiting_approval",
            "wave " + std::to_string(current_) + " waits for " +
                (held_ ? hold_reason_ + " to end (or `flotilla promote " + config_.id + "`)"
                       : "`flotilla promote " + config_.id + "`"),
            {}, static_cast<int>(current_));
      return;
    }
    startWave(current_ + 1, now);
  }
}

std::optional<common::SteadyTime> Rollout::nextDeadline() const {
  if (finished()) return std::nullopt;
  if (state_ == RolloutState::kRollingBack) return rollback_deadline_;
  const auto& w = waves_[current_];
  if (state_ == RolloutState::kPaused) return std::nullopt;  // nothing is due while paused
  if (w.state == WaveState::kRunning) return w.deadline;
  if (w.state == WaveState::kBaking && state_ == RolloutState::kRunning && !verdict_asked_) return w.bake_until;
  return std::nullopt;
}

void Rollout::setHold(const std::string& reason, common::SteadyTime now) {
  if (reason == hold_reason_) return;
  hold_reason_ = reason;
  if (!reason.empty() || !held_ || state_ != RolloutState::kRunning) return;
  if (waves_[current_].state != WaveState::kAwaitingApproval) return;
  held_ = false;
  event("hold_lifted", "the gate that held wave " + std::to_string(current_) + " is open again", {},
        static_cast<int>(current_));
  startWave(current_, now);
}

bool Rollout::analysing() const {
  if (!config_.analysis_window || finished() || analysis_done_ || waves_.empty()) return false;
  const auto ws = waves_[current_].state;
  return ws == WaveState::kRunning || ws == WaveState::kBaking;
}

void Rollout::onVerdict(AnalysisDecision d, const std::string& message, common::SteadyTime now) {
  if (state_ != RolloutState::kRunning || !analysing()) return;
  auto& w = waves_[current_];
  switch (d) {
    case AnalysisDecision::kFail:
      analysis_done_ = true;
      failWave("analysis: " + message, now);
      return;
    case AnalysisDecision::kPause:
      if (w.state != WaveState::kBaking || now < w.bake_until) return;  // only a final verdict pauses
      analysis_done_ = true;
      analysis_paused_ = true;
      state_ = RolloutState::kPaused;
      paused_at_ = now;
      event("rollout_paused", "analysis inconclusive: " + message + "; resume to accept wave " +
                                  std::to_string(current_) + ", or roll back");
      return;
    case AnalysisDecision::kPass:
      if (w.state != WaveState::kBaking || now < w.bake_until) return;
      analysis_done_ = true;
      tick(now);
      return;
  }
}

std::string Rollout::gate(common::SteadyTime now) const {
  if (finished()) return "";
  if (state_ == RolloutState::kAwaitingApproval) return "approvals (flotilla approve " + config_.id + ")";
  if (state_ == RolloutState::kPaused)
    return failure_pending_ ? "paused after a failure"
                            : (analysis_paused_ ? "paused: analysis inconclusive (resume accepts the wave)" : "paused");
  if (state_ == RolloutState::kRollingBack) return "rolling back";
  const auto& w = waves_[current_];
  switch (w.state) {
    case WaveState::kBaking: {
      if (verdict_asked_ && !analysis_done_) return "analysis verdict";
      auto left = std::chrono::duration_cast<common::Millis>(w.bake_until - now);
      return "bake " + common::formatDuration(std::max(left, common::Millis(0))) + " left" +
             (analysing() ? " (analysed)" : "");
    }
    case WaveState::kAwaitingApproval:
      return "approval (flotilla promote " + config_.id + ")";
    case WaveState::kRunning:
      return "deploying";
    default:
      return "";
  }
}

Status Rollout::pause(common::SteadyTime now) {
  if (state_ != RolloutState::kRunning)
    return Error(Errc::kConflict,
                 std::string("rollout is ") + toString(state_) + "; only a running rollout can be paused");
  state_ = RolloutState::kPaused;
  paused_at_ = now;
  event("rollout_paused", "paused by operator");
  return {};
}

Status Rollout::resume(common::SteadyTime now) {
  if (state_ != RolloutState::kPaused)
    return Error(Errc::kConflict,
                 std::string("rollout is ") + toString(state_) + "; only a paused rollout can be resumed");
  state_ = RolloutState::kRunning;
  {
    // Time spent paused does not count against the wave's deadline. It does
    // count as bake: the hosts stayed up and kept being checked meanwhile.
    waves_[current_].deadline += now - paused_at_;
  }
  event("rollout_resumed", failure_pending_   ? "resumed past a failed wave by operator"
                           : analysis_paused_ ? "resumed by operator: wave " + std::to_string(current_) +
                                                    " accepted despite an inconclusive analysis"
                                              : "resumed by operator");
  analysis_paused_ = false;
  if (failure_pending_) {
    failure_pending_ = false;
    // The operator accepted the failed wave; go on with the next one.
    if (current_ + 1 == waves_.size()) {
      finish(RolloutState::kFailed, "last wave failed; resumed with nothing left to deploy");
      return {};
    }
    startWave(current_ + 1, now);
    return {};
  }
  auto& w = waves_[current_];
  if (w.state == WaveState::kRunning)
    dispatch(now);
  else
    tick(now);
  return {};
}

Status Rollout::promote(common::SteadyTime now) {
  if (state_ != RolloutState::kRunning)
    return Error(Errc::kConflict,
                 std::string("rollout is ") + toString(state_) + "; only a running rollout can be promoted");
  auto& w = waves_[current_];
  if (w.state == WaveState::kAwaitingApproval) {
    held_ = false;
    event("promoted", "wave " + std::to_string(current_) + " approved by operator", {}, static_cast<int>(current_));
    startWave(current_, now);
    return {};
  }
  if (w.state == WaveState::kBaking) {
    event("promoted", "bake of wave " + std::to_string(current_) + " cut short by operator", {},
          static_cast<int>(current_));
    w.bake_until = now;
    if (analysing()) {
      analysis_done_ = true;
      event("analysis_skipped", "wave " + std::to_string(current_) + " promoted by operator before its verdict", {},
            static_cast<int>(current_));
    }
    auto approval = config_.policy.approval;
    config_.policy.approval = protocol::Approval::kAuto;  // the operator's promote is the approval
    tick(now);
    config_.policy.approval = approval;
    return {};
  }
  return Error(Errc::kConflict, "wave " + std::to_string(current_) + " is " + toString(w.state) +
                                    "; promote applies to a wave that is baking or awaiting approval");
}

Status Rollout::abort(common::SteadyTime) {
  if (finished()) return Error(Errc::kConflict, std::string("rollout already ") + toString(state_));
  finish(RolloutState::kAborted, "aborted by operator; hosts keep the release they have");
  return {};
}

Status Rollout::rollback(common::SteadyTime now) {
  if (state_ == RolloutState::kAwaitingApproval)
    return Error(Errc::kConflict, "rollout awaits approvals and has deployed nothing; abort it instead");
  if (finished() || state_ == RolloutState::kRollingBack)
    return Error(Errc::kConflict, std::string("rollout is ") + toString(state_) + "; cannot roll it back");
  event("rollback_requested", "rollback requested by operator");
  startRollback(now);
  return {};
}

void Rollout::startRollback(common::SteadyTime now) {
  state_ = RolloutState::kRollingBack;
  rollback_deadline_ = now + config_.rollback_deadline;
  rollback_outstanding_ = 0;
  std::size_t moved = 0;
  for (std::size_t i = 0; i < hosts_.size(); ++i) {
    if (!hosts_[i].moved || hosts_[i].reverted_itself) continue;
    auto& h = touch(i);
    ++moved;
    if (h.previous_version.empty()) {
      h.state = HostState::kRollbackFailed;
      h.message = "no previous release to roll back to";
      event("host_rollback_failed", h.message, h.agent_id, static_cast<int>(h.wave));
      continue;
    }
    h.state = HostState::kRollingBack;
    ++rollback_outstanding_;
    RolloutAction a;
    a.kind = RolloutAction::Kind::kRollback;
    a.agent_id = h.agent_id;
    a.wave = static_cast<int>(h.wave);
    actions_.push_back(std::move(a));
  }
  event("rollback_started", std::to_string(rollback_outstanding_) + " of " + std::to_string(moved) +
                                " moved hosts going back to their previous release");
  maybeFinishRollback(now);
}

void Rollout::rollbackHostDone(std::size_t idx, bool ok, const std::string& message) {
  if (hosts_[idx].state != HostState::kRollingBack) return;
  auto& h = touch(idx);
  if (rollback_outstanding_ > 0) --rollback_outstanding_;
  h.state = ok ? HostState::kRolledBack : HostState::kRollbackFailed;
  h.message = message;
  event(ok ? "host_rolled_back" : "host_rollback_failed", message, h.agent_id, static_cast<int>(h.wave));
}

void Rollout::maybeFinishRollback(common::SteadyTime) {
  if (state_ != RolloutState::kRollingBack || rollback_outstanding_ > 0) return;
  std::size_t failed = 0;
  for (const auto& h : hosts_)
    if (h.state == HostState::kRollbackFailed) ++failed;
  if (failed > 0)
    finish(RolloutState::kFailed, std::to_string(failed) + " hosts could not be rolled back");
  else
    finish(RolloutState::kRolledBack, "every moved host is back on its previous release");
}

void Rollout::finish(RolloutState s, const std::string& message) {
  state_ = s;
  final_message_ = message;
  event(std::string("rollout_") + toString(s), message);
}

}  // namespace flotilla::coordinator
