#include "flotilla/coordinator/judge.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>

using namespace flotilla::coordinator;
using flotilla::protocol::AnalysisMetric;
using flotilla::protocol::AnalysisSpec;

namespace {

using Direction = AnalysisMetric::Direction;

constexpr double kLatency = 0.240;  // seconds, a p99

// A p99 latency per host and interval: level x exp(N(0, host_sigma)) per host
// x exp(N(0, sigma)) per sample (hosts differ a little, intervals more).
GroupSamples latencies(std::mt19937& rng, int hosts, int intervals, double level, double sigma, double host_sigma) {
  std::normal_distribution<double> host(0, host_sigma), sample(0, sigma);
  GroupSamples g;
  g.hosts = static_cast<std::size_t>(hosts);
  for (int h = 0; h < hosts; ++h) {
    double host_level = level * std::exp(host(rng));
    for (int i = 0; i < intervals; ++i) g.values.push_back(host_level * std::exp(sample(rng)));
  }
  return g;
}

GroupSamples constant(std::size_t n, double value) {
  GroupSamples g;
  g.values.assign(n, value);
  g.hosts = 3;
  return g;
}

// A ratio metric's samples: errors and requests per interval.
GroupSamples counts(const std::vector<double>& nums, double den) {
  GroupSamples g;
  g.hosts = 3;
  for (double n : nums) {
    g.values.push_back(n / den);
    g.nums.push_back(n);
    g.dens.push_back(den);
  }
  return g;
}

AnalysisMetric latencyMetric(Direction d = Direction::kIncrease, double tolerance = 0.25) {
  AnalysisMetric m;
  m.name = "latency_p99";
  m.kind = AnalysisMetric::Kind::kHistogram;
  m.direction = d;
  m.tolerance = tolerance;
  return m;
}

AnalysisMetric errorRatio() {
  AnalysisMetric m;
  m.name = "error_ratio";
  m.kind = AnalysisMetric::Kind::kRate;
  m.series = R"(http_requests_total{code=~"5.."})";
  m.per = "http_requests_total";
  m.tolerance = 0.25;
  return m;
}

bool fails(const MetricResult& r) { return r.verdict == MetricVerdict::kHigh || r.verdict == MetricVerdict::kLow; }

struct Setup {
  int hosts, intervals;
  double sigma, host_sigma;
};

// In how many of 500 seeded runs a canary shifted by `shift` fails.
int failures(const Setup& s, double shift, const AnalysisMetric& m, unsigned seed) {
  std::mt19937 rng(seed);
  int failed = 0;
  for (int run = 0; run < 500; ++run) {
    auto baseline = latencies(rng, s.hosts, s.intervals, kLatency, s.sigma, s.host_sigma);
    auto canary = latencies(rng, s.hosts, s.intervals, kLatency * (1 + shift), s.sigma, s.host_sigma);
    failed += fails(judgeMetric(m, canary, baseline, 6, 0.95));
  }
  return failed;
}

// The shifted copy of a fixed latency sample, for deterministic verdicts.
GroupSamples shifted(const GroupSamples& g, double factor) {
  GroupSamples s = g;
  for (auto& v : s.values) v *= factor;
  return s;
}

GroupSamples fixedLatencies(unsigned seed) {
  std::mt19937 rng(seed);
  return latencies(rng, 3, 10, kLatency, 0.05, 0);
}

}  // namespace

TEST_CASE("judge: identical latency distributions fail in at most 2% of 500 runs", "[coordinator][judge]") {
  auto either = latencyMetric(Direction::kEither);
  // 3 hosts x 10 intervals = 30 samples per group.
  int quiet = failures({3, 10, 0.10, 0.03}, 0, either, 1);
  int noisy = failures({3, 10, 0.30, 0.05}, 0, either, 2);
  INFO("quiet " << quiet << "/500, noisy " << noisy << "/500");
  CHECK(quiet <= 10);
  CHECK(noisy <= 10);
}

