// The engine's side of release analysis (rollout.h): an analysed wave bakes at
// least its analysis window, then waits for a verdict; pass goes on, an
// inconclusive verdict pauses until an operator resumes (accepting the wave),
// fail applies on_failure, a critical failure can end a wave early, and the
// engine's analysis state survives saveState/restore.
#include <catch2/catch.hpp>

#include "rollout_drive.h"

using namespace rollout_drive;  // NOLINT(google-build-using-namespace): the tests' vocabulary
using flotilla::coordinator::AnalysisDecision;

namespace {

constexpr auto kWindow = 70s;

Drive analysed(std::size_t hosts, WavePolicy p) { return Drive(std::move(p), hosts, {}, kWindow); }

std::size_t analyzeActions(const Drive& d) {
  std::size_t n = 0;
  for (const auto& a : d.out) n += a.kind == Kind::kAnalyze;
  return n;
}

// Starts wave 0 (one canary, "h0") and brings it to its bake.
void canaryHealthy(Drive& d) {
  d.start();
  REQUIRE(d.deploys() == Ids{"h0"});
  d.healthy("h0");
  REQUIRE(d.waveState(0) == WaveState::kBaking);
}

}  // namespace

TEST_CASE("an analysed wave bakes for the analysis window and asks for a verdict once",
          "[coordinator][rollout][analysis]") {
  auto p = policy({count(1), pct(100)});
  p.bake = 10s;  // shorter than the window: the window wins
  Drive d = analysed(4, p);
  canaryHealthy(d);
  CHECK(d.rollout.analysing());
  CHECK(d.rollout.nextDeadline() == d.now + kWindow);
  d.advance(60s);
  d.tick();
  CHECK(analyzeActions(d) == 0);
  d.advance(10s);
  d.tick();
  REQUIRE(analyzeActions(d) == 1);
  CHECK(d.out.back().wave == 0);
  CHECK(d.rollout.gate(d.now) == "analysis verdict");
  CHECK_FALSE(d.rollout.nextDeadline());  // nothing is due until the verdict
  d.tick();
  CHECK(analyzeActions(d) == 0);  // asked once
  CHECK(d.waveState(0) == WaveState::kBaking);
}

TEST_CASE("a passing verdict lets the next wave start", "[coordinator][rollout][analysis]") {
  Drive d = analysed(4, policy({count(1), pct(100)}));
  canaryHealthy(d);
  d.advance(kWindow);
  d.tick();
  d.rollout.onVerdict(AnalysisDecision::kPass, "all metrics pass", d.now);
  d.drain();
  CHECK(d.waveState(0) == WaveState::kSucceeded);
  CHECK(d.deploys() == Ids{"h1", "h2", "h3"});
  CHECK(d.rollout.analysing());  // wave 1 is analysed too
}

TEST_CASE("a verdict before the bake ends changes nothing unless it fails", "[coordinator][rollout][analysis]") {
  Drive d = analysed(4, policy({count(1), pct(100)}));
  canaryHealthy(d);
  d.rollout.onVerdict(AnalysisDecision::kPass, "early", d.now);
  d.rollout.onVerdict(AnalysisDecision::kPause, "early", d.now);
  d.drain();
  CHECK(d.waveState(0) == WaveState::kBaking);
  CHECK(d.rollout.state() == RolloutState::kRunning);
}

TEST_CASE("a failing verdict fails the wave and rolls back", "[coordinator][rollout][analysis]") {
  Drive d = analysed(4, policy({count(1), pct(100)}));
  canaryHealthy(d);
  d.advance(kWindow);
  d.tick();
  d.rollout.onVerdict(AnalysisDecision::kFail, "error_ratio high", d.now);
  d.drain();
  CHECK(d.waveState(0) == WaveState::kFailed);
  CHECK(d.rollout.state() == RolloutState::kRollingBack);
  CHECK(d.rollbacks() == Ids{"h0"});
  CHECK(d.hasEvent("wave_failed"));
  bool named = false;
  for (const auto& a : d.out) named |= a.event == "wave_failed" && a.message.find("analysis: error_ratio high") == 0;
  CHECK(named);
}

