// The plan's [analysis] table (protocol/analysis.h, plan_analysis.cpp): the
// issue's contract keys, their defaults, and an error naming file, line, key
// and problem for each kind of bad input.
#include <catch2/catch.hpp>

#include "flotilla/protocol/plan.h"

using namespace std::chrono_literals;
using flotilla::Errc;
using flotilla::protocol::AnalysisMetric;
using flotilla::protocol::parsePlan;
using flotilla::protocol::Plan;

namespace {

const std::string kHead = R"(app = "web"
version = "1.0"
artifact.file = "web.tar.gz"
)";

Plan planOf(const std::string& tail) {
  auto r = parsePlan(kHead + tail, "p.toml", "/plans");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

std::string errorOf(const std::string& tail) {
  auto r = parsePlan(kHead + tail, "p.toml", "/plans");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kInvalidArgument);
  return r.error().message;
}

}  // namespace

TEST_CASE("the issue's analysis example parses with every key", "[protocol][plan][analysis]") {
  Plan p = planOf(R"(
[analysis]
interval       = "10s"
min_samples    = 6
pass_score     = 95
marginal_score = 75

[[analysis.metric]]
name      = "error_ratio"
scrape    = "http://127.0.0.1:${PORT}/metrics"
rate      = 'http_requests_total{code=~"5.."}'
per       = 'http_requests_total'
direction = "increase"
tolerance = "25%"
max       = 0.01
critical  = true

[[analysis.metric]]
name      = "latency_p99"
scrape    = "http://localhost:8080/metrics"
histogram = 'http_request_duration_seconds{path="/work"}'
quantile  = 0.99
tolerance = 0.05
weight    = 2

[[analysis.metric]]
name       = "cpu"
prometheus = "http://127.0.0.1:9090"
query      = 'avg(rate(process_cpu_seconds_total{host="${HOST}"}[1m]))'
direction  = "either"
)");
  REQUIRE(p.analysis);
  const auto& a = *p.analysis;
  CHECK(a.interval == 10s);
  CHECK(a.min_samples == 6);
  CHECK(a.pass_score == 95);
  CHECK(a.marginal_score == 75);
  CHECK(a.window() == 70s);  // one more interval than samples: a counter's first scrape gives none
  REQUIRE(a.metrics.size() == 3);
  const auto& e = a.metrics[0];
  CHECK(e.name == "error_ratio");
  CHECK(e.source == AnalysisMetric::Source::kScrape);
  CHECK(e.scrape == "http://127.0.0.1:${PORT}/metrics");
  CHECK(e.kind == AnalysisMetric::Kind::kRate);
  CHECK(e.series == R"(http_requests_total{code=~"5.."})");
  CHECK(e.per == "http_requests_total");
  CHECK(e.direction == AnalysisMetric::Direction::kIncrease);
  CHECK(e.tolerance_relative);
  CHECK(e.tolerance == Approx(0.25));
  CHECK(e.max == Approx(0.01));
  CHECK(e.critical);
  const auto& l = a.metrics[1];
  CHECK(l.kind == AnalysisMetric::Kind::kHistogram);
  CHECK(l.quantile == Approx(0.99));
  CHECK_FALSE(l.tolerance_relative);
  CHECK(l.tolerance == Approx(0.05));
  CHECK(l.weight == 2);
  CHECK(toleranceText(l) == "0.05");
  CHECK(toleranceText(e) == "25%");
  const auto& c = a.metrics[2];
  CHECK(c.source == AnalysisMetric::Source::kPrometheus);
  CHECK(c.kind == AnalysisMetric::Kind::kQuery);
  CHECK(c.series.find("${HOST}") != std::string::npos);
  CHECK(c.direction == AnalysisMetric::Direction::kEither);
}

TEST_CASE("a plan without [analysis] has none, and defaults fill the rest", "[protocol][plan][analysis]") {
  CHECK_FALSE(planOf("").analysis);
  Plan p = planOf(R"(
[[analysis.metric]]
name  = "rps"
scrape = "http://127.0.0.1:8080/metrics"
gauge = "app_inflight_requests"
)");
  REQUIRE(p.analysis);
  CHECK(p.analysis->interval == 10s);
  CHECK(p.analysis->min_samples == 6);
  CHECK(p.analysis->pass_score == 95);
  CHECK(p.analysis->marginal_score == 75);
  CHECK(p.analysis->metrics[0].kind == AnalysisMetric::Kind::kGauge);
  CHECK(p.analysis->metrics[0].tolerance == Approx(0.10));
  CHECK_FALSE(p.analysis->metrics[0].critical);
}

