// A policy hold (a freeze that opened while the rollout runs, in_flight =
// "pause"): the next wave waits at the boundary, starts when the hold is
// lifted, and an operator's promote overrides it; a restart keeps it held.
#include <catch2/catch.hpp>

#include "rollout_drive.h"

using namespace rollout_drive;  // NOLINT(google-build-using-namespace): the tests' vocabulary

TEST_CASE("a hold keeps the next wave waiting; lifting it starts the wave", "[coordinator][rollout][policy]") {
  Drive d(policy({count(1), pct(100)}), 4);
  d.start();
  d.rollout.setHold("freeze weekend", d.now);
  d.healthy("h0");  // wave 0 done: the boundary
  CHECK(d.waveState(1) == WaveState::kAwaitingApproval);
  CHECK(d.deploys().empty());
  bool said = false;
  for (const auto& a : d.out)
    said |= a.event == "awaiting_approval" && a.message.find("freeze weekend") != std::string::npos;
  CHECK(said);
  d.rollout.setHold("freeze weekend", d.now);  // still held: nothing
  CHECK(d.drain().empty());
  d.rollout.setHold("", d.now);
  d.drain();
  CHECK(d.hasEvent("hold_lifted"));
  CHECK(d.deploys() == Ids{"h1", "h2", "h3"});
}

TEST_CASE("a hold does not stop a wave already running, and promote overrides it", "[coordinator][rollout][policy]") {
  Drive d(policy({count(1), pct(100)}), 4);
  d.start();
  d.healthy("h0");
  REQUIRE(d.deploys() == Ids{"h1", "h2", "h3"});  // wave 1 runs
  d.rollout.setHold("freeze weekend", d.now);
  d.healthy("h1");
  d.healthy("h2");
  d.healthy("h3");
  CHECK(d.rollout.state() == RolloutState::kSucceeded);  // the last wave finished; nothing left to hold

  Drive e(policy({count(1), pct(100)}), 4);
  e.start();
  e.rollout.setHold("freeze weekend", e.now);
  e.healthy("h0");
  REQUIRE(e.rollout.promote(e.now).ok());
  e.drain();
  CHECK(e.deploys() == Ids{"h1", "h2", "h3"});
}

TEST_CASE("a manual approval is not lifted by the end of a hold", "[coordinator][rollout][policy]") {
  auto p = policy({count(1), pct(100)});
  p.approval = Approval::kManual;
  Drive d(p, 4);
  d.start();
  d.rollout.setHold("freeze weekend", d.now);
  d.healthy("h0");
  d.rollout.setHold("", d.now);
  d.drain();
  CHECK(d.deploys().empty());
  CHECK(d.waveState(1) == WaveState::kAwaitingApproval);
}