TEST_CASE("a critical failure ends the wave early, while hosts still deploy", "[coordinator][rollout][analysis]") {
  Drive d = analysed(6, policy({count(2), pct(100)}, 1));
  d.start();
  d.healthy("h0");  // h1 is now deploying
  d.rollout.onVerdict(AnalysisDecision::kFail, "latency critical", d.now);
  d.drain();
  CHECK(d.waveState(0) == WaveState::kFailed);
  CHECK(d.rollbacks() == Ids{"h0", "h1"});
}

TEST_CASE("an inconclusive verdict pauses, resume accepts the wave", "[coordinator][rollout][analysis]") {
  Drive d = analysed(4, policy({count(1), pct(100)}));
  canaryHealthy(d);
  d.advance(kWindow);
  d.tick();
  d.rollout.onVerdict(AnalysisDecision::kPause, "score 80", d.now);
  d.drain();
  CHECK(d.rollout.state() == RolloutState::kPaused);
  CHECK(d.rollout.gate(d.now).find("analysis inconclusive") != std::string::npos);
  d.advance(1h);
  d.tick();
  CHECK(d.deploys().empty());
  REQUIRE(d.rollout.resume(d.now).ok());
  d.drain();
  CHECK(d.waveState(0) == WaveState::kSucceeded);
  CHECK(d.deploys() == Ids{"h1", "h2", "h3"});
}

TEST_CASE("promote during an analysed bake skips the verdict, said in an event", "[coordinator][rollout][analysis]") {
  Drive d = analysed(4, policy({count(1), pct(100)}));
  canaryHealthy(d);
  REQUIRE(d.rollout.promote(d.now).ok());
  d.drain();
  CHECK(d.hasEvent("analysis_skipped"));
  CHECK(d.waveState(0) == WaveState::kSucceeded);
  CHECK(analyzeActions(d) == 0);
}

TEST_CASE("analysis state survives a restart: the verdict is asked again", "[coordinator][rollout][analysis]") {
  Drive d = analysed(4, policy({count(1), pct(100)}));
  canaryHealthy(d);
  d.advance(kWindow);
  d.tick();
  REQUIRE(analyzeActions(d) == 1);
  const auto base = d.now;
  auto to_wall = [&](SteadyTime t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t - base).count(); };
  auto from_wall = [&](std::int64_t ms) { return base + std::chrono::milliseconds(ms); };
  auto state = d.rollout.saveState(to_wall);
  std::vector<flotilla::coordinator::HostSlot> hosts(d.rollout.hosts().begin(), d.rollout.hosts().end());
  auto restored = Rollout::restore(d.rollout.config(), hosts, state, from_wall);
  REQUIRE(restored.ok());
  auto& r = **restored;
  CHECK(r.analysing());
  r.tick(d.now);
  auto actions = r.drainActions();
  std::size_t asks = 0;
  for (const auto& a : actions) asks += a.kind == Kind::kAnalyze;
  CHECK(asks == 1);
  r.onVerdict(AnalysisDecision::kPause, "score 80", d.now);
  r.drainActions();
  auto paused = Rollout::restore(r.config(), hosts, r.saveState(to_wall), from_wall);
  REQUIRE(paused.ok());
  CHECK((*paused)->state() == RolloutState::kPaused);
  REQUIRE((*paused)->resume(d.now).ok());
  CHECK((*paused)->waves()[0].state == WaveState::kSucceeded);
}

TEST_CASE("a rollout without analysis never asks for a verdict", "[coordinator][rollout][analysis]") {
  Drive d(policy({count(1), pct(100)}), 4);
  d.start();
  d.healthy("h0");
  CHECK_FALSE(d.rollout.analysing());
  CHECK(d.waveState(0) == WaveState::kSucceeded);
  CHECK(analyzeActions(d) == 0);
}

TEST_CASE("after a restart an analysed bake gets one more window once agents can reconnect",
          "[coordinator][rollout][analysis]") {
  Drive d = analysed(4, policy({count(1), pct(100)}));
  canaryHealthy(d);
  d.advance(60s);  // 10s of the window left
  d.rollout.extendDeadlines(d.now + 30s);
  CHECK(d.rollout.nextDeadline() == d.now + 30s + kWindow);
  auto baked = policy({count(1), pct(100)});
  baked.bake = 70s;
  Drive plain(baked, 4);  // without analysis the bake is not lengthened
  plain.start();
  plain.healthy("h0");
  plain.advance(60s);
  plain.rollout.extendDeadlines(plain.now + 30s);
  CHECK(plain.rollout.nextDeadline() == plain.now + 10s);
}
