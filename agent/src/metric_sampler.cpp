#include "flotilla/agent/metric_sampler.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "flotilla/protocol/analysis.h"

namespace flotilla::agent {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The matching series' values by series key, NaN left out.
std::map<std::string, double> matching(const common::Exposition& scrape, const common::Selector& sel) {
  std::map<std::string, double> out;
  for (const auto& s : scrape.series)
    if (!std::isnan(s.value) && sel.matches(s.name, s.labels)) out[common::seriesKey(s.name, s.labels)] = s.value;
  return out;
}

double sum(const std::map<std::string, double>& values) {
  double total = 0;
  for (const auto& [key, v] : values) total += v;
  return total;
}

std::optional<double> bucketBound(const std::string& le) {
  if (le == "+Inf" || le == "Inf" || le == "inf") return kInf;
  double v = 0;
  auto [end, ec] = std::from_chars(le.data(), le.data() + le.size(), v);
  if (ec != std::errc() || end != le.data() + le.size() || std::isnan(v)) return std::nullopt;
  return v;
}

}  // namespace

double histogramQuantile(double q, const std::map<double, double>& cumulative) {
  if (cumulative.size() < 2 || cumulative.rbegin()->first != kInf) return kNaN;
  std::vector<std::pair<double, double>> buckets(cumulative.begin(), cumulative.end());
  // Counts may be non-monotonic through float error or a scrape that raced
  // an observation; PromQL evens them out the same way.
  for (std::size_t i = 1; i < buckets.size(); ++i)
    buckets[i].second = std::max(buckets[i].second, buckets[i - 1].second);
  const double observations = buckets.back().second;
  if (!(observations > 0)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  double rank = q * observations;
  std::size_t b = 0;
  while (b < buckets.size() - 1 && buckets[b].second < rank) ++b;
  if (b == buckets.size() - 1) return buckets[b - 1].first;
  if (b == 0 && buckets[0].first <= 0) return buckets[0].first;
  double start = 0;
  double count = buckets[b].second;
  if (b > 0) {
    start = buckets[b - 1].first;
    count -= buckets[b - 1].second;
    rank -= buckets[b - 1].second;
  }
  return start + (buckets[b].first - start) * (rank / count);
}

Result<MetricSampler> MetricSampler::create(const protocol::ScrapeMetric& metric) {
  using K = protocol::AnalysisMetric::Kind;
  Kind kind;
  switch (static_cast<K>(metric.kind)) {
    case K::kRate:
      kind = Kind::kRate;
      break;
    case K::kGauge:
      kind = Kind::kGauge;
      break;
    case K::kHistogram:
      kind = Kind::kHistogram;
      break;
    default:
      return Error(Errc::kInvalidArgument, "metric " + metric.name + ": kind " + std::to_string(metric.kind) +
                                               " cannot be scraped (rate, gauge or histogram)");
  }
  auto series = common::parseSelector(metric.series);
  if (!series) return series.error().context("metric " + metric.name);
  std::optional<common::Selector> per;
  if (kind == Kind::kRate && !metric.per.empty()) {
    auto p = common::parseSelector(metric.per);
    if (!p) return p.error().context("metric " + metric.name + ": per");
    per = std::move(*p);
  }
  return MetricSampler(metric, kind, std::move(*series), std::move(per));
}

MetricSampler::MetricSampler(protocol::ScrapeMetric metric, Kind kind, common::Selector series,
                             std::optional<common::Selector> per)
    : metric_(std::move(metric)), kind_(kind), series_(std::move(series)), per_(std::move(per)), bucket_(series_) {
  bucket_.name += "_bucket";
}

MetricSampler::Values MetricSampler::increases(Values& previous, Values current) {
  Values out;
  for (const auto& [key, v] : current) {
    auto it = previous.find(key);
    if (it == previous.end())
      out[key] = 0;  // new since the last scrape: counts from here
    else
      out[key] = v >= it->second ? v - it->second : v;  // fell: a reset, counted from 0
  }
  previous = std::move(current);
  return out;
}

std::optional<protocol::Sample> MetricSampler::observe(const common::Exposition& scrape, common::SteadyTime now,
                                                       std::int64_t at_ms) {
  if (kind_ == Kind::kGauge) return gauge(scrape, at_ms);
  const auto last = last_;
  last_ = now;
  if (kind_ == Kind::kRate) {
    if (!last) {
      last_series_ = matching(scrape, series_);
      if (per_) last_per_ = matching(scrape, *per_);
      return std::nullopt;
    }
    return rate(scrape, std::chrono::duration<double>(now - *last).count(), at_ms);
  }
  if (!last) {
    last_buckets_ = matching(scrape, bucket_);
    return std::nullopt;
  }
  return histogram(scrape, at_ms);
}

std::optional<protocol::Sample> MetricSampler::rate(const common::Exposition& scrape, double seconds,
                                                    std::int64_t at_ms) {
  protocol::Sample s;
  s.metric = metric_.name;
  s.at_ms = at_ms;
  s.num = sum(increases(last_series_, matching(scrape, series_)));
  s.den = per_ ? sum(increases(last_per_, matching(scrape, *per_))) : seconds;
  if (!(s.den > 0)) return std::nullopt;
  s.value = s.num / s.den;
  return s;
}

std::optional<protocol::Sample> MetricSampler::gauge(const common::Exposition& scrape, std::int64_t at_ms) const {
  auto values = matching(scrape, series_);
  if (values.empty()) return std::nullopt;
  protocol::Sample s;
  s.metric = metric_.name;
  s.at_ms = at_ms;
  s.value = sum(values);
  return s;
}

std::optional<protocol::Sample> MetricSampler::histogram(const common::Exposition& scrape, std::int64_t at_ms) {
  // Each bucket series' increase, then summed by upper bound across the
  // matching label sets.
  std::map<std::string, double> bound_of;
  for (const auto& ser : scrape.series) {
    if (!bucket_.matches(ser.name, ser.labels)) continue;
    auto le = ser.labels.find("le");
    if (le == ser.labels.end()) continue;
    if (auto b = bucketBound(le->second)) bound_of[common::seriesKey(ser.name, ser.labels)] = *b;
  }
  std::map<double, double> cumulative;
  for (const auto& [key, inc] : increases(last_buckets_, matching(scrape, bucket_))) {
    auto b = bound_of.find(key);
    if (b != bound_of.end()) cumulative[b->second] += inc;
  }
  const double q = histogramQuantile(metric_.quantile, cumulative);
  if (std::isnan(q)) return std::nullopt;
  protocol::Sample s;
  s.metric = metric_.name;
  s.at_ms = at_ms;
  s.value = q;
  s.num = cumulative.rbegin()->second;
  return s;
}

}  // namespace flotilla::agent
