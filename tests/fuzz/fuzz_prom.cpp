// libFuzzer target: an app's /metrics body (Prometheus text format 0.0.4) as
// the agent's sampler reads it. The parse either fails with an error naming
// the line, or yields series within the limits; every parsed body then goes
// through the rate, ratio, gauge and histogram samplers twice (no crash).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string_view>
#include <utility>

#include "flotilla/agent/metric_sampler.h"
#include "flotilla/common/prom_exposition.h"
#include "fuzz_support.h"

namespace {

using namespace flotilla;

// Small limits, so the fuzzer reaches them.
common::ExpositionLimits limits() {
  common::ExpositionLimits l;
  l.max_body_bytes = 64 << 10;
  l.max_line_bytes = 4096;
  l.max_series = 256;
  l.max_labels = 8;
  l.max_label_value_bytes = 256;
  return l;
}

agent::MetricSampler sampler(std::uint8_t kind, const char* series, const char* per) {
  protocol::ScrapeMetric m;
  m.name = "m";
  m.kind = kind;
  m.series = series;
  m.per = per;
  m.quantile = 0.9;
  auto s = agent::MetricSampler::create(m);
  FUZZ_CHECK(s.ok());
  return std::move(*s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto l = limits();
  auto e = common::parseExposition(body, l);
  if (!e) {
    FUZZ_CHECK(e.error().message.starts_with("line ") || e.error().message.starts_with("body of "));
    return 0;
  }
  FUZZ_CHECK(e->series.size() <= l.max_series);
  for (const auto& s : e->series) {
    FUZZ_CHECK(!s.name.empty());
    FUZZ_CHECK(s.labels.size() <= l.max_labels);
  }
  agent::MetricSampler samplers[] = {sampler(0, "req", ""), sampler(0, R"(req{code=~"5.."})", "req"),
                                     sampler(1, "g", ""), sampler(2, "lat", "")};
  common::SteadyTime t{std::chrono::hours(1)};
  for (auto& s : samplers) {
    (void)s.observe(*e, t, 1000);
    (void)s.observe(*e, t + std::chrono::seconds(10), 11000);
  }
  for (double q : {0.0, 0.5, 0.99, 1.0}) {
    std::map<double, double> buckets;
    for (const auto& s : e->series)
      if (buckets.size() < 64) buckets[s.value] = s.value;
    (void)agent::histogramQuantile(q, buckets);
  }
  return 0;
}
