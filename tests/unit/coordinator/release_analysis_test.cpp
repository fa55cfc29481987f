// ReleaseAnalysis (release_analysis.h) with a real SQLite store and a fake
// clock: who is asked to sample and how, which samples count, the verdict and
// its record, sampling stopped, a critical metric failing early, and a
// restarted coordinator reaching the same verdict from the stored samples.
#include "flotilla/coordinator/release_analysis.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "flotilla/protocol/plan.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

using namespace std::chrono_literals;
using namespace flotilla::coordinator;  // NOLINT(google-build-using-namespace): the part under test
using flotilla::protocol::SampleRequest;
using flotilla::protocol::Samples;
using flotilla::testing::FakeClock;
using flotilla::testing::TempDir;

namespace {

std::string planText(const std::string& sizes) {
  return R"(app = "web"
version = "2"
artifact.file = "web.tar.gz"
[waves]
sizes = )" +
         sizes + R"(
[analysis]
interval = "1s"
min_samples = 4
[[analysis.metric]]
name = "error_ratio"
scrape = "http://127.0.0.1:${PORT}/metrics"
rate = 'http_requests_total{code=~"5.."}'
per = "http_requests_total"
tolerance = "25%"
critical = true
[[analysis.metric]]
name = "latency"
scrape = "http://127.0.0.1:${PORT}/metrics"
histogram = "http_request_duration_seconds"
)";
}

std::string host(std::size_t i) { return "h" + std::to_string(i); }

struct Rig {
  explicit Rig(std::size_t hosts = 10, const std::string& sizes = R"([1, "100%"])") {
    const std::string kPlan = planText(sizes);
    auto s = openStore({.file = dir.path() / "store.db"});
    REQUIRE(s.ok());
    store = std::move(*s);
    std::vector<AgentRecord> records;
    for (std::size_t i = 0; i < hosts; ++i) records.push_back({host(i), "k", "accepted", {}, {{"web", "1"}}, 0, 0});
    agents.load(std::move(records));
    for (std::size_t i = 0; i < hosts; ++i) {
      Agent* a = agents.find(host(i));
      a->online = true;
      a->routing_id = "rid-" + host(i);
    }
    auto plan = flotilla::protocol::parsePlan(kPlan, "p.toml", "");
    REQUIRE(plan.ok());
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < hosts; ++i) ids.push_back(host(i));
    std::map<std::string, std::string> previous;
    for (const auto& id : ids) previous[id] = "1";
    auto engine = std::make_unique<Rollout>(engineConfig("web-1", *plan), ids, previous);
    ReleaseRecord release{"web", "2", "d", 1, "spec", kPlan, ""};
    rollout = makeActiveRollout(newRolloutRecord("web-1", *plan, "p.toml", kPlan, "ops", "rollout", 0), *plan,
                                "rollout", release, std::move(engine));
    analysis = makeAnalysis();
  }

  std::unique_ptr<ReleaseAnalysis> makeAnalysis() {
    return std::make_unique<ReleaseAnalysis>(
        *store, agents, clock,
        ReleaseAnalysis::Hooks{[this](const std::string& id, const std::string& frame) {
                                 auto m = flotilla::protocol::decodeCoordinatorMessage(frame);
                                 REQUIRE(m.ok());
                                 sent.emplace_back(id, std::get<SampleRequest>(*m));
                               },
                               [this](const flotilla::Error& e) { failures.push_back(e.message); }});
  }

  // Starts the rollout: wave 0 (the canary h0) is running.
  void start() {
    rollout->engine->start(clock.steadyNow());
    rollout->engine->drainActions();
    analysis->waveStarted(*rollout, 0);
  }

  std::vector<std::string> askedAs(const std::string& role, bool stop = false) const {
    std::vector<std::string> out;
    for (const auto& [id, q] : sent)
      if (q.role == role && (q.duration_ms == 0) == stop) out.push_back(id);
    return out;
  }

  // `n` intervals of error_ratio and latency from `agent`: `errors` in 100 requests, latency `ms`.
  void send(const std::string& agent, const std::string& role, int n, double errors, double ms,
            std::uint32_t wave = 0) {
    Samples m{"web-1", "web", wave, role, {}, 0};
    for (int i = 0; i < n; ++i) {
      m.samples.push_back({"error_ratio", 1000L * i, errors / 100, errors, 100});
      m.samples.push_back({"latency", 1000L * i, (ms + i % 3) / 1000, 0, 0});
    }
    analysis->onSamples(*rollout, agent, m);
  }

  TempDir dir;
  FakeClock clock;
  std::unique_ptr<Store> store;
  AgentRegistry agents;
  std::unique_ptr<ActiveRollout> rollout;
  std::unique_ptr<ReleaseAnalysis> analysis;
  std::vector<std::pair<std::string, SampleRequest>> sent;
  std::vector<std::string> failures;
};

}  // namespace