TEST_CASE("judge: a +30% latency shift against a 25% tolerance fails in >= 90% of runs", "[coordinator][judge]") {
  // 5 hosts x 12 intervals = 60 samples per group, 10% noise per sample, 2% between hosts.
  int failed = failures({5, 12, 0.10, 0.02}, 0.30, latencyMetric(), 3);
  INFO(failed << "/500 failed");
  CHECK(failed >= 450);
}

TEST_CASE("judge: a +10% latency shift against a 25% tolerance passes in >= 95% of runs", "[coordinator][judge]") {
  int failed = failures({5, 12, 0.10, 0.02}, 0.10, latencyMetric(), 4);
  INFO(failed << "/500 failed");
  CHECK(failed <= 25);
}

TEST_CASE("judge: a shifted latency says why with the figures and the tolerance", "[coordinator][judge]") {
  auto base = fixedLatencies(5);
  auto r = judgeMetric(latencyMetric(), shifted(base, 1.3), base, 6, 0.95);
  CHECK(r.verdict == MetricVerdict::kHigh);
  CHECK(r.test == "mann-whitney");
  CHECK(r.canary_n == 30);
  CHECK(r.baseline_n == 30);
  CHECK(r.p_value < 0.05);
  REQUIRE(r.change);
  CHECK(*r.change > 0.25);
  CHECK(r.ci_low > 0);
  CHECK(r.ci_low <= r.shift);
  CHECK(r.shift <= r.ci_high);
  CHECK(r.canary > r.baseline);
  CHECK(r.tolerance == "25%");
  CHECK_THAT(r.why, Catch::Contains("95% CI") && Catch::Contains("above tolerance 25%"));
  CHECK(r.why.rfind("canary ", 0) == 0);
}

TEST_CASE("judge: 0% against 1% errors over 1,000 requests fails, both zero passes", "[coordinator][judge]") {
  std::vector<double> none(25, 0), some(25, 0);
  for (int i = 0; i < 10; ++i) some[static_cast<std::size_t>(i * 2)] = 1;  // 10 errors in 25 x 40 requests
  auto r = judgeMetric(errorRatio(), counts(some, 40), counts(none, 40), 6, 0.95);
  CHECK(r.verdict == MetricVerdict::kHigh);
  CHECK(r.test == "two-proportion");
  CHECK(r.canary == Approx(0.01));
  CHECK(r.baseline == 0);
  CHECK_FALSE(r.change);  // no relative change against a zero baseline
  CHECK(r.p_value < 0.01);
  CHECK(r.outliers == 0);  // the intervals with errors are the signal, not outliers
  CHECK_THAT(r.why, Catch::Contains("10 of 1000") && Catch::Contains("above tolerance 25%"));
  CHECK(toJson(r)["change"].is_null());

  auto zero = judgeMetric(errorRatio(), counts(none, 40), counts(none, 40), 6, 0.95);
  CHECK(zero.verdict == MetricVerdict::kPass);
  CHECK(zero.p_value == 1);
}

TEST_CASE("judge: near-zero event rates without `per` use the exact Poisson test", "[coordinator][judge]") {
  AnalysisMetric m = errorRatio();
  m.name = "restarts";
  m.per.clear();
  std::vector<double> none(30, 0), some(30, 0);
  for (int i = 0; i < 8; ++i) some[static_cast<std::size_t>(i * 3)] = 1;
  auto r = judgeMetric(m, counts(some, 10), counts(none, 10), 6, 0.95);  // 8 events in 300 s against 0
  CHECK(r.test == "poisson");
  CHECK(r.verdict == MetricVerdict::kHigh);
  CHECK(r.p_value == Approx(2 * std::pow(0.5, 8)));  // all 8 on the canary with equal time, the tail doubled
  auto same = judgeMetric(m, counts(some, 10), counts(some, 10), 6, 0.95);
  CHECK(same.verdict == MetricVerdict::kPass);
  // 300,000 events against 30: past the exact sum, the normal approximation decides.
  auto busy =
      judgeMetric(m, counts(std::vector<double>(30, 10000), 10), counts(std::vector<double>(30, 1), 10), 6, 0.95);
  CHECK(busy.test == "poisson");
  CHECK(busy.verdict == MetricVerdict::kHigh);
  CHECK(busy.p_value < 1e-6);
  auto quiet =
      judgeMetric(m, counts(std::vector<double>(30, 1), 10), counts(std::vector<double>(30, 10000), 10), 6, 0.95);
  CHECK(quiet.verdict == MetricVerdict::kPass);
  CHECK_THAT(quiet.why, Catch::Contains("only an increase fails"));
}

