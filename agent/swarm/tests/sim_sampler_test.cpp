// SimSampler: synthetic samples for SampleRequests, driven with made-up times.
#include "flotilla/swarm/sim_sampler.h"

#include <catch2/catch.hpp>

using namespace flotilla;
using namespace std::chrono_literals;

namespace {

protocol::SampleRequest sampleRequest(const std::string& role, std::int64_t duration_ms = 30000) {
  protocol::SampleRequest r;
  r.rollout_id = "web-1";
  r.app = "web";
  r.wave = 1;
  r.role = role;
  r.interval_ms = 10000;
  r.duration_ms = duration_ms;
  protocol::ScrapeMetric ratio;
  ratio.name = "error_ratio";
  ratio.kind = 0;
  ratio.series = "req{code=~\"5..\"}";
  ratio.per = "req";
  protocol::ScrapeMetric latency;
  latency.name = "p99";
  latency.kind = 2;
  latency.series = "lat";
  r.metrics = {ratio, latency};
  return r;
}

std::vector<protocol::Samples> decoded(const std::vector<std::string>& out) {
  std::vector<protocol::Samples> v;
  for (const auto& bytes : out) {
    auto m = protocol::decodeAgentMessage(bytes);
    REQUIRE(m.ok());
    v.push_back(std::get<protocol::Samples>(*m));
  }
  return v;
}

double meanOf(swarm::SimSampler& s, const swarm::SampleModel& model, std::mt19937_64& rng, common::SteadyTime& t) {
  double total = 0;
  int n = 0;
  for (int i = 0; i < 3; ++i) {
    t += 10s;
    std::vector<std::string> out;
    s.onTimer(model, rng, t, common::SysTime{}, out);
    for (const auto& b : decoded(out))
      for (const auto& x : b.samples) {
        total += x.value;
        ++n;
      }
  }
  return n ? total / n : 0;
}

}  // namespace

TEST_CASE("sim sampler: one batch per interval for the duration, none at the request", "[swarm]") {
  swarm::SimSampler s;
  swarm::SampleModel model;
  std::mt19937_64 rng{7};
  common::SteadyTime t{1h};
  s.onRequest(sampleRequest("baseline"), t);
  CHECK(s.nextDeadline() == t + 10s);
  std::vector<std::string> out;
  CHECK(s.onTimer(model, rng, t + 5s, {}, out) == 0);
  CHECK(out.empty());
  for (int i = 1; i <= 3; ++i) {
    CHECK(s.onTimer(model, rng, t + 10s * i, {}, out) == 2);
  }
  CHECK(s.nextDeadline() == common::SteadyTime::max());
  auto batches = decoded(out);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0].role == "baseline");
  CHECK(batches[0].rollout_id == "web-1");
  const auto& ratio = batches[0].samples[0];
  CHECK(ratio.metric == "error_ratio");
  CHECK(ratio.den == model.requests);
  CHECK(ratio.num == Approx(ratio.value * ratio.den));
  CHECK(batches[0].samples[1].metric == "p99");
}

TEST_CASE("sim sampler: duration 0 stops, a new request replaces", "[swarm]") {
  swarm::SimSampler s;
  common::SteadyTime t{1h};
  s.onRequest(sampleRequest("canary"), t);
  s.onRequest(sampleRequest("canary", 0), t);
  CHECK(s.nextDeadline() == common::SteadyTime::max());
  s.onRequest(sampleRequest("canary"), t);
  s.onRequest(sampleRequest("baseline"), t + 3s);
  CHECK(s.nextDeadline() == t + 13s);
}

TEST_CASE("sim sampler: canary and baseline match by default; canary_shift moves the canary", "[swarm]") {
  swarm::SampleModel model;
  model.level = 100;
  std::mt19937_64 rng{7};
  common::SteadyTime t{1h};
  swarm::SimSampler canary, baseline;
  canary.onRequest(sampleRequest("canary"), t);
  baseline.onRequest(sampleRequest("baseline"), t);
  auto tc = t, tb = t;
  CHECK(meanOf(canary, model, rng, tc) == Approx(meanOf(baseline, model, rng, tb)).epsilon(0.15));
  model.canary_shift = 0.5;
  canary.onRequest(sampleRequest("canary"), tc);
  baseline.onRequest(sampleRequest("baseline"), tb);
  CHECK(meanOf(canary, model, rng, tc) > 1.3 * meanOf(baseline, model, rng, tb));
}