TEST_CASE("a wave's baseline is hosts of later waves, asked to sample what the plan names", "[coordinator][analysis]") {
  Rig rig;
  rig.start();
  // Wave 0 has one host; the baseline is three hosts from the end of the host order.
  CHECK(rig.askedAs("baseline") == std::vector<std::string>{"h9", "h8", "h7"});
  CHECK(rig.askedAs("canary").empty());
  const auto& q = rig.sent.front().second;
  CHECK(q.rollout_id == "web-1");
  CHECK(q.app == "web");
  CHECK(q.wave == 0);
  CHECK(q.interval_ms == 1000);
  CHECK(q.duration_ms > 0);
  REQUIRE(q.metrics.size() == 2);
  CHECK(q.metrics[0].url == "http://127.0.0.1:${PORT}/metrics");  // the agent expands its own PORT
  CHECK(q.metrics[0].per == "http_requests_total");
  CHECK(q.metrics[1].kind == 2);

  rig.analysis->canaryProbation(*rig.rollout, "h0");
  CHECK(rig.askedAs("canary") == std::vector<std::string>{"h0"});
  rig.analysis->canaryProbation(*rig.rollout, "h5");  // not in this wave
  CHECK(rig.askedAs("canary") == std::vector<std::string>{"h0"});
}

TEST_CASE("an offline host is not a baseline, it joins the baseline when it is back", "[coordinator][analysis]") {
  Rig rig;
  rig.agents.find("h9")->online = false;
  rig.start();
  CHECK(rig.askedAs("baseline") == std::vector<std::string>{"h8", "h7", "h6"});
  rig.agents.find("h9")->online = true;
  rig.analysis->agentBack(*rig.rollout, "h9");  // the baseline is complete
  CHECK(rig.askedAs("baseline").size() == 3);
  rig.analysis->agentBack(*rig.rollout, "h8");  // a baseline host back: asked again
  CHECK(rig.askedAs("baseline").size() == 4);
}

TEST_CASE("samples not asked for are dropped and counted", "[coordinator][analysis]") {
  Rig rig;
  rig.start();
  rig.analysis->canaryProbation(*rig.rollout, "h0");
  rig.send("h3", "baseline", 2, 0, 100);     // not a baseline host
  rig.send("h0", "baseline", 2, 0, 100);     // the canary claiming the baseline role
  rig.send("h9", "baseline", 2, 0, 100, 1);  // another wave
  CHECK(rig.analysis->droppedSamples() == 12);
  Samples unknown{"web-1", "web", 0, "canary", {{"cpu", 0, 1, 0, 0}}, 0};
  rig.analysis->onSamples(*rig.rollout, "h0", unknown);
  CHECK(rig.analysis->droppedSamples() == 13);
  auto stored = rig.store->samples("web-1", 0);
  REQUIRE(stored.ok());
  CHECK(stored->empty());
}

TEST_CASE("a clean canary passes, the verdict is stored, and every sampler is stopped", "[coordinator][analysis]") {
  Rig rig;
  rig.start();
  rig.analysis->canaryProbation(*rig.rollout, "h0");
  rig.send("h0", "canary", 12, 0, 100);
  for (const char* b : {"h9", "h8", "h7"}) rig.send(b, "baseline", 4, 0, 100);
  auto v = rig.analysis->decide(*rig.rollout, 0);
  CHECK(v.outcome == Outcome::kPass);
  CHECK(decisionOf(v) == AnalysisDecision::kPass);
  REQUIRE(v.metrics.size() == 2);
  CHECK(v.metrics[0].canary_n == 12);
  CHECK(v.metrics[0].baseline_n == 12);
  auto stored = rig.store->verdicts("web-1");
  REQUIRE(stored.ok());
  REQUIRE(stored->size() == 1);
  CHECK((*stored)[0].outcome == "pass");
  CHECK(rig.askedAs("canary", true) == std::vector<std::string>{"h0"});
  CHECK(rig.askedAs("baseline", true).size() == 3);
  REQUIRE(rig.analysis->lastVerdicts().count("web"));
  CHECK(rig.analysis->lastVerdicts().at("web").rollout_id == "web-1");
  CHECK(verdictMessage(v, *rig.rollout->plan.analysis).rfind("pass: score 100 (pass 95, marginal 75)", 0) == 0);
}

