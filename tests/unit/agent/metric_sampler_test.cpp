#include "flotilla/agent/metric_sampler.h"

#include <cmath>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include "support/fake_clock.h"

using namespace std::chrono_literals;
using flotilla::agent::histogramQuantile;
using flotilla::agent::MetricSampler;
using flotilla::protocol::Sample;
using flotilla::protocol::ScrapeMetric;
using flotilla::testing::FakeClock;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

ScrapeMetric metric(std::uint8_t kind, std::string series, std::string per = "", double quantile = 0.99) {
  ScrapeMetric m;
  m.name = "m";
  m.url = "http://127.0.0.1:1/metrics";
  m.kind = kind;
  m.series = std::move(series);
  m.per = std::move(per);
  m.quantile = quantile;
  return m;
}

// Drives one MetricSampler with bodies at 10 s intervals of a fake clock.
struct Feed {
  explicit Feed(const ScrapeMetric& m) : sampler(*MetricSampler::create(m)) {}

  std::optional<Sample> scrape(const std::string& body) {
    auto e = flotilla::common::parseExposition(body);
    REQUIRE(e.ok());
    auto s = sampler.observe(*e, clock.steadyNow(), 1000 * ++n);
    clock.advance(10s);
    return s;
  }

  FakeClock clock;
  MetricSampler sampler;
  int n = 0;
};

constexpr std::uint8_t kRate = 0;
constexpr std::uint8_t kGauge = 1;
constexpr std::uint8_t kHistogram = 2;

}  // namespace

TEST_CASE("rate: per-second rate of the summed matching counters, the first scrape is none", "[agent][sampler]") {
  Feed f(metric(kRate, R"(req{code=~"5.."})"));
  CHECK_FALSE(f.scrape("req{code=\"500\"} 10\nreq{code=\"503\"} 5\nreq{code=\"200\"} 1000\n"));
  auto s = f.scrape("req{code=\"500\"} 30\nreq{code=\"503\"} 15\nreq{code=\"200\"} 9000\n");
  REQUIRE(s);
  CHECK(s->metric == "m");
  CHECK(s->at_ms == 2000);
  CHECK(s->num == 30);
  CHECK(s->den == Approx(10));
  CHECK(s->value == Approx(3));
}

TEST_CASE("rate: a counter that fell was reset and counts its new value", "[agent][sampler]") {
  Feed f(metric(kRate, "req"));
  f.scrape("req{i=\"a\"} 100\nreq{i=\"b\"} 50\n");
  auto s = f.scrape("req{i=\"a\"} 7\nreq{i=\"b\"} 60\n");  // a restarted: 7 new, b: 10 new
  REQUIRE(s);
  CHECK(s->num == 17);
  CHECK(s->value == Approx(1.7));
}

TEST_CASE("rate: a series appearing counts whole (created since), disappearing ones stop", "[agent][sampler]") {
  Feed f(metric(kRate, "req"));
  f.scrape("req{i=\"a\"} 10\n");
  auto s = f.scrape("req{i=\"a\"} 20\nreq{i=\"b\"} 3\n");  // b was created since: its 3 count
  REQUIRE(s);
  CHECK(s->num == 13);
  s = f.scrape("req{i=\"b\"} 33\n");  // a gone
  REQUIRE(s);
  CHECK(s->num == 30);
  s = f.scrape("req{i=\"b\"} 33\n");
  REQUIRE(s);
  CHECK(s->num == 0);
  CHECK(s->value == 0);
}

TEST_CASE("rate: the first errors of a lazily created code=\"500\" series are counted", "[agent][sampler]") {
  Feed f(metric(kRate, R"(req{code=~"5.."})", "req"));
  f.scrape("req{code=\"200\"} 100\n");
  auto s = f.scrape("req{code=\"200\"} 198\nreq{code=\"500\"} 2\n");
  REQUIRE(s);
  CHECK(s->num == 2);
  CHECK(s->den == 100);
}

TEST_CASE("rate: no matching series is a rate of 0", "[agent][sampler]") {
  Feed f(metric(kRate, R"(req{code=~"5.."})"));
  f.scrape("req{code=\"200\"} 1\n");
  auto s = f.scrape("req{code=\"200\"} 5\n");
  REQUIRE(s);
  CHECK(s->value == 0);
}

TEST_CASE("rate with per: a ratio of the increases", "[agent][sampler]") {
  Feed f(metric(kRate, R"(req{code=~"5.."})", "req"));
  f.scrape("req{code=\"500\"} 2\nreq{code=\"200\"} 100\n");
  auto s = f.scrape("req{code=\"500\"} 7\nreq{code=\"200\"} 195\n");
  REQUIRE(s);
  CHECK(s->num == 5);
  CHECK(s->den == 100);
  CHECK(s->value == Approx(0.05));
}

TEST_CASE("rate with per: a zero denominator is no sample", "[agent][sampler]") {
  Feed f(metric(kRate, R"(req{code=~"5.."})", "req"));
  f.scrape("req{code=\"500\"} 2\nreq{code=\"200\"} 100\n");
  CHECK_FALSE(f.scrape("req{code=\"500\"} 2\nreq{code=\"200\"} 100\n"));
  // The starting point still moved on: the next interval counts from here.
  auto s = f.scrape("req{code=\"500\"} 3\nreq{code=\"200\"} 109\n");
  REQUIRE(s);
  CHECK(s->value == Approx(0.1));
}

