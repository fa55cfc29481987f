#include "flotilla/coordinator/control_docs.h"

#include "flotilla/common/duration.h"

namespace flotilla::coordinator {

namespace control = protocol::control;

std::optional<std::string> timeOrNull(std::int64_t ms) {
  if (ms <= 0) return std::nullopt;
  return common::formatRfc3339(common::fromUnixMillis(ms));
}

std::string gateOf(const ActiveRollout& r, common::SteadyTime now) {
  if (!r.approval || r.engine->state() != RolloutState::kAwaitingApproval) return r.engine->gate(now);
  const auto& a = *r.approval;
  return "approvals " + std::to_string(a.approvals.size()) + " of " + std::to_string(a.required) +
         " (flotilla approve " + r.record.id + ")";
}

control::RolloutStatus statusDoc(const ActiveRollout& r, bool with_hosts, common::SteadyTime now) {
  const auto& eng = *r.engine;
  control::RolloutStatus s;
  s.id = r.record.id;
  s.app = r.plan.app;
  s.version = r.plan.version;
  s.state = toString(eng.state());
  s.gate = gateOf(r, now);
  s.current_wave = eng.currentWave();
  s.submitted_by = r.record.submitted_by;
  s.submitted_at = timeOrNull(r.record.submitted_at_ms);
  s.started_at = timeOrNull(r.record.started_at_ms);
  s.finished_at = timeOrNull(r.record.finished_at_ms);
  s.message = eng.finalMessage();
  for (const auto& w : eng.waves())
    s.waves.push_back({w.index, w.size(), w.done(), w.healthy, w.failed, w.unreachable, w.max_failed, w.max_unreachable,
                       toString(w.state)});
  if (with_hosts) {
    s.hosts.emplace();
    for (const auto& h : eng.hosts())
      s.hosts->push_back({h.agent_id, h.wave, toString(h.state), h.phase, h.previous_version, h.message});
  }
  if (r.approval) {
    // The reactor drops expired approvals every second (RolloutDriver::sweepApprovals).
    control::ApprovalsDoc a{
        r.approval->required, r.approval->approvals.size(), {}, common::formatDuration(r.approval->ttl)};
    for (const auto& x : r.approval->approvals) a.by.push_back(x.by);
    s.approvals = std::move(a);
  }
  return s;
}

control::RolloutStatus finishedStatusDoc(const RolloutRecord& rec) {
  auto snap = nlohmann::json::parse(rec.snapshot, nullptr, false);
  control::RolloutStatus s = control::storedRolloutStatus(snap);
  s.id = rec.id;
  s.state = rec.state;
  s.finished_at = timeOrNull(rec.finished_at_ms);
  s.message = rec.message;
  s.gate = "";
  return s;
}

control::EventDoc eventDoc(const EventRecord& e) {
  control::EventDoc d;
  d.seq = e.seq;
  d.rollout = e.rollout_id;
  d.at = timeOrNull(e.at_ms).value_or("");
  d.kind = e.kind;
  d.message = e.message;
  if (!e.agent_id.empty()) d.agent = e.agent_id;
  if (e.wave >= 0) d.wave = e.wave;
  if (!e.actor.empty()) d.actor = e.actor;
  return d;
}

control::HistoryEntry historyEntry(const RolloutRecord& r) {
  control::HistoryEntry h;
  h.id = r.id;
  h.app = r.app;
  h.version = r.version;
  h.state = r.state;
  h.submitted_by = r.submitted_by;
  h.submitted_at = timeOrNull(r.submitted_at_ms);
  h.started_at = timeOrNull(r.started_at_ms);
  h.finished_at = timeOrNull(r.finished_at_ms);
  h.message = r.message;
  h.commit = r.commit;
  if (r.committed_at_ms) h.committed_at = timeOrNull(*r.committed_at_ms);
  if (r.finished_at_ms > 0 && r.submitted_at_ms > 0)
    h.duration = static_cast<double>(r.finished_at_ms - r.submitted_at_ms) / 1000.0;
  return h;
}

control::AgentDoc agentDoc(const Agent& a) {
  control::AgentDoc d;
  d.id = a.record.id;
  d.state = a.displayState();
  d.labels = a.record.labels;
  d.releases = a.record.releases;
  d.health = a.health;
  d.key = a.record.curve_key.substr(0, 16);
  if (!a.busy.empty()) d.busy = a.busy;
  d.last_seen = timeOrNull(a.record.last_seen_ms);
  return d;
}

Result<control::AnalysisWaveDoc> analysisWaveDoc(nlohmann::json verdict, std::int64_t wave, bool final,
                                                 std::optional<std::string> at) {
  if (!verdict.is_object())
    return Error(Errc::kInternal, "stored verdict of wave " + std::to_string(wave) + " is not an object");
  verdict["wave"] = wave;
  verdict["final"] = final;
  verdict["at"] = at ? nlohmann::json(*at) : nlohmann::json(nullptr);
  auto doc = control::parseReply<control::AnalysisWaveDoc>(verdict);
  if (!doc)
    return Error(Errc::kInternal, "stored verdict of wave " + std::to_string(wave) + ": " + doc.error().message);
  return *doc;
}

}  // namespace flotilla::coordinator