TEST_CASE("errors on the canary against none on the baseline fail early, once per interval",
          "[coordinator][analysis]") {
  Rig rig;
  rig.start();
  rig.analysis->canaryProbation(*rig.rollout, "h0");
  for (const char* b : {"h9", "h8", "h7"}) rig.send(b, "baseline", 4, 0, 100);
  rig.send("h0", "canary", 2, 5, 100);
  CHECK_FALSE(rig.analysis->earlyFailure(*rig.rollout, rig.clock.steadyNow()));  // too few samples yet
  rig.send("h0", "canary", 4, 5, 100);
  CHECK_FALSE(rig.analysis->earlyFailure(*rig.rollout, rig.clock.steadyNow()));  // checked less than 1s ago
  rig.clock.advance(1s);
  auto v = rig.analysis->earlyFailure(*rig.rollout, rig.clock.steadyNow());
  REQUIRE(v);
  CHECK(v->outcome == Outcome::kFail);
  CHECK(v->metrics[0].verdict == MetricVerdict::kHigh);
  CHECK(rig.askedAs("canary", true) == std::vector<std::string>{"h0"});
}

TEST_CASE("a restarted coordinator reaches the same verdict from the stored samples", "[coordinator][analysis]") {
  Rig rig;
  rig.start();
  rig.analysis->canaryProbation(*rig.rollout, "h0");
  REQUIRE(rig.store->begin().ok());
  rig.send("h0", "canary", 8, 3, 130);
  for (const char* b : {"h9", "h8", "h7"}) rig.send(b, "baseline", 4, 0, 100);
  REQUIRE(rig.store->commit().ok());
  auto before = rig.analysis->interim(*rig.rollout);
  REQUIRE(before);

  rig.sent.clear();
  rig.analysis = rig.makeAnalysis();  // the coordinator restarted
  rig.analysis->resumed(*rig.rollout);
  auto after = rig.analysis->interim(*rig.rollout);
  REQUIRE(after);
  CHECK(toJson(*after) == toJson(*before));
  CHECK(rig.askedAs("canary") == std::vector<std::string>{"h0"});  // asked to go on
  CHECK(rig.askedAs("baseline").size() == 3);
  CHECK(rig.analysis->decide(*rig.rollout, 0).outcome == before->outcome);
}

TEST_CASE("a wave with no host left on the old release passes on its bounds alone", "[coordinator][analysis]") {
  Rig rig(4, R"(["100%"])");
  rig.start();
  CHECK(rig.askedAs("baseline").empty());
  for (const char* c : {"h0", "h1", "h2", "h3"}) {
    rig.analysis->canaryProbation(*rig.rollout, c);
    rig.send(c, "canary", 5, 0, 100);
  }
  auto v = rig.analysis->decide(*rig.rollout, 0);
  CHECK(v.outcome == Outcome::kPass);
  CHECK(v.reason.find("no host is left on the previous release") != std::string::npos);
  CHECK(v.score == 100);
  CHECK(v.metrics[0].verdict == MetricVerdict::kNoData);
}

TEST_CASE("a host cannot add more samples to a wave than the wave can take", "[coordinator][analysis]") {
  Rig rig;
  rig.start();
  rig.analysis->canaryProbation(*rig.rollout, "h0");
  const auto cap = ReleaseAnalysis::maxSamplesPerHost(*rig.rollout);
  // deadline 10m + window 5s at 1s: 607 intervals, 2 metrics, twice over.
  CHECK(cap == 2 * 607 * 2);
  std::size_t sent = 0;
  while (sent + 200 <= cap) {
    rig.send("h0", "canary", 100, 0, 100);
    sent += 200;
  }
  CHECK(rig.analysis->droppedSamples() == 0);
  rig.send("h0", "canary", 100, 0, 100);
  CHECK(rig.analysis->droppedSamples() == 200);
  auto stored = rig.store->samples("web-1", 0);
  REQUIRE(stored.ok());
  CHECK(stored->size() == sent);
}
