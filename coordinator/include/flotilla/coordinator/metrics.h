#pragma once
// Delivery metrics (DESIGN.md section 7, docs/metrics.md): the four DORA keys
// (deployment frequency, lead time for changes, change failure rate,
// failed-deployment recovery time) for the fleet and per app over a window,
// each placed in a performance band of the 2024 Accelerate State of DevOps
// report, with the number of rollouts it rests on.
//
// Pure: computeDora reads no clock and no store. The caller passes the rollout
// records (any order, any states) and `now`; the same input always gives the
// same report, so every figure can be checked by hand. Safe to call from any
// thread; nothing here holds state.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {

inline constexpr std::int64_t kMsPerDay = 86'400'000;

// Better to worse; kNone is "n/a": the key has no data in the window.
enum class DoraBand { kElite, kHigh, kMedium, kLow, kNone };

// "elite" | "high" | "medium" | "low" | "n/a"
const char* toString(DoraBand b);

// The placement rules of docs/metrics.md ("Bands"). Each takes the raw figure
// and returns exactly one band, so overlapping clusters never make a value
// ambiguous. Comparisons are exact (integers, or milliseconds held exactly).
//
// Deployment frequency: elite >= 1/day, high >= 1/week, medium >= 1/30 days,
// low below (including none). `days` >= 1.
DoraBand deploymentFrequencyBand(std::int64_t deployments, int days);
// Lead time (median, ms): elite < 1 day, high < 7 days, medium < 30 days, low.
DoraBand leadTimeBand(double median_ms);
// Change failure rate, nearest cluster by the report's typical rates (elite 5%,
// medium 10%, high 20%, low 40%), cut at the midpoints: elite <= 7.5%,
// medium <= 15%, high <= 30%, low above. kNone when finished == 0.
DoraBand changeFailureRateBand(std::int64_t failed, std::int64_t finished);
// Recovery time (median, ms): elite < 1 hour, high < 1 day, low otherwise
// (medium shares high's bound in the report and is never chosen).
DoraBand recoveryTimeBand(double median_ms);

struct DeploymentFrequency {
  double per_day = 0.0;           // deployments / window days
  std::int64_t deployments = 0;   // successful rollouts finished in the window
  std::int64_t flag_changes = 0;  // of those, flag rollouts (pushes and kills)
  DoraBand band = DoraBand::kLow;
};

struct LeadTime {
  std::optional<double> median_seconds;  // empty: no successful rollout in the window
  std::int64_t rollouts = 0;             // successful rollouts the median rests on
  std::int64_t from_submission = 0;      // of those, measured from submission (no committed_at)
  DoraBand band = DoraBand::kNone;
};

struct ChangeFailureRate {
  std::optional<double> rate;    // failed / finished; empty when finished == 0
  std::int64_t failed = 0;       // "failed" + "rolled_back"
  std::int64_t flag_failed = 0;  // of those, flag changes (rolled back, or remedied by a kill)
  std::int64_t finished = 0;     // "succeeded" + "failed" + "rolled_back"
  std::int64_t aborted = 0;      // counted apart, in neither of the above
  DoraBand band = DoraBand::kNone;
};

struct RecoveryTime {
  std::optional<double> median_seconds;  // empty: no recovered failure
  std::int64_t recoveries = 0;           // failures in the window followed by a success
  std::int64_t unrecovered = 0;          // failures in the window with no later success yet
  DoraBand band = DoraBand::kNone;
};

// Deployment rework rate, the fifth key of DORA's 2024 report: the share of
// deployments that were unplanned, made to fix a production problem. A
// deployment is a successful rollout; it is unplanned when its plan says
// `[change] unplanned = true` or when it is a rollback to an earlier release.
// DORA gives this key no bands yet.
struct ReworkRate {
  std::optional<double> rate;    // unplanned / deployments; empty when there is no deployment
  std::int64_t unplanned = 0;    // unplanned successful rollouts finished in the window
  std::int64_t deployments = 0;  // successful rollouts finished in the window
};

struct ScopeMetrics {
  DeploymentFrequency deployment_frequency;
  LeadTime lead_time;
  ChangeFailureRate change_failure_rate;
  RecoveryTime recovery_time;
  ReworkRate rework_rate;
};

struct MetricsQuery {
  std::string app;          // empty = the fleet and every app
  int days = 30;            // window length, >= 1
  std::int64_t now_ms = 0;  // window end (Unix ms, inclusive), > 0
};

struct DoraReport {
  std::string app;  // the query's app filter ("" = fleet)
  int window_days = 30;
  std::int64_t window_start_ms = 0;   // exclusive: now - days
  std::int64_t generated_at_ms = 0;   // inclusive window end: the query's now
  std::optional<ScopeMetrics> fleet;  // set only when the query has no app
  // Without an app filter: every app that has a record in the input. With one:
  // exactly that app, even when it has no record (all figures then empty).
  std::map<std::string, ScopeMetrics> apps;
};

// Flag rollouts (app "flags:web") count as deployments of their app ("web"),
// and a kill makes the flag push it remedies a failure that the kill recovers
// (docs/metrics.md "Flag rollouts"); the figures say how many were flag changes.
// Window: a rollout counts when its state is terminal ("succeeded", "failed",
// "rolled_back", "aborted"), finished_at_ms > 0 and
// now - days*86400s < finished_at_ms <= now. Running rollouts and records
// finished after `now` are ignored. A failure's recovery is the same app's
// first success finishing strictly after it and no later than `now`.
// Errors: kInvalidArgument when days < 1 or now_ms <= 0.
Result<DoraReport> computeDora(const std::vector<RolloutRecord>& records, const MetricsQuery& q);

// {"app":null|"web","window_days":30,"window_start":RFC3339,"generated_at":RFC3339,
//  "fleet":{scope}|null,"apps":{"web":{scope}}}; field names in docs/metrics.md.
// Durations in seconds; a figure without data is null and its band "n/a".
nlohmann::json toJson(const DoraReport& r);

// Prometheus text exposition format (0.0.4): HELP and TYPE lines, one gauge
// family per figure; fleet samples carry no `app` label, app samples carry
// app="<name>". Figures without data are left out rather than exported as NaN.
std::string toPrometheus(const DoraReport& r);

}  // namespace flotilla::coordinator
