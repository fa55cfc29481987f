// flotilla-judge-bench: the judge's figures for scripts/bench.sh (section g)
// and docs/performance.md, on seeded synthetic data: its false-alarm rate over
// identical groups, its detection rate for latency shifts, the count test on
// error ratios near zero, and the time judge() takes on a 1,000-host wave.
//
// Noise model (a p99 latency per host and 10 s interval): level 0.240 s x a
// per-host factor exp(N(0, host_sigma)) x a per-sample factor exp(N(0, sigma)).
// Setups: "quiet" 3 hosts x 10 intervals (30 samples per group), sigma 0.10,
// host_sigma 0.03; "noisy" 3 x 10, sigma 0.30, host_sigma 0.05; "noisy, hosts
// apart" the same with host_sigma 0.10; "5x12" 5 hosts x 12 intervals (60
// samples), sigma 0.10, host_sigma 0.02 (the unit test's shift setup); "iid"
// 3 x 10, sigma 0.10, hosts alike (the test's own level, no host effect). A +s
// shift multiplies every canary sample by 1 + s. Confidence 0.95; direction
// "either", so a false alarm is high or low. Each rate is over 500 seeded runs.
//
// Prints one line per figure: id TAB number TAB unit TAB what.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "flotilla/coordinator/judge.h"

