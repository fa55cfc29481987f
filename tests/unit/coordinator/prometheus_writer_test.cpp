#include "flotilla/coordinator/prometheus_writer.h"

#include <catch2/catch.hpp>

#include "flotilla/coordinator/fleet_gauges.h"
#include "flotilla/coordinator/order_refusals.h"

using flotilla::coordinator::FleetGauges;
using flotilla::coordinator::OrderRefusals;
using flotilla::coordinator::PrometheusWriter;
using flotilla::coordinator::renderFleetGauges;

namespace {

// Every line of an exposition is a comment or `name{labels} value`, and every
// label value is a closed, escaped string.
bool wellFormed(const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) return false;
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.rfind("# ", 0) == 0) continue;
    bool in_value = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (!in_value && line[i] == '"') {
        in_value = true;
      } else if (in_value && line[i] == '\\') {
        if (i + 1 >= line.size()) return false;
        const char n = line[++i];
        if (n != '\\' && n != '"' && n != 'n') return false;
      } else if (in_value && line[i] == '"') {
        in_value = false;
      }
    }
    if (in_value) return false;
  }
  return true;
}

std::size_t countLines(const std::string& text, const std::string& prefix) {
  std::size_t n = 0, start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (text.compare(start, prefix.size(), prefix) == 0) ++n;
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return n;
}

}  // namespace

TEST_CASE("PrometheusWriter announces a family and writes samples with and without labels", "[coordinator][metrics]") {
  PrometheusWriter w;
  w.family("x_total", "counter", "Things.");
  w.sample("x_total", {{"a", "1"}, {"b", "two"}}, 3);
  w.sample("x_total", 4);
  CHECK(w.text() == "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"two\"} 3\nx_total 4\n");
}

TEST_CASE("PrometheusWriter escapes backslash, quote and line feed in label values", "[coordinator][metrics]") {
  CHECK(PrometheusWriter::escapeLabelValue("plain") == "plain");
  CHECK(PrometheusWriter::escapeLabelValue("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  PrometheusWriter w;
  w.sample("m", {{"l", "\"} 1\nforged 2"}}, 0);
  CHECK(w.text() == "m{l=\"\\\"} 1\\nforged 2\"} 0\n");
  CHECK(wellFormed(w.text()));
}

TEST_CASE("order refusals: known reasons become labels, anything else is other", "[coordinator][metrics]") {
  CHECK(OrderRefusals::categoryOf("replay: sequence 3 for app 'web' is not above 5") == "replay");
  CHECK(OrderRefusals::categoryOf("bad_signature: signature does not verify") == "bad_signature");
  CHECK(OrderRefusals::categoryOf("unsigned_release") == "unsigned_release");
  CHECK(OrderRefusals::categoryOf("replay") == "replay");
  CHECK(OrderRefusals::categoryOf("") == "other");
  CHECK(OrderRefusals::categoryOf("Replay: upper case is another word") == "other");
  CHECK(OrderRefusals::categoryOf("fetch: no artifact") == "other");
}

TEST_CASE("hostile refusal text from agents neither grows /metrics nor breaks its lines", "[coordinator][metrics]") {
  OrderRefusals refusals;
  refusals.count("expired: order expired at unix 1, now 2");
  refusals.count("\"} 1\nflotilla_agents{state=\"online\"} 99999\n#: quote and newline");
  refusals.count("reason with \\ backslash: and \"quotes\"");
  for (int i = 0; i < 10000; ++i) refusals.count("reason-" + std::to_string(i) + ": distinct text");

  CHECK(refusals.byReason().size() == 2);
  CHECK(refusals.byReason().at("expired") == 1);
  CHECK(refusals.byReason().at("other") == 10002);

  FleetGauges g;
  g.refusals = refusals.byReason();
  const std::string text = renderFleetGauges(g);
  CHECK(wellFormed(text));
  CHECK(countLines(text, "flotilla_order_refusals_total{") == 2);
  CHECK(text.find("flotilla_order_refusals_total{reason=\"other\"} 10002\n") != std::string::npos);
  CHECK(text.find("flotilla_order_refusals_total{reason=\"expired\"} 1\n") != std::string::npos);
  CHECK(text.find("99999") == std::string::npos);
}

TEST_CASE("fleet gauges list every agent state, the rollouts and their hosts", "[coordinator][metrics]") {
  FleetGauges g;
  g.agents["online"] = 3;
  g.active_rollouts = 1;
  g.rollout_hosts["healthy"] = 2;
  g.denied_messages = 7;
  const std::string text = renderFleetGauges(g);
  CHECK(text.find("flotilla_agents{state=\"online\"} 3\n") != std::string::npos);
  CHECK(text.find("flotilla_agents{state=\"revoked\"} 0\n") != std::string::npos);
  CHECK(text.find("flotilla_active_rollouts 1\n") != std::string::npos);
  CHECK(text.find("flotilla_rollout_hosts{state=\"healthy\"} 2\n") != std::string::npos);
  CHECK(text.find("flotilla_denied_messages_total 7\n") != std::string::npos);
}

TEST_CASE("fleet gauges say whether this coordinator leads, and in which epoch", "[coordinator][metrics]") {
  FleetGauges g;
  std::string text = renderFleetGauges(g);  // no lease: leads alone, epoch 0
  CHECK(wellFormed(text));
  CHECK(text.find("flotilla_coordinator_leader 1\n") != std::string::npos);
  CHECK(text.find("flotilla_coordinator_epoch 0\n") != std::string::npos);
  g.epoch = 7;
  CHECK(renderFleetGauges(g).find("flotilla_coordinator_epoch 7\n") != std::string::npos);
  text = flotilla::coordinator::renderLeadershipGauges(false, 8);
  CHECK(wellFormed(text));
  CHECK(text.find("flotilla_coordinator_leader 0\n") != std::string::npos);
  CHECK(text.find("flotilla_coordinator_epoch 8\n") != std::string::npos);
}

TEST_CASE("prometheus writer: a histogram is cumulative buckets, +Inf, sum and count", "[coordinator][metrics]") {
  PrometheusWriter w;
  w.family("d_seconds", "histogram", "Durations.");
  w.histogram("d_seconds", {{"app", "we\"b"}}, {1, 2.5}, {1, 3}, 7.25, 4);
  CHECK(w.text() ==
        "# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n"
        "d_seconds_bucket{app=\"we\\\"b\",le=\"1\"} 1\n"
        "d_seconds_bucket{app=\"we\\\"b\",le=\"2.5\"} 3\n"
        "d_seconds_bucket{app=\"we\\\"b\",le=\"+Inf\"} 4\n"
        "d_seconds_sum{app=\"we\\\"b\"} 7.25\n"
        "d_seconds_count{app=\"we\\\"b\"} 4\n");
  CHECK(wellFormed(w.text()));
}

TEST_CASE("prometheus writer: numbers are the shortest text that reads back the same", "[coordinator][metrics]") {
  CHECK(PrometheusWriter::number(1) == "1");
  CHECK(PrometheusWriter::number(0.25) == "0.25");
  CHECK(PrometheusWriter::number(1.5e-05) == "1.5e-05");
}