TEST_CASE("judge: too few samples is nodata, no baseline leaves only the bounds", "[coordinator][judge]") {
  auto base = fixedLatencies(6);
  GroupSamples few = base;
  few.values.resize(5);
  auto r = judgeMetric(latencyMetric(), few, base, 6, 0.95);
  CHECK(r.verdict == MetricVerdict::kNoData);
  CHECK(r.test.empty());
  CHECK_THAT(r.why, Catch::Contains("min_samples 6"));
  CHECK(judgeMetric(latencyMetric(), base, few, 6, 0.95).verdict == MetricVerdict::kNoData);

  AnalysisMetric bounded = latencyMetric();
  bounded.max = 0.2;
  auto alone = judgeMetric(bounded, base, GroupSamples{}, 6, 0.95);
  CHECK(alone.test == "bound");
  CHECK(alone.verdict == MetricVerdict::kHigh);
  CHECK(alone.bound_failed);
  bounded.max = 0.5;
  CHECK(judgeMetric(bounded, base, GroupSamples{}, 6, 0.95).verdict == MetricVerdict::kPass);
}

TEST_CASE("judge: direction decides which change fails", "[coordinator][judge]") {
  auto base = fixedLatencies(7);
  auto up = shifted(base, 1.4), down = shifted(base, 0.6);
  CHECK(judgeMetric(latencyMetric(Direction::kIncrease), up, base, 6, 0.95).verdict == MetricVerdict::kHigh);
  auto ignored = judgeMetric(latencyMetric(Direction::kIncrease), down, base, 6, 0.95);
  CHECK(ignored.verdict == MetricVerdict::kPass);
  CHECK_THAT(ignored.why, Catch::Contains("only an increase fails"));
  CHECK(judgeMetric(latencyMetric(Direction::kDecrease), down, base, 6, 0.95).verdict == MetricVerdict::kLow);
  CHECK(judgeMetric(latencyMetric(Direction::kDecrease), up, base, 6, 0.95).verdict == MetricVerdict::kPass);
  CHECK(judgeMetric(latencyMetric(Direction::kEither), up, base, 6, 0.95).verdict == MetricVerdict::kHigh);
  CHECK(judgeMetric(latencyMetric(Direction::kEither), down, base, 6, 0.95).verdict == MetricVerdict::kLow);
}

TEST_CASE("judge: an absolute tolerance is in the metric's unit", "[coordinator][judge]") {
  auto base = fixedLatencies(8);
  auto canary = base;
  for (auto& v : canary.values) v += 0.05;  // 50 ms slower
  AnalysisMetric m = latencyMetric();
  m.tolerance_relative = false;
  m.tolerance = 0.1;
  auto within = judgeMetric(m, canary, base, 6, 0.95);
  CHECK(within.verdict == MetricVerdict::kPass);
  CHECK(within.shift == Approx(0.05));
  CHECK_THAT(within.why, Catch::Contains("within tolerance 0.1"));
  m.tolerance = 0.01;
  CHECK(judgeMetric(m, canary, base, 6, 0.95).verdict == MetricVerdict::kHigh);
}

