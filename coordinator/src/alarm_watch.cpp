#include "flotilla/coordinator/alarm_watch.h"

#include <spdlog/spdlog.h>

namespace flotilla::coordinator {

namespace {

// Long enough that a query is never skipped: one alarm has at most one query
// in flight, so no backlog can build.
constexpr common::Millis kNoSkipBudget = std::chrono::hours(1);
// An answer slower than this is an error (on_error decides).
constexpr common::Millis kQueryTimeout = std::chrono::seconds(5);

// parseQueryReply's message for a vector without series: quiet, not an error.
const std::string& emptyVectorMessage() {
  static const std::string message =
      parseQueryReply(R"({"status":"success","data":{"resultType":"vector","result":[]}})").error().message;
  return message;
}

bool running(const ActiveRollout& r) {
  const auto s = r.engine->state();
  return s == RolloutState::kPending || s == RolloutState::kRunning;
}

}  // namespace

AlarmWatch::AlarmWatch(zmq::context_t& ctx, const common::Clock& clock, std::vector<AlarmPolicy> alarms, Hooks hooks)
    : clock_(clock), hooks_(std::move(hooks)) {
  for (auto& a : alarms) alarms_.push_back({std::move(a)});
  if (!alarms_.empty()) source_ = std::make_unique<PrometheusSource>(ctx, kQueryTimeout);
}

bool AlarmWatch::coversActive(const AlarmPolicy& alarm) const {
  for (const ActiveRollout* r : hooks_.rollouts())
    if (!isFinished(r->engine->state()) && alarmCovers(alarm, r->plan)) return true;
  return false;
}

void AlarmWatch::tick(common::SteadyTime now) {
  for (std::size_t i = 0; i < alarms_.size(); ++i) {
    Watched& w = alarms_[i];
    if (w.in_flight || now < w.next_due || !coversActive(w.policy)) continue;
    PrometheusQuery q;
    q.metric = std::to_string(i);  // which alarm, when the answer comes back
    q.server = w.policy.prometheus;
    q.query = w.policy.query;
    source_->submit({std::move(q)}, kNoSkipBudget);
    w.in_flight = true;
    w.next_due = now + w.policy.interval;
  }
}

std::optional<common::SteadyTime> AlarmWatch::nextDue() const {
  std::optional<common::SteadyTime> next;
  for (const Watched& w : alarms_)
    if (!w.in_flight && (!next || w.next_due < *next) && coversActive(w.policy)) next = w.next_due;
  return next;
}

void AlarmWatch::drain() {
  source_->drain([this](const PrometheusResult& r) {
    const std::size_t i = std::stoul(r.query.metric);
    if (i >= alarms_.size()) return;
    Watched& w = alarms_[i];
    w.in_flight = false;
    AlarmReading reading{r.ok, !r.ok && r.error == emptyVectorMessage(), r.value, r.error};
    act(w.policy, decideAlarm(w.policy, reading));
  });
}

void AlarmWatch::act(const AlarmPolicy& alarm, const AlarmDecision& d) {
  if (d.action == AlarmAction::kNone) return;
  if (d.action == AlarmAction::kLogOnly) {
    spdlog::warn("{}", d.why);
    return;
  }
  for (ActiveRollout* r : hooks_.rollouts()) {
    if (!alarmCovers(alarm, r->plan)) continue;
    const auto state = r->engine->state();
    const bool rollback = d.action == AlarmAction::kRollback;
    // A paused rollout is rolled back too; one already stopping is left alone.
    if (!running(*r) && !(rollback && state == RolloutState::kPaused)) continue;
    const auto now = clock_.steadyNow();
    const Status st = rollback ? r->engine->rollback(now) : r->engine->pause(now);
    if (!st.ok()) {
      spdlog::warn("{} ({}): {}", d.why, r->record.id, st.error().message);
      continue;
    }
    hooks_.acted(*r, rollback ? "policy_alarm_rollback" : "policy_alarm_pause", d.why, "policy");
  }
}

}  // namespace flotilla::coordinator