TEST_CASE("analysis errors name the file, line, key and the problem", "[protocol][plan][analysis][error]") {
  const std::string metric_head = "\n[[analysis.metric]]\nname = \"m\"\n";
  struct Case {
    std::string tail;
    std::string starts;
    std::string contains;
  };
  const Case cases[] = {
      {"\n[analysis]\ninterval = \"10s\"\n", "p.toml:5:1: analysis.metric: ", "missing"},
      {"\n[analysis]\nmin_samples = 2\n" + metric_head, "p.toml:6:15: analysis.min_samples: ", "from 3 to 10000"},
      {"\n[analysis]\npass_score = 70\nmarginal_score = 80\n" + metric_head, "p.toml:7:18: analysis.marginal_score",
       "not be above pass_score"},
      {"\n[analysis]\npass_score = 120\n" + metric_head, "p.toml:6:14: analysis.pass_score", "0 to 100"},
      {"\n[analysis]\nconfidence = 1.5\n" + metric_head, "p.toml:6:14: analysis.confidence", "between 0.5 and 1"},
      {"\n[analysis]\nintervl = \"1s\"\n" + metric_head, "p.toml:6:1: analysis.intervl", "unknown key"},
      {metric_head + "gauge = \"g\"\n", "p.toml:5:1: analysis.metric[0]", "exactly one source"},
      {metric_head + "scrape = \"http://10.0.0.5:9100/metrics\"\ngauge = \"g\"\n",
       "p.toml:7:10: analysis.metric[0].scrape", "its own host only"},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\n", "p.toml:5:1: analysis.metric[0]",
       "exactly one of rate, gauge or histogram"},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\nrate = 'x{code=~\"5..\"'\n",
       "p.toml:8:8: analysis.metric[0].rate", "expected , or } after a label matcher"},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\nrate = 'x{code=~\"(\"}'\n",
       "p.toml:8:8: analysis.metric[0].rate", "bad regular expression"},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\ngauge = \"g\"\nper = \"x\"\n",
       "p.toml:9:7: analysis.metric[0].per", "not a rate"},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\nhistogram = \"h\"\nquantile = 1.5\n",
       "p.toml:9:12: analysis.metric[0].quantile", "between 0 and 1"},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\ngauge = \"g\"\ndirection = \"up\"\n",
       "p.toml:9:13: analysis.metric[0].direction", "\"increase\", \"decrease\" or \"either\""},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\ngauge = \"g\"\ntolerance = \"25\"\n",
       "p.toml:9:13: analysis.metric[0].tolerance", "percentage like \"25%\""},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\ngauge = \"g\"\nweight = 0\n",
       "p.toml:9:10: analysis.metric[0].weight", "greater than 0"},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\ngauge = \"g\"\nmax = 1\nmin = 2\n",
       "p.toml:10:7: analysis.metric[0].min", "above max"},
      {metric_head + "prometheus = \"http://127.0.0.1:9090\"\n", "p.toml:5:1: analysis.metric[0].query", "missing"},
      {metric_head + "prometheus = \"http://127.0.0.1:9090\"\nquery = \"up\"\nrate = \"x\"\n",
       "p.toml:9:8: analysis.metric[0].rate", "takes a query"},
      {"\n[[analysis.metric]]\nname = \"Error Ratio\"\n", "p.toml:6:8: analysis.metric[0].name", "invalid metric name"},
      {metric_head + "scrape = \"http://127.0.0.1:1/m\"\ngauge = \"g\"\n" + metric_head +
           "scrape = \"http://127.0.0.1:1/m\"\ngauge = \"g\"\n",
       "p.toml:10:1: analysis.metric[1].name", "appears twice"},
  };
  for (const auto& c : cases) {
    INFO(c.tail);
    const std::string msg = errorOf(c.tail);
    CHECK_THAT(msg, Catch::StartsWith(c.starts));
    CHECK_THAT(msg, Catch::Contains(c.contains));
  }
}
