// The console's view of release analysis: the `analysis` reply read strictly
// and printed as a table with each threshold beside its figure, and the lines
// a watch shows while a wave is analysed.
#include <catch2/catch.hpp>
#include <sstream>

#include "flotilla/console/render.h"
#include "flotilla/console/watch.h"
#include "flotilla/protocol/control.h"

namespace control = flotilla::protocol::control;
using nlohmann::json;

namespace {

control::AnalysisWaveDoc failedWave() {
  control::AnalysisMetricDoc err;
  err.metric = "error_ratio";
  err.verdict = "high";
  err.test = "two-proportion";
  err.tolerance = "25%";
  err.why = "canary 0.1 vs baseline 0 (12 of 120 vs 0 of 360, p<0.0001): above tolerance 25%";
  err.critical = true;
  err.canary_n = 6;
  err.baseline_n = 18;
  err.canary = 0.1;
  err.baseline = 0;
  err.shift = 0.1;
  err.p_value = 0.00001;
  control::AnalysisMetricDoc lat;
  lat.metric = "latency_p90";
  lat.verdict = "pass";
  lat.test = "mann-whitney";
  lat.tolerance = "100%";
  lat.canary = 0.0045;
  lat.baseline = 0.0044;
  lat.change = 0.023;
  lat.max = 0.5;
  control::AnalysisWaveDoc w;
  w.wave = 0;
  w.final = true;
  w.at = "2026-11-30T22:31:07Z";
  w.outcome = "fail";
  w.score = 50;
  w.reason = "critical metric failed: error_ratio";
  w.metrics = {err, lat};
  return w;
}

}  // namespace

TEST_CASE("an analysis reply round-trips and a missing figure is named", "[console][analysis]") {
  control::AnalysisReply r{"web-4", "web", 95, 75, {failedWave()}};
  json j = r;
  auto back = control::parseReply<control::AnalysisReply>(j);
  REQUIRE(back.ok());
  CHECK(back->waves == r.waves);
  CHECK(j["waves"][0]["metrics"][0]["change"].is_null());  // a figure that could not be computed is null
  j["waves"][0]["metrics"][1].erase("tolerance");
  auto broken = control::parseReply<control::AnalysisReply>(j);
  REQUIRE_FALSE(broken.ok());
  CHECK_THAT(broken.error().message, Catch::Contains("waves[0].metrics[1].tolerance"));
}

TEST_CASE("the analysis table shows each verdict beside its threshold", "[console][analysis]") {
  const std::string out = flotilla::console::renderAnalysis({"web-4", "web", 95, 75, {failedWave()}});
  INFO(out);
  CHECK(out.find("wave 0: fail, score 50 (pass 95, marginal 75) at 2026-11-30T22:31:07Z") != std::string::npos);
  CHECK(out.find("critical metric failed: error_ratio") != std::string::npos);
  CHECK(out.find("METRIC") != std::string::npos);
  CHECK(out.find("TOLERANCE/BOUND") != std::string::npos);
  CHECK(out.find("high (critical)") != std::string::npos);
  CHECK(out.find("0.1 (from 0)") != std::string::npos);  // no relative change from a zero baseline
  CHECK(out.find("+2.3%") != std::string::npos);
  CHECK(out.find("100%, max 0.5") != std::string::npos);
  CHECK(out.find("above tolerance 25%") != std::string::npos);
}

TEST_CASE("a watched status shows the wave's verdict so far", "[console][analysis]") {
  control::RolloutStatus st;
  st.id = "web-4";
  st.app = "web";
  st.version = "4";
  st.state = "running";
  auto w = failedWave();
  w.final = false;
  w.at.reset();
  st.analysis = w;
  json j = st;
  auto back = control::parseReply<control::RolloutStatus>(j);
  REQUIRE(back.ok());
  REQUIRE(back->analysis);
  const auto lines = flotilla::console::statusBlock(*back);
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  INFO(all);
  CHECK(all.find("analysis of wave 0 so far: fail, score 50") != std::string::npos);
  CHECK(all.find("error_ratio high (critical): canary 0.1 vs baseline 0") != std::string::npos);
  st.analysis.reset();
  json plain = st;
  CHECK_FALSE(plain.contains("analysis"));
}

TEST_CASE("a plain watch prints a metric's line when its verdict so far changes", "[console][analysis]") {
  std::ostringstream out;
  flotilla::console::WatchView view(out, flotilla::console::WatchView::Mode::kPlain);
  control::RolloutStatus st;
  st.id = "web-4";
  st.app = "web";
  st.version = "4";
  st.state = "running";
  auto w = failedWave();
  w.final = false;
  w.at.reset();
  w.metrics[0].verdict = "nodata";
  auto push = [&](const control::RolloutStatus& s) {
    json j = s;
    j["type"] = "status";
    REQUIRE(view.onPush(j).ok());
    view.flush();
  };
  st.analysis = w;
  push(st);
  CHECK(out.str().find("analysis wave 0: error_ratio nodata (critical)") != std::string::npos);
  CHECK(out.str().find("analysis wave 0: latency_p90 pass") != std::string::npos);
  const auto printed = out.str().size();
  st.analysis->metrics[0].canary_n = 7;  // more samples, same verdict: nothing new
  push(st);
  CHECK(out.str().size() == printed);
  st.analysis->metrics[0].verdict = "high";
  push(st);
  CHECK(out.str().find("analysis wave 0: error_ratio high (critical)", printed) != std::string::npos);
  CHECK(out.str().find("latency_p90", printed) == std::string::npos);
}