TEST_CASE("judge: max and min bound the canary even when the comparison passes", "[coordinator][judge]") {
  auto base = fixedLatencies(9);
  AnalysisMetric m = latencyMetric();
  m.max = 0.2;
  auto high = judgeMetric(m, base, base, 6, 0.95);
  CHECK(high.verdict == MetricVerdict::kHigh);
  CHECK(high.bound_failed);
  CHECK_THAT(high.why, Catch::Contains("above max 0.2"));
  m.max.reset();
  m.min = 0.3;
  auto low = judgeMetric(m, base, base, 6, 0.95);
  CHECK(low.verdict == MetricVerdict::kLow);
  CHECK(low.bound_failed);
  m.min = 0.1;
  auto fine = judgeMetric(m, base, base, 6, 0.95);
  CHECK(fine.verdict == MetricVerdict::kPass);
  CHECK_FALSE(fine.bound_failed);
}

namespace {

AnalysisSpec specOf(int metrics) {
  AnalysisSpec s;
  for (int i = 0; i < metrics; ++i) {
    s.metrics.push_back(latencyMetric());
    s.metrics.back().name = "m" + std::to_string(i);
  }
  return s;
}

// Metric i fails (a +40% canary) when fail[i], else passes (identical groups).
std::vector<std::pair<GroupSamples, GroupSamples>> groupsOf(const std::vector<bool>& fail) {
  std::vector<std::pair<GroupSamples, GroupSamples>> g;
  for (std::size_t i = 0; i < fail.size(); ++i) {
    auto base = fixedLatencies(static_cast<unsigned>(100 + i));
    g.emplace_back(fail[i] ? shifted(base, 1.4) : base, base);
  }
  return g;
}

}  // namespace

TEST_CASE("judge: a failing critical metric fails the wave despite a high score", "[coordinator][judge]") {
  auto spec = specOf(3);
  spec.metrics[0].critical = true;
  spec.metrics[1].weight = 100;
  spec.metrics[2].weight = 100;
  auto v = judge(spec, groupsOf({true, false, false}));
  CHECK(v.score > 99);
  CHECK(v.outcome == Outcome::kFail);
  CHECK_THAT(v.reason, Catch::Contains("critical") && Catch::Contains("m0 high"));
}

TEST_CASE("judge: the score sets pass, marginal and fail", "[coordinator][judge]") {
  auto spec = specOf(10);
  auto pass = judge(spec, groupsOf(std::vector<bool>(10, false)));
  CHECK(pass.outcome == Outcome::kPass);
  CHECK(pass.score == 100);

  std::vector<bool> one(10, false);
  one[3] = true;
  auto marginal = judge(spec, groupsOf(one));
  CHECK(marginal.score == Approx(90));
  CHECK(marginal.outcome == Outcome::kMarginal);
  CHECK_THAT(marginal.reason, Catch::Contains("m3 high"));

  std::vector<bool> three(10, false);
  three[0] = three[1] = three[2] = true;
  auto fail = judge(spec, groupsOf(three));
  CHECK(fail.score == Approx(70));
  CHECK(fail.outcome == Outcome::kFail);
}

TEST_CASE("judge: all nodata, or a critical nodata, is marginal", "[coordinator][judge]") {
  auto spec = specOf(2);
  auto v = judge(spec, {});
  CHECK(v.outcome == Outcome::kMarginal);
  CHECK(v.score == 0);
  CHECK(v.metrics.size() == 2);
  CHECK(v.metrics[0].verdict == MetricVerdict::kNoData);

  spec.metrics[1].critical = true;
  auto groups = groupsOf({false, false});
  groups[1].first.values.resize(2);
  auto critical = judge(spec, groups);
  CHECK(critical.score == 100);
  CHECK(critical.outcome == Outcome::kMarginal);
  CHECK_THAT(critical.reason, Catch::Contains("m1"));
}