namespace {

using flotilla::coordinator::GroupSamples;
using flotilla::coordinator::MetricVerdict;
using flotilla::protocol::AnalysisMetric;

constexpr int kRuns = 500;
constexpr double kLevel = 0.240;

struct Noise {
  const char* name;
  int hosts, intervals;
  double sigma, host_sigma;
};
constexpr Noise kQuiet{"quiet", 3, 10, 0.10, 0.03};
constexpr Noise kNoisy{"noisy", 3, 10, 0.30, 0.05};
constexpr Noise kHostsApart{"noisy, hosts apart", 3, 10, 0.30, 0.10};
constexpr Noise kWide{"5x12", 5, 12, 0.10, 0.02};
constexpr Noise kIid{"iid", 3, 10, 0.10, 0};

GroupSamples latencies(std::mt19937& rng, double level, Noise n, int hosts = 0) {
  if (hosts == 0) hosts = n.hosts;
  std::normal_distribution<double> host(0, n.host_sigma), sample(0, n.sigma);
  GroupSamples g;
  g.hosts = static_cast<std::size_t>(hosts);
  for (int h = 0; h < hosts; ++h) {
    double host_level = level * std::exp(host(rng));
    for (int i = 0; i < n.intervals; ++i) g.values.push_back(host_level * std::exp(sample(rng)));
  }
  return g;
}

// Errors over requests per interval: `requests` per group spread over `intervals`.
GroupSamples errors(std::mt19937& rng, int intervals, int requests, double p) {
  std::binomial_distribution<int> errs(requests / intervals, p);
  GroupSamples g;
  g.hosts = 3;
  for (int i = 0; i < intervals; ++i) {
    double den = requests / intervals, num = errs(rng);
    g.values.push_back(num / den);
    g.nums.push_back(num);
    g.dens.push_back(den);
  }
  return g;
}

AnalysisMetric latencyMetric(double tolerance) {
  AnalysisMetric m;
  m.name = "latency_p99";
  m.kind = AnalysisMetric::Kind::kHistogram;
  m.direction = AnalysisMetric::Direction::kEither;
  m.tolerance = tolerance;
  return m;
}

bool fails(MetricVerdict v) { return v == MetricVerdict::kHigh || v == MetricVerdict::kLow; }

// Share of kRuns seeded runs in which a +shift canary fails.
double failRate(double shift, double tolerance, Noise n) {
  std::mt19937 rng(1234);
  auto spec = latencyMetric(tolerance);
  int failed = 0;
  for (int run = 0; run < kRuns; ++run) {
    auto baseline = latencies(rng, kLevel, n);
    auto canary = latencies(rng, kLevel * (1 + shift), n);
    failed += fails(flotilla::coordinator::judgeMetric(spec, canary, baseline, 6, 0.95).verdict);
  }
  return 100.0 * failed / kRuns;
}

double errorFailRate(double canary_p, double baseline_p) {
  std::mt19937 rng(99);
  AnalysisMetric m;
  m.name = "error_ratio";
  m.per = "http_requests_total";
  m.tolerance = 0.25;
  int failed = 0;
  for (int run = 0; run < kRuns; ++run) {
    auto baseline = errors(rng, 25, 1000, baseline_p);
    auto canary = errors(rng, 25, 1000, canary_p);
    failed += fails(flotilla::coordinator::judgeMetric(m, canary, baseline, 6, 0.95).verdict);
  }
  return 100.0 * failed / kRuns;
}

void line(const std::string& id, double value, const char* unit, const std::string& what) {
  std::printf("%s\t%.4g\t%s\t%s\n", id.c_str(), value, unit, what.c_str());
  std::fflush(stdout);
}

std::string pct(double s) { return std::to_string(static_cast<int>(std::lround(s * 100))) + "%"; }

// judge() on 1,000 canary hosts x 6 samples against 1,000 baseline hosts x 6,
// three metrics (a latency, an error ratio near zero, a CPU gauge); the
// median of 5 calls, in milliseconds.
double waveMillis() {
  std::mt19937 rng(7);
  flotilla::protocol::AnalysisSpec spec;
  spec.metrics = {latencyMetric(0.25), AnalysisMetric{}, AnalysisMetric{}};
  spec.metrics[1].name = "error_ratio";
  spec.metrics[1].per = "http_requests_total";
  spec.metrics[2].name = "cpu";
  spec.metrics[2].kind = AnalysisMetric::Kind::kGauge;
  std::vector<std::pair<GroupSamples, GroupSamples>> groups(3);
  constexpr Noise kWave{"wave", 1000, 6, 0.10, 0.03}, kCpu{"cpu", 1000, 6, 0.30, 0.05};
  groups[0] = {latencies(rng, kLevel * 1.05, kWave), latencies(rng, kLevel, kWave)};
  groups[1] = {errors(rng, 6000, 600000, 0.002), errors(rng, 6000, 600000, 0.002)};
  groups[2] = {latencies(rng, 0.5, kCpu), latencies(rng, 0.5, kCpu)};
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto v = flotilla::coordinator::judge(spec, groups);
    auto t1 = std::chrono::steady_clock::now();
    if (v.metrics.size() != 3) return -1;
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main() {
  auto setup = [](Noise n) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%d vs %d samples (%d hosts x %d), lognormal sigma %.2f, host sigma %.2f (%s)",
                  n.hosts * n.intervals, n.hosts * n.intervals, n.hosts, n.intervals, n.sigma, n.host_sigma, n.name);
    return std::string(buf);
  };
  for (double tol : {0.25, 0.05, 0.0})
    line("g-false-" + pct(tol), failRate(0, tol, kQuiet), "%",
         "false alarms over 500 identical runs, " + setup(kQuiet) + ", tolerance " + pct(tol));
  line("g-false-0%-iid", failRate(0, 0, kIid), "%",
       "false alarms over 500 identical runs, " + setup(kIid) + ", tolerance 0% (the test's level alone)");
  for (Noise n : {kNoisy, kHostsApart})
    line(std::string("g-false-25%-") + (n.host_sigma > 0.05 ? "hosts-apart" : "noisy"), failRate(0, 0.25, n), "%",
         "false alarms over 500 identical runs, " + setup(n) + ", tolerance 25%");
  for (double tol : {0.05, 0.25})
    for (double shift : {0.10, 0.20, 0.30})
      line("g-detect-" + pct(shift) + "-tol-" + pct(tol), failRate(shift, tol, kQuiet), "%",
           "detection of a +" + pct(shift) + " shift over 500 runs, " + setup(kQuiet) + ", tolerance " + pct(tol));
  for (double shift : {0.10, 0.20, 0.30})
    line("g-detect-" + pct(shift) + "-tol-25%-5x12", failRate(shift, 0.25, kWide), "%",
         "detection of a +" + pct(shift) + " shift over 500 runs, " + setup(kWide) + ", tolerance 25%");
  line("g-detect-30%-tol-5%-noisy", failRate(0.30, 0.05, kNoisy), "%",
       "detection of a +30% shift over 500 runs, " + setup(kNoisy) + ", tolerance 5%");
  line("g-errors-0-vs-1%", errorFailRate(0.01, 0), "%",
       "error ratio 0% baseline vs 1% canary, 1,000 requests per group over 25 intervals: failed runs of 500 "
       "(two-proportion test, bad-direction tail doubled)");
  line("g-errors-false", errorFailRate(0.005, 0.005), "%",
       "error ratio 0.5% on both, 1,000 requests per group, tolerance 25%: false alarms over 500 runs (confidence "
       "0.95)");
  line("g-judge-1000-hosts", waveMillis(), " ms",
       "judge() on a 1,000-host wave: 1,000 canary x 6 vs 1,000 baseline x 6 samples, 3 metrics (median of 5)");
  return 0;
}
