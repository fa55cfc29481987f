#include "flotilla/common/prom_exposition.h"

#include <cmath>
#include <string>

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;
using flotilla::common::Exposition;
using flotilla::common::ExpositionLimits;
using flotilla::common::parseExposition;
using flotilla::common::PromSeries;

namespace {

Exposition parsed(std::string_view body, const ExpositionLimits& limits = {}) {
  auto r = parseExposition(body, limits);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

std::string errorOf(std::string_view body, const ExpositionLimits& limits = {}) {
  auto r = parseExposition(body, limits);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

// What Go's client_golang writes for a counter vector and a histogram.
constexpr const char* kGoExporter = R"(# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 7
# HELP http_requests_total Requests served, by code.
# TYPE http_requests_total counter
http_requests_total{code="200",method="get"} 1027
http_requests_total{code="500",method="get"} 3
# HELP http_request_duration_seconds Latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
)";

}  // namespace

TEST_CASE("exposition: a Go client's body parses with types, labels and values", "[common][prom]") {
  auto e = parsed(kGoExporter);
  REQUIRE(e.series.size() == 8);
  CHECK(e.types.at("go_goroutines") == "gauge");
  CHECK(e.types.at("http_requests_total") == "counter");
  CHECK(e.types.at("http_request_duration_seconds") == "histogram");
  CHECK(e.series[0].name == "go_goroutines");
  CHECK(e.series[0].labels.empty());
  CHECK(e.series[0].value == 7);
  CHECK(e.series[2].labels == std::map<std::string, std::string>{{"code", "500"}, {"method", "get"}});
  CHECK(e.series[2].value == 3);
  CHECK(e.series[5].value == 144320);
  CHECK(e.series[5].labels.at("le") == "+Inf");
  CHECK(e.duplicates == 0);
}

TEST_CASE("exposition: label values unescape backslash, quote and newline", "[common][prom]") {
  auto e = parsed("m{path=\"/a \\\"b\\\"\",dir=\"C:\\\\x\",msg=\"two\\nlines\"} 1\n");
  REQUIRE(e.series.size() == 1);
  CHECK(e.series[0].labels.at("path") == "/a \"b\"");
  CHECK(e.series[0].labels.at("dir") == "C:\\x");
  CHECK(e.series[0].labels.at("msg") == "two\nlines");
}

TEST_CASE("exposition: NaN, +Inf, -Inf and exponents are values", "[common][prom]") {
  auto e = parsed("a NaN\nb +Inf\nc -Inf\nd 1.5e3\ne -0.25\nf +7\n");
  REQUIRE(e.series.size() == 6);
  CHECK(std::isnan(e.series[0].value));
  CHECK(e.series[1].value == std::numeric_limits<double>::infinity());
  CHECK(e.series[2].value == -std::numeric_limits<double>::infinity());
  CHECK(e.series[3].value == 1500);
  CHECK(e.series[4].value == -0.25);
  CHECK(e.series[5].value == 7);
}

TEST_CASE("exposition: timestamps, blank lines, CRLF, spaces and a trailing comma", "[common][prom]") {
  auto e = parsed("\n  # just a comment\r\nm{a=\"1\",} 2 1395066363000\r\n\tn 3 -5\n\nlast{ a = \"x\" }  4");
  REQUIRE(e.series.size() == 3);
  CHECK(e.series[0].timestamp_ms == 1395066363000);
  CHECK(e.series[0].labels.at("a") == "1");
  CHECK(e.series[1].timestamp_ms == -5);
  CHECK_FALSE(e.series[2].timestamp_ms);
  CHECK(e.series[2].value == 4);
}

TEST_CASE("exposition: a repeated series keeps the first and is counted", "[common][prom]") {
  auto e = parsed("m{a=\"1\",b=\"2\"} 1\nm{b=\"2\",a=\"1\"} 9\nm{a=\"1\"} 3\n");
  REQUIRE(e.series.size() == 2);
  CHECK(e.series[0].value == 1);
  CHECK(e.duplicates == 1);
}

TEST_CASE("exposition: syntax errors name the line", "[common][prom]") {
  CHECK_THAT(errorOf("ok 1\nm{a=\"open} 1\n"), Contains("line 2") && Contains("unterminated label value"));
  CHECK_THAT(errorOf("m{a=\"x\" 1\n"), Contains("expected , or }"));
  CHECK_THAT(errorOf("m{a=\"\\t\"} 1\n"), Contains("bad escape"));
  CHECK_THAT(errorOf("m{a=x} 1\n"), Contains("quoted"));
  CHECK_THAT(errorOf("m{a=\"1\",a=\"2\"} 1\n"), Contains("repeated"));
  CHECK_THAT(errorOf("m one\n"), Contains("bad value"));
  CHECK_THAT(errorOf("m\n"), Contains("line 1"));
  CHECK_THAT(errorOf("m 1 12.5\n"), Contains("bad timestamp"));
  CHECK_THAT(errorOf("m 1 2 3\n"), Contains("after the timestamp"));
  CHECK_THAT(errorOf("9m 1\n"), Contains("metric name"));
  CHECK_THAT(errorOf("# TYPE\n"), Contains("TYPE without a metric name"));
  CHECK_THAT(errorOf("m{a=\"1\"\n"), Contains("line 1"));
}

TEST_CASE("exposition: a body over the limit is refused before parsing", "[common][prom]") {
  ExpositionLimits limits;
  limits.max_body_bytes = 100;
  CHECK_THAT(errorOf(std::string(101, '#'), limits), Contains("over the limit of 100"));
}

TEST_CASE("exposition: a line claiming 100 MB stops at the line limit", "[common][prom]") {
  // A label value that never ends: the parse must give up at the line limit,
  // not buffer it. (The body limit is raised so the line limit is what bites.)
  ExpositionLimits limits;
  limits.max_body_bytes = 8u << 20;
  std::string body = "m{a=\"" + std::string(4u << 20, 'x');
  CHECK_THAT(errorOf(body, limits), Contains("line 1 is longer than 65536 bytes"));
}

TEST_CASE("exposition: series, label count and label length are bounded", "[common][prom]") {
  ExpositionLimits limits;
  limits.max_series = 3;
  limits.max_labels = 2;
  limits.max_label_value_bytes = 8;
  CHECK_THAT(errorOf("a 1\nb 1\nc 1\nd 1\n", limits), Contains("more than 3 series"));
  CHECK_THAT(errorOf("a{x=\"1\",y=\"2\",z=\"3\"} 1\n", limits), Contains("more than 2 labels"));
  CHECK_THAT(errorOf("a{x=\"123456789\"} 1\n", limits), Contains("longer than 8 bytes"));
  CHECK(parsed("a 1\nb 1\nc 1\n", limits).series.size() == 3);
}

TEST_CASE("exposition: an unknown TYPE is ignored, its series kept", "[common][prom]") {
  auto e = parsed("# TYPE build info\nbuild{v=\"1\"} 1\n");
  CHECK(e.types.empty());
  CHECK(e.series.size() == 1);
}

TEST_CASE("exposition: an empty body is no series", "[common][prom]") {
  CHECK(parsed("").series.empty());
  CHECK(parsed("# EOF\n").series.empty());
}
