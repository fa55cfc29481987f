#pragma once
// The release judge (docs/analysis.md): canary hosts against baseline hosts
// over the same window, per metric, then a weighted score. Pure and
// deterministic: no clock, no I/O, no randomness; the same samples give the
// same verdict (which is what lets a restarted coordinator reach the verdict
// the old one would have).
//
// Per metric:
//  - NaN and infinite samples are dropped (for rates, a sample whose num or
//    den is not finite too); for the rank test, outliers beyond Tukey's far
//    fences (3 x IQR) are removed from each group of at least 8 samples (not
//    when the IQR is 0: every value off the mode would go). The count tests
//    keep every sample: there a burst of errors is the signal;
//  - fewer than `min_samples` in the canary: nodata; fewer in the baseline
//    (none at all included): the canary is judged on its absolute bounds
//    alone (test "bound"), nodata without max/min;
//  - counters near zero (a rate metric whose groups' median count per
//    interval is below kNearZeroCount) are judged on the summed counts: a
//    pooled two-proportion z-test when the metric has `per`, else a Poisson
//    rate test (conditional binomial, exact up to 100,000 events, counts
//    rounded to whole events); the tail in the bad direction, doubled (the
//    level of the two-sided rank test), with a Wald interval on the difference. Otherwise a
//    two-sided Mann-Whitney U test (normal approximation with tie and
//    continuity corrections) with the Hodges-Lehmann shift (median of every
//    canary - baseline difference) and its distribution-free confidence
//    interval at `confidence`; the differences are selected, not listed, so
//    large groups (6,000 x 6,000) are exact and fast, with no subsampling;
//  - high (low) when p < 1 - confidence and the change exceeds the tolerance
//    in that direction: relative tolerances against the baseline's level (a
//    zero baseline makes any change exceed), absolute ones in the metric's
//    unit. A change in a direction the metric does not care about passes;
//  - `max` / `min` bound the canary's level (its median, or its pooled ratio
//    or rate for counts) whatever the baseline does; a failed bound decides
//    the verdict (bound_failed).
// Score = 100 x weight of passing metrics / weight of metrics with data.
// Outcome: fail when a critical metric is high/low, or the score is below
// marginal_score; marginal when the score is below pass_score, or a critical
// metric or every metric has no data; else pass.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/protocol/analysis.h"

namespace flotilla::coordinator {

// Below this median count per interval, a rate metric is judged on its sums.
inline constexpr double kNearZeroCount = 5;

// One group's samples of one metric (every host of the group, the window's intervals).
struct GroupSamples {
  std::vector<double> values;
  // For rate metrics: the counts behind each value (Sample::num / Sample::den), same length as values.
  std::vector<double> nums, dens;
  std::size_t hosts = 0;  // hosts that sent at least one sample
};

enum class MetricVerdict { kPass, kHigh, kLow, kNoData };
const char* toString(MetricVerdict v);  // "pass" | "high" | "low" | "nodata"

struct MetricResult {
  std::string metric;
  MetricVerdict verdict = MetricVerdict::kNoData;
  bool critical = false;
  double weight = 1;
  std::string test;                          // "mann-whitney" | "two-proportion" | "poisson" | "bound" | ""
  std::size_t canary_n = 0, baseline_n = 0;  // samples after cleaning
  std::size_t outliers = 0;                  // removed, both groups
  double canary = 0, baseline = 0;           // medians, or pooled ratios/rates for count tests
  double shift = 0;                          // canary - baseline (Hodges-Lehmann for mann-whitney)
  double ci_low = 0, ci_high = 0;            // of the shift
  double p_value = 1;
  std::optional<double> change;  // shift / |baseline|; absent when the baseline is 0
  std::string tolerance;         // "25%" or "0.5"
  std::optional<double> max, min;
  bool bound_failed = false;
  // One sentence for people, the figures beside the threshold: "canary 0.312 vs baseline 0.24 (+30.0%, 95% CI
  // +26.1%..+33.8%, p<0.0001): above tolerance 25%", "canary 0.01 vs baseline 0 (shift +0.01, 95% CI
  // +0.0038..+0.016, two-proportion p=0.00076): above tolerance 25%; canary 10 of 1000, baseline 0 of 1000".
  std::string why;
};

enum class Outcome { kPass, kMarginal, kFail };
const char* toString(Outcome o);  // "pass" | "marginal" | "fail"

struct Verdict {
  Outcome outcome = Outcome::kMarginal;
  double score = 0;
  std::vector<MetricResult> metrics;  // in the plan's order
  std::string reason;                 // for people, names the metrics that decided it
};

MetricResult judgeMetric(const protocol::AnalysisMetric& spec, const GroupSamples& canary, const GroupSamples& baseline,
                         std::size_t min_samples, double confidence);

// `groups[i]` are the canary and baseline samples of spec.metrics[i].
Verdict judge(const protocol::AnalysisSpec& spec, const std::vector<std::pair<GroupSamples, GroupSamples>>& groups);

nlohmann::json toJson(const MetricResult& r);
nlohmann::json toJson(const Verdict& v);

}  // namespace flotilla::coordinator