TEST_CASE("gauge: the sum of the matching series from the first scrape", "[agent][sampler]") {
  Feed f(metric(kGauge, R"(inflight{pool!="idle"})"));
  auto s = f.scrape(
      "inflight{pool=\"a\"} 3\ninflight{pool=\"b\"} 4.5\ninflight{pool=\"idle\"} 100\ninflight{pool=\"c\"} NaN\n");
  REQUIRE(s);
  CHECK(s->value == 7.5);
  CHECK(s->num == 0);
  CHECK(s->den == 0);
  CHECK_FALSE(f.scrape("other 1\n"));
}

TEST_CASE("histogramQuantile interpolates inside the bucket like PromQL", "[agent][sampler]") {
  // 100 observations: 50 <= 0.1, 40 in (0.1, 0.5], 10 in (0.5, 1].
  std::map<double, double> b{{0.1, 50}, {0.5, 90}, {1, 100}, {kInf, 100}};
  // rank 0.5*100 = 50: the end of the first bucket.
  CHECK(histogramQuantile(0.5, b) == Approx(0.1));
  // rank 70: 20 of the 40 in (0.1, 0.5] -> 0.1 + 0.4 * 0.5 = 0.3.
  CHECK(histogramQuantile(0.7, b) == Approx(0.3));
  // rank 99: 9 of the 10 in (0.5, 1] -> 0.95.
  CHECK(histogramQuantile(0.99, b) == Approx(0.95));
  // rank in the +Inf bucket: the highest finite bound.
  std::map<double, double> tail{{0.1, 50}, {0.5, 90}, {kInf, 100}};
  CHECK(histogramQuantile(0.99, tail) == Approx(0.5));
  CHECK(std::isnan(histogramQuantile(0.5, {{0.1, 0}, {kInf, 0}})));
  CHECK(std::isnan(histogramQuantile(0.5, {{0.1, 3}, {1, 5}})));  // no +Inf bucket
}

TEST_CASE("histogram: the quantile of the interval's observations across label sets", "[agent][sampler]") {
  Feed f(metric(kHistogram, R"(lat{path="/work"})", "", 0.7));
  const char* before = R"(lat_bucket{path="/work",i="a",le="0.1"} 1000
lat_bucket{path="/work",i="a",le="0.5"} 1000
lat_bucket{path="/work",i="a",le="+Inf"} 1000
lat_bucket{path="/work",i="b",le="0.1"} 0
lat_bucket{path="/work",i="b",le="0.5"} 0
lat_bucket{path="/work",i="b",le="+Inf"} 0
lat_bucket{path="/other",le="0.1"} 0
lat_bucket{path="/other",le="0.5"} 0
lat_bucket{path="/other",le="+Inf"} 0
lat_sum{path="/work"} 1
lat_count{path="/work"} 1000
)";
  CHECK_FALSE(f.scrape(before));
  // In the interval: a gains 30 <= 0.1 and 10 in (0.1, 0.5]; b gains 20 <= 0.1,
  // 30 in (0.1, 0.5] and 10 above; /other's 1000 slow ones do not match.
  const char* after = R"(lat_bucket{path="/work",i="a",le="0.1"} 1030
lat_bucket{path="/work",i="a",le="0.5"} 1040
lat_bucket{path="/work",i="a",le="+Inf"} 1040
lat_bucket{path="/work",i="b",le="0.1"} 20
lat_bucket{path="/work",i="b",le="0.5"} 50
lat_bucket{path="/work",i="b",le="+Inf"} 60
lat_bucket{path="/other",le="0.1"} 0
lat_bucket{path="/other",le="0.5"} 0
lat_bucket{path="/other",le="+Inf"} 1000
)";
  auto s = f.scrape(after);
  REQUIRE(s);
  // Summed: le 0.1 -> 50, 0.5 -> 90, +Inf -> 100. rank 70 -> 0.1 + 0.4 * 20/40.
  CHECK(s->value == Approx(0.3));
  CHECK(s->num == 100);
  CHECK_FALSE(f.scrape(after));  // no observations since: no sample
}

TEST_CASE("histogram: the selector may name the _bucket series itself", "[agent][sampler]") {
  Feed f(metric(kHistogram, "lat_bucket", "", 0.5));
  f.scrape("lat_bucket{le=\"1\"} 0\nlat_bucket{le=\"+Inf\"} 0\n");
  auto s = f.scrape("lat_bucket{le=\"1\"} 4\nlat_bucket{le=\"+Inf\"} 4\n");
  REQUIRE(s);
  CHECK(s->value == Approx(0.5));
}

TEST_CASE("a bad selector or kind is refused when the sampler is made", "[agent][sampler]") {
  CHECK_FALSE(MetricSampler::create(metric(kRate, "req{")).ok());
  CHECK_FALSE(MetricSampler::create(metric(kRate, "req", "per{x=")).ok());
  CHECK_FALSE(MetricSampler::create(metric(3, "req")).ok());
}
