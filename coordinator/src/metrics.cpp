// DORA delivery metrics over rollout records (docs/metrics.md).
#include "flotilla/coordinator/metrics.h"
#include "flotilla/coordinator/prometheus_writer.h"

#include <algorithm>
#include <string_view>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/flag_plan.h"
#include "flotilla/coordinator/rollout.h"
#include "flotilla/protocol/flag_app.h"

namespace flotilla::coordinator {

using nlohmann::json;

namespace {

constexpr std::int64_t kMsPerHour = 3'600'000;

// Median of exact millisecond values; the mean of the two middle values for an
// even count. Values stay below 2^53, so the result is exact (at most .5 ms).
std::optional<double> medianMs(std::vector<std::int64_t> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  std::size_t mid = v.size() / 2;
  if (v.size() % 2 == 1) return static_cast<double>(v[mid]);
  return (static_cast<double>(v[mid - 1]) + static_cast<double>(v[mid])) / 2.0;
}

std::optional<double> toSeconds(const std::optional<double>& ms) {
  if (!ms) return std::nullopt;
  return *ms / 1000.0;
}

// One finished rollout, reduced to what the metrics need.
struct Finished {
  const RolloutRecord* record;
  RolloutState state;
  bool flag = false;  // a flag rollout (a push or a kill) of its app
};

bool isKill(const RolloutRecord& r) { return r.plan_name.rfind(kFlagKillPlanPrefix, 0) == 0; }

// A kill aborts the push it supersedes in the request that submits it; an
// abort further from the kill's submission than this was an operator's.
constexpr std::int64_t kSupersedeSlackMs = 5'000;

// Whether the kill `k` remedies the push `p` (its newest one submitted before the kill).
bool remedies(const RolloutRecord& p, const RolloutRecord& k) {
  if (p.finished_at_ms <= 0) return false;
  if (p.state == "succeeded") return true;
  return p.state == "aborted" && p.finished_at_ms + kSupersedeSlackMs >= k.submitted_at_ms;
}

// The records as the metrics count them (docs/metrics.md "Flag rollouts"): a
// flag rollout of "flags:web" is a deployment of web, and the flag push a
// kill remedies (the app's newest push submitted before the kill, if it
// succeeded or the kill aborted it) is a failed change, failed when the kill
// was submitted, so the kill that follows is its recovery.
std::vector<RolloutRecord> asCounted(const std::vector<RolloutRecord>& records, std::vector<bool>& flag) {
  std::vector<RolloutRecord> out = records;
  flag.assign(out.size(), false);
  std::map<std::string, std::vector<std::size_t>> pushes, kills;  // by app, indexes into out
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto app = protocol::flaggedApp(out[i].app);
    if (!app) continue;
    out[i].app = *app;
    flag[i] = true;
    (isKill(out[i]) ? kills : pushes)[*app].push_back(i);
  }
  for (auto& [app, ks] : kills) {
    auto& ps = pushes[app];
    for (std::size_t k : ks) {
      RolloutRecord* remedied = nullptr;
      for (std::size_t p : ps)
        if (out[p].submitted_at_ms < out[k].submitted_at_ms &&
            (!remedied || out[p].submitted_at_ms > remedied->submitted_at_ms))
          remedied = &out[p];
      if (!remedied || !remedies(*remedied, out[k])) continue;
      remedied->state = "failed";
      remedied->finished_at_ms = std::max(remedied->finished_at_ms, out[k].submitted_at_ms);
    }
  }
  return out;
}

// A success is a deployment and, when its start is known, joins the lead-time sample.
void countSuccess(const RolloutRecord& r, bool flag, ScopeMetrics& m, std::vector<std::int64_t>& lead_ms) {
  ++m.deployment_frequency.deployments;
  if (flag) ++m.deployment_frequency.flag_changes;
  ++m.change_failure_rate.finished;
  ++m.rework_rate.deployments;
  if (r.unplanned) ++m.rework_rate.unplanned;
  std::int64_t from = 0;
  if (r.committed_at_ms && *r.committed_at_ms > 0) {
    from = *r.committed_at_ms;
  } else if (r.submitted_at_ms > 0) {
    from = r.submitted_at_ms;
    ++m.lead_time.from_submission;
  } else {
    return;  // no usable start time: left out of the lead-time sample
  }
  lead_ms.push_back(std::max<std::int64_t>(0, r.finished_at_ms - from));
}

// A failure counts against the change failure rate; the app's next success,
// if there is one, ends its recovery.
void countFailure(const RolloutRecord& r, bool flag, const std::map<std::string, std::vector<std::int64_t>>& successes,
                  ScopeMetrics& m, std::vector<std::int64_t>& recovery_ms) {
  ++m.change_failure_rate.failed;
  if (flag) ++m.change_failure_rate.flag_failed;
  ++m.change_failure_rate.finished;
  auto it = successes.find(r.app);
  const std::int64_t* next = nullptr;
  if (it != successes.end()) {
    auto s = std::upper_bound(it->second.begin(), it->second.end(), r.finished_at_ms);
    if (s != it->second.end()) next = &*s;
  }
  if (next) {
    recovery_ms.push_back(*next - r.finished_at_ms);
  } else {
    ++m.recovery_time.unrecovered;
  }
}

// The rates, medians and bands from the counts and samples.
void summarize(ScopeMetrics& m, std::vector<std::int64_t> lead_ms, std::vector<std::int64_t> recovery_ms, int days) {
  DeploymentFrequency& df = m.deployment_frequency;
  df.per_day = static_cast<double>(df.deployments) / static_cast<double>(days);
  df.band = deploymentFrequencyBand(df.deployments, days);

  std::optional<double> lead = medianMs(lead_ms);
  m.lead_time.rollouts = static_cast<std::int64_t>(lead_ms.size());
  m.lead_time.median_seconds = toSeconds(lead);
  m.lead_time.band = lead ? leadTimeBand(*lead) : DoraBand::kNone;

  ChangeFailureRate& cfr = m.change_failure_rate;
  if (cfr.finished > 0) cfr.rate = static_cast<double>(cfr.failed) / static_cast<double>(cfr.finished);
  cfr.band = changeFailureRateBand(cfr.failed, cfr.finished);

  ReworkRate& rework = m.rework_rate;
  if (rework.deployments > 0)
    rework.rate = static_cast<double>(rework.unplanned) / static_cast<double>(rework.deployments);

  std::optional<double> recovery = medianMs(recovery_ms);
  m.recovery_time.recoveries = static_cast<std::int64_t>(recovery_ms.size());
  m.recovery_time.median_seconds = toSeconds(recovery);
  m.recovery_time.band = recovery ? recoveryTimeBand(*recovery) : DoraBand::kNone;
}

// Every figure for one scope. `in_window` holds the scope's finished rollouts
// in the window; `successes` maps each app of the scope to the finish times of
// all its successes up to now (in or before the window), sorted, for recovery.
ScopeMetrics computeScope(const std::vector<Finished>& in_window,
                          const std::map<std::string, std::vector<std::int64_t>>& successes, int days) {
  ScopeMetrics m;
  std::vector<std::int64_t> lead_ms;
  std::vector<std::int64_t> recovery_ms;
  for (const Finished& f : in_window) {
    switch (f.state) {
      case RolloutState::kSucceeded:
        countSuccess(*f.record, f.flag, m, lead_ms);
        break;
      case RolloutState::kFailed:
      case RolloutState::kRolledBack:
        countFailure(*f.record, f.flag, successes, m, recovery_ms);
        break;
      case RolloutState::kAborted:
        ++m.change_failure_rate.aborted;
        break;
      default:
        break;  // not finished: filtered out before
    }
  }
  summarize(m, std::move(lead_ms), std::move(recovery_ms), days);
  return m;
}

json orNull(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json scopeJson(const ScopeMetrics& m) {
  const auto& df = m.deployment_frequency;
  const auto& lt = m.lead_time;
  const auto& cfr = m.change_failure_rate;
  const auto& rt = m.recovery_time;
  const auto& rw = m.rework_rate;
  return {{"deployment_frequency",
           {{"per_day", df.per_day},
            {"deployments", df.deployments},
            {"flag_changes", df.flag_changes},
            {"band", toString(df.band)}}},
          {"lead_time",
           {{"median_seconds", orNull(lt.median_seconds)},
            {"rollouts", lt.rollouts},
            {"from_submission", lt.from_submission},
            {"band", toString(lt.band)}}},
          {"change_failure_rate",
           {{"rate", orNull(cfr.rate)},
            {"failed", cfr.failed},
            {"flag_failed", cfr.flag_failed},
            {"finished", cfr.finished},
            {"aborted", cfr.aborted},
            {"band", toString(cfr.band)}}},
          {"recovery_time",
           {{"median_seconds", orNull(rt.median_seconds)},
            {"recoveries", rt.recoveries},
            {"unrecovered", rt.unrecovered},
            {"band", toString(rt.band)}}},
          {"rework_rate", {{"rate", orNull(rw.rate)}, {"unplanned", rw.unplanned}, {"deployments", rw.deployments}}}};
}

// A scope's labels (none for the fleet, app="web" for an app) and its figures.
using Scope = std::pair<PrometheusWriter::Labels, const ScopeMetrics*>;

template <typename Get>
void family(PrometheusWriter& out, const std::vector<Scope>& scopes, const char* name, const char* help, Get get) {
  out.family(name, "gauge", help);
  for (const auto& [scope_labels, m] : scopes)
    if (std::optional<std::string> value = get(*m)) out.sample(name, scope_labels, std::string_view(*value));
}

std::optional<std::string> num(double v) { return PrometheusWriter::number(v); }
std::optional<std::string> num(std::int64_t v) { return std::to_string(v); }
std::optional<std::string> num(const std::optional<double>& v) {
  if (!v) return std::nullopt;
  return PrometheusWriter::number(*v);
}

}  // namespace

const char* toString(DoraBand b) {
  switch (b) {
    case DoraBand::kElite:
      return "elite";
    case DoraBand::kHigh:
      return "high";
    case DoraBand::kMedium:
      return "medium";
    case DoraBand::kLow:
      return "low";
    case DoraBand::kNone:
      return "n/a";
  }
  return "n/a";
}

DoraBand deploymentFrequencyBand(std::int64_t deployments, int days) {
  // deployments/days >= 1, >= 1/7, >= 1/30, compared without division.
  if (deployments >= days) return DoraBand::kElite;
  if (deployments * 7 >= days) return DoraBand::kHigh;
  if (deployments * 30 >= days) return DoraBand::kMedium;
  return DoraBand::kLow;
}

DoraBand leadTimeBand(double median_ms) {
  if (median_ms < static_cast<double>(kMsPerDay)) return DoraBand::kElite;
  if (median_ms < static_cast<double>(7 * kMsPerDay)) return DoraBand::kHigh;
  if (median_ms < static_cast<double>(30 * kMsPerDay)) return DoraBand::kMedium;
  return DoraBand::kLow;
}

DoraBand changeFailureRateBand(std::int64_t failed, std::int64_t finished) {
  if (finished <= 0) return DoraBand::kNone;
  // failed/finished <= 3/40 (7.5%), <= 3/20 (15%), <= 3/10 (30%), exactly.
  if (failed * 40 <= finished * 3) return DoraBand::kElite;
  if (failed * 20 <= finished * 3) return DoraBand::kMedium;
  if (failed * 10 <= finished * 3) return DoraBand::kHigh;
  return DoraBand::kLow;
}

DoraBand recoveryTimeBand(double median_ms) {
  if (median_ms < static_cast<double>(kMsPerHour)) return DoraBand::kElite;
  if (median_ms < static_cast<double>(kMsPerDay)) return DoraBand::kHigh;
  return DoraBand::kLow;
}

Result<DoraReport> computeDora(const std::vector<RolloutRecord>& records, const MetricsQuery& q) {
  if (q.days < 1)
    return Error(Errc::kInvalidArgument, "metrics window must be at least 1 day, got " + std::to_string(q.days));
  if (q.now_ms <= 0) return Error(Errc::kInvalidArgument, "metrics: now must be a positive Unix time in ms");

  DoraReport report;
  report.app = q.app;
  report.window_days = q.days;
  report.generated_at_ms = q.now_ms;
  report.window_start_ms = q.now_ms - static_cast<std::int64_t>(q.days) * kMsPerDay;

  std::vector<Finished> fleet_window;
  std::map<std::string, std::vector<Finished>> app_window;
  std::map<std::string, std::vector<std::int64_t>> successes;
  if (!q.app.empty()) app_window[q.app];  // asked for: reported even without records

  std::vector<bool> flag;
  const std::vector<RolloutRecord> counted = asCounted(records, flag);
  for (std::size_t i = 0; i < counted.size(); ++i) {
    const RolloutRecord& r = counted[i];
    if (!q.app.empty() && r.app != q.app) continue;
    if (q.app.empty()) app_window[r.app];  // every app seen is reported
    std::optional<RolloutState> st = rolloutStateFromString(r.state);
    if (!st || !isFinished(*st) || r.finished_at_ms <= 0 || r.finished_at_ms > q.now_ms) continue;
    if (*st == RolloutState::kSucceeded) successes[r.app].push_back(r.finished_at_ms);
    if (r.finished_at_ms <= report.window_start_ms) continue;
    fleet_window.push_back({&r, *st, flag[i]});
    app_window[r.app].push_back({&r, *st, flag[i]});
  }
  for (auto& [app, times] : successes) std::sort(times.begin(), times.end());

  if (q.app.empty()) report.fleet = computeScope(fleet_window, successes, q.days);
  for (const auto& [app, window] : app_window) report.apps[app] = computeScope(window, successes, q.days);
  return report;
}

json toJson(const DoraReport& r) {
  json apps = json::object();
  for (const auto& [app, m] : r.apps) apps[app] = scopeJson(m);
  return {{"app", r.app.empty() ? json(nullptr) : json(r.app)},
          {"window_days", r.window_days},
          {"window_start", common::formatRfc3339(common::fromUnixMillis(r.window_start_ms))},
          {"generated_at", common::formatRfc3339(common::fromUnixMillis(r.generated_at_ms))},
          {"fleet", r.fleet ? scopeJson(*r.fleet) : json(nullptr)},
          {"apps", std::move(apps)}};
}

std::string toPrometheus(const DoraReport& r) {
  std::vector<Scope> scopes;
  if (r.fleet) scopes.emplace_back(PrometheusWriter::Labels{}, &*r.fleet);
  for (const auto& [app, m] : r.apps) scopes.emplace_back(PrometheusWriter::Labels{{"app", app}}, &m);

  PrometheusWriter out;
  // Prometheus wants base units: the window in seconds.
  out.family("flotilla_dora_window_seconds", "gauge", "Length of the window the DORA figures cover.");
  out.sample("flotilla_dora_window_seconds", static_cast<std::uint64_t>(r.window_days) * 86400);

  family(out, scopes, "flotilla_dora_deployment_frequency_per_day", "Successful rollouts per day over the window.",
         [](const ScopeMetrics& m) { return num(m.deployment_frequency.per_day); });
  family(out, scopes, "flotilla_dora_deployments", "Successful rollouts finished in the window.",
         [](const ScopeMetrics& m) { return num(m.deployment_frequency.deployments); });
  family(out, scopes, "flotilla_dora_flag_deployments",
         "Of the successful rollouts in the window, the flag rollouts (pushes and kills, docs/flags.md).",
         [](const ScopeMetrics& m) { return num(m.deployment_frequency.flag_changes); });
  family(out, scopes, "flotilla_dora_lead_time_seconds",
         "Median time from commit (or submission, when the plan has no committed_at) to a successful rollout's end.",
         [](const ScopeMetrics& m) { return num(m.lead_time.median_seconds); });
  family(out, scopes, "flotilla_dora_lead_time_rollouts", "Successful rollouts the lead-time median rests on.",
         [](const ScopeMetrics& m) { return num(m.lead_time.rollouts); });
  family(out, scopes, "flotilla_dora_lead_time_from_submission",
         "Successful rollouts whose lead time was measured from submission (no committed_at).",
         [](const ScopeMetrics& m) { return num(m.lead_time.from_submission); });
  family(out, scopes, "flotilla_dora_change_failure_rate",
         "Failed or rolled-back rollouts over finished rollouts in the window (aborted excluded).",
         [](const ScopeMetrics& m) { return num(m.change_failure_rate.rate); });
  family(out, scopes, "flotilla_dora_change_failures", "Failed or rolled-back rollouts finished in the window.",
         [](const ScopeMetrics& m) { return num(m.change_failure_rate.failed); });
  family(out, scopes, "flotilla_dora_flag_change_failures",
         "Of the failures in the window, the flag changes (rolled back, or remedied by a kill).",
         [](const ScopeMetrics& m) { return num(m.change_failure_rate.flag_failed); });
  family(out, scopes, "flotilla_dora_finished_rollouts",
         "Succeeded, failed or rolled-back rollouts finished in the window (aborted excluded).",
         [](const ScopeMetrics& m) { return num(m.change_failure_rate.finished); });
  family(out, scopes, "flotilla_dora_aborted_rollouts", "Aborted rollouts finished in the window.",
         [](const ScopeMetrics& m) { return num(m.change_failure_rate.aborted); });
  family(out, scopes, "flotilla_dora_recovery_time_seconds",
         "Median time from a failed rollout's end to the app's next successful rollout's end.",
         [](const ScopeMetrics& m) { return num(m.recovery_time.median_seconds); });
  family(out, scopes, "flotilla_dora_recoveries", "Failures in the window followed by a successful rollout.",
         [](const ScopeMetrics& m) { return num(m.recovery_time.recoveries); });
  family(out, scopes, "flotilla_dora_unrecovered_failures",
         "Failures in the window not yet followed by a successful rollout.",
         [](const ScopeMetrics& m) { return num(m.recovery_time.unrecovered); });

  family(out, scopes, "flotilla_dora_rework_rate",
         "Deployment rework rate (DORA 2024): unplanned successful rollouts (plan [change] unplanned, or a rollback "
         "to an earlier release) over successful rollouts in the window.",
         [](const ScopeMetrics& m) { return num(m.rework_rate.rate); });
  family(out, scopes, "flotilla_dora_unplanned_deployments",
         "Unplanned successful rollouts finished in the window (the rework rate's numerator).",
         [](const ScopeMetrics& m) { return num(m.rework_rate.unplanned); });

  out.family("flotilla_dora_band", "gauge",
             "DORA performance band of each key (2024 Accelerate State of DevOps report); "
             "always 1, the band is in the label.");
  for (const auto& [scope_labels, m] : scopes) {
    const std::pair<const char*, DoraBand> keys[] = {{"deployment_frequency", m->deployment_frequency.band},
                                                     {"lead_time", m->lead_time.band},
                                                     {"change_failure_rate", m->change_failure_rate.band},
                                                     {"recovery_time", m->recovery_time.band}};
    for (const auto& [key, band] : keys) {
      PrometheusWriter::Labels labels = scope_labels;
      labels.emplace_back("key", key);
      labels.emplace_back("band", toString(band));
      out.sample("flotilla_dora_band", labels, 1);
    }
  }
  return out.take();
}

}  // namespace flotilla::coordinator