TEST_CASE("judge: NaN and infinite samples are dropped", "[coordinator][judge]") {
  auto base = fixedLatencies(10);
  auto canary = base;
  canary.values.push_back(std::numeric_limits<double>::quiet_NaN());
  canary.values.push_back(std::numeric_limits<double>::infinity());
  canary.values.push_back(-std::numeric_limits<double>::infinity());
  auto r = judgeMetric(latencyMetric(), canary, base, 6, 0.95);
  CHECK(r.canary_n == 30);
  CHECK(r.verdict == MetricVerdict::kPass);
  auto dump = toJson(r).dump();
  CHECK(dump.find("nan") == std::string::npos);
  CHECK(dump.find("inf") == std::string::npos);
}

TEST_CASE("judge: an extreme outlier is removed", "[coordinator][judge]") {
  auto base = fixedLatencies(11);
  auto canary = base;
  canary.values.push_back(1000);
  auto r = judgeMetric(latencyMetric(), canary, base, 6, 0.95);
  CHECK(r.outliers == 1);
  CHECK(r.canary_n == 30);
  CHECK(r.verdict == MetricVerdict::kPass);
  // A constant group has no spread to fence with: nothing is removed.
  auto flat = constant(20, 1.0);
  flat.values.push_back(2.0);
  CHECK(judgeMetric(latencyMetric(), flat, constant(20, 1.0), 6, 0.95).outliers == 0);
}

TEST_CASE("judge: any increase over a zero baseline exceeds a relative tolerance", "[coordinator][judge]") {
  AnalysisMetric m = latencyMetric();
  m.name = "queue_depth";
  m.kind = AnalysisMetric::Kind::kGauge;
  auto r = judgeMetric(m, constant(30, 2), constant(30, 0), 6, 0.95);
  CHECK(r.verdict == MetricVerdict::kHigh);
  CHECK(r.baseline == 0);
  CHECK(r.shift == 2);
  CHECK_FALSE(r.change);
  CHECK(toJson(r)["change"].is_null());
}

TEST_CASE("judge: the shift is the median of the pairwise differences, the interval two of them",
          "[coordinator][judge]") {
  std::mt19937 rng(12);
  for (int n : {7, 30, 300}) {
    auto c = latencies(rng, 1, n, kLatency * 1.1, 0.2, 0), b = latencies(rng, 1, n + 3, kLatency, 0.2, 0);
    std::vector<double> d;
    for (double x : c.values)
      for (double y : b.values) d.push_back(x - y);
    std::sort(d.begin(), d.end());
    double median = d.size() % 2 ? d[d.size() / 2] : (d[d.size() / 2 - 1] + d[d.size() / 2]) / 2;
    auto r = judgeMetric(latencyMetric(), c, b, 6, 0.95);
    INFO("n = " << n);
    CHECK(r.shift == Approx(median).epsilon(1e-12));
    CHECK(std::binary_search(d.begin(), d.end(), r.ci_low));
    CHECK(std::binary_search(d.begin(), d.end(), r.ci_high));
    CHECK(r.ci_low <= r.shift);
    CHECK(r.shift <= r.ci_high);
  }
}

TEST_CASE("judge: the same samples give the same JSON", "[coordinator][judge]") {
  auto spec = specOf(3);
  spec.metrics.push_back(errorRatio());
  auto groups = groupsOf({true, false, false});
  std::vector<double> some(25, 0);
  some[4] = 6;
  groups.emplace_back(counts(some, 40), counts(std::vector<double>(25, 0), 40));
  auto a = toJson(judge(spec, groups)), b = toJson(judge(spec, groups));
  CHECK(a.dump() == b.dump());
  CHECK(a["outcome"] == "fail");
  REQUIRE(a["metrics"].size() == 4);
  for (const char* key : {"metric",   "verdict",   "critical", "weight", "test",         "canary_n", "baseline_n",
                          "outliers", "canary",    "baseline", "shift",  "ci_low",       "ci_high",  "p_value",
                          "change",   "tolerance", "max",      "min",    "bound_failed", "why"})
    CHECK(a["metrics"][0].contains(key));
  CHECK(a.contains("score"));
  CHECK(a.contains("reason"));
}
