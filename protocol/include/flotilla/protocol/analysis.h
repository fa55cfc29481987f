#pragma once
// Release analysis in a plan (docs/analysis.md): which metrics of the app are
// sampled on canary and baseline hosts while a wave bakes, and how the judge
// turns them into a verdict. Read from the plan's [analysis] table and its
// [[analysis.metric]] entries (plan.cpp); pure data.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"

namespace flotilla::protocol {

struct AnalysisMetric {
  // Where samples come from: the app's own Prometheus text endpoint, read by
  // the agent on its host, or a Prometheus server the coordinator queries.
  enum class Source { kScrape, kPrometheus };
  // What a sample is. kRate: per-second rate of the summed counters matching
  // `series` over one interval (divided by the rate of `per` when set);
  // kGauge: the sum of the matching gauges; kHistogram: the `quantile` of the
  // matching histogram's observations in one interval; kQuery: the value of a
  // PromQL query (summed over the series it returns).
  enum class Kind { kRate, kGauge, kHistogram, kQuery };
  // Which change is bad.
  enum class Direction { kIncrease, kDecrease, kEither };

  std::string name;  // [a-z0-9_]{1,64}, unique in the plan
  Source source = Source::kScrape;
  std::string scrape;      // kScrape: "http://127.0.0.1:${PORT}/metrics" (loopback only)
  std::string prometheus;  // kPrometheus: "http://HOST:9090"
  Kind kind = Kind::kRate;
  std::string series;      // a selector like 'http_requests_total{code=~"5.."}', or the PromQL query
  std::string per;         // kRate: optional denominator selector (a ratio)
  double quantile = 0.99;  // kHistogram, in (0, 1)
  Direction direction = Direction::kIncrease;
  // A change against the baseline that still passes: relative ("25%" = 0.25
  // of the baseline's level) or, when !tolerance_relative, absolute in the
  // metric's unit.
  bool tolerance_relative = true;
  double tolerance = 0.10;
  std::optional<double> max;  // absolute bound on canary hosts (an SLO)
  std::optional<double> min;
  bool critical = false;  // failing it fails the wave whatever the score
  double weight = 1;      // > 0, its share of the score
};

struct AnalysisSpec {
  common::Millis interval{std::chrono::seconds(10)};  // one sample per host and metric per interval
  std::size_t min_samples = 6;                        // per group before a metric can have a verdict
  double pass_score = 95;                             // score >= this: the wave may go on
  double marginal_score = 75;                         // [marginal, pass): pause for an operator; below: fail
  double confidence = 0.95;                           // of the interval on the shift, in (0.5, 1)
  std::vector<AnalysisMetric> metrics;                // at least one

  // How long a wave without a longer bake is sampled: enough intervals for
  // min_samples rate samples (a counter's first scrape gives none).
  common::Millis window() const { return interval * static_cast<long>(min_samples + 1); }
};

const char* toString(AnalysisMetric::Kind k);       // "rate" | "gauge" | "histogram" | "query"
const char* toString(AnalysisMetric::Direction d);  // "increase" | "decrease" | "either"
const char* toString(AnalysisMetric::Source s);     // "scrape" | "prometheus"
// "25%" or "0.5".
std::string toleranceText(const AnalysisMetric& m);

}  // namespace flotilla::protocol
