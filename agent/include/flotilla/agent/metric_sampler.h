#pragma once
// Turns successive scrapes of an app's /metrics into samples of one analysis
// metric (protocol::ScrapeMetric). Pure: fed parsed scrapes and the time they
// were taken, no I/O; one instance per metric and request, owned and called by
// one thread (the agent's sampler thread, or a test).
//
//  - rate: the per-second rate of the SUM of the counters matching `series`,
//    over the time since the previous successful scrape. Each series counts
//    its own increase: a value that fell is a counter reset and counts its new
//    value; a series that appears later counts from its first value only; a
//    series that disappears stops counting. num = the summed increase, den =
//    the summed increase of `per`'s counters (value = num/den, no sample when
//    den is 0) or the interval's seconds without `per`. No series matching is a
//    rate of 0, not a missing sample.
//  - gauge: the sum of the matching series (num = den = 0); none matching is
//    no sample.
//  - histogram: the `quantile` of the observations made in the interval, from
//    the increases of the matching `<series>_bucket` counters summed by `le`
//    and interpolated linearly inside the bucket, like PromQL's
//    histogram_quantile. num = the observations in the interval, den = 0. No
//    observations (or no +Inf bucket) is no sample.
// The first scrape only sets the starting point of rates and histograms; after
// a failed scrape the next interval spans from the last good one. NaN values
// are skipped, and timestamps in the body are ignored: intervals are the
// agent's own scrape times.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "flotilla/common/clock.h"
#include "flotilla/common/prom_exposition.h"
#include "flotilla/common/prom_text.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::agent {

// histogram_quantile over cumulative buckets (upper bound -> count); NaN when
// there are fewer than two buckets, no +Inf bucket or no observations.
double histogramQuantile(double q, const std::map<double, double>& cumulative);

class MetricSampler {
 public:
  // kInvalidArgument when a selector does not parse or the kind is unknown.
  static Result<MetricSampler> create(const protocol::ScrapeMetric& metric);

  // One successful scrape taken at `now` (steady, for intervals) and `at_ms`
  // (unix milliseconds, the sample's time).
  std::optional<protocol::Sample> observe(const common::Exposition& scrape, common::SteadyTime now, std::int64_t at_ms);

  const std::string& name() const { return metric_.name; }

 private:
  enum class Kind { kRate, kGauge, kHistogram };
  using Values = std::map<std::string, double>;  // seriesKey -> value

  MetricSampler(protocol::ScrapeMetric metric, Kind kind, common::Selector series, std::optional<common::Selector> per);

  // Each series' increase since `previous` (0 for a series new since then);
  // `previous` becomes `current`.
  static Values increases(Values& previous, Values current);
  std::optional<protocol::Sample> rate(const common::Exposition& scrape, double seconds, std::int64_t at_ms);
  std::optional<protocol::Sample> gauge(const common::Exposition& scrape, std::int64_t at_ms) const;
  std::optional<protocol::Sample> histogram(const common::Exposition& scrape, std::int64_t at_ms);

  protocol::ScrapeMetric metric_;
  Kind kind_;
  common::Selector series_;
  std::optional<common::Selector> per_;
  common::Selector bucket_;  // histogram: `<series>_bucket` with the same matchers
  std::optional<common::SteadyTime> last_;
  Values last_series_;
  Values last_per_;
  Values last_buckets_;
};

}  // namespace flotilla::agent
