// A policy hold (a freeze that opened while the rollout runs, in_flight =
// "pause"): the next wave waits at the boundary, starts when the hold is
// lifted, and an operator's promote overrides it; a restart keeps it held.
#include <catch2/catch.hpp>

#include "rollout_drive.h"

using namespace rollout_drive;  // NOLINT(google-build-using-namespace): the tests' vocabulary

TEST_CASE("a hold keeps the next wave waiting, lifting it starts the wave", "[coordinator][rollout][policy]") {
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

TEST_CASE("a rollout awaiting approval deploys nothing until started, only abort applies meanwhile",
          "[coordinator][rollout][policy]") {
  Drive d(policy({count(1), pct(100)}), 4);
  d.rollout.awaitApproval("waits for 2 approvals");
  d.drain();
  CHECK(d.rollout.state() == RolloutState::kAwaitingApproval);
  CHECK(d.hasEvent("awaiting_approval"));
  CHECK(d.rollout.gate(d.now).rfind("approvals", 0) == 0);
  CHECK_FALSE(d.rollout.nextDeadline());
  // Not a running rollout: no promote, pause or rollback; nothing leaves.
  CHECK(d.rollout.promote(d.now).error().code == flotilla::Errc::kConflict);
  CHECK(d.rollout.pause(d.now).error().code == flotilla::Errc::kConflict);
  CHECK(d.rollout.rollback(d.now).error().message.find("abort it instead") != std::string::npos);
  d.tick();
  CHECK(d.deploys().empty());

  // It survives a restart still waiting.
  auto to_wall = [&](SteadyTime t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t - d.now).count(); };
  auto from_wall = [&](std::int64_t ms) { return d.now + std::chrono::milliseconds(ms); };
  std::vector<flotilla::coordinator::HostSlot> hosts(d.rollout.hosts().begin(), d.rollout.hosts().end());
  auto restored = Rollout::restore(d.rollout.config(), hosts, d.rollout.saveState(to_wall), from_wall);
  REQUIRE(restored.ok());
  CHECK((*restored)->state() == RolloutState::kAwaitingApproval);

  d.start();  // approved
  CHECK(d.rollout.state() == RolloutState::kRunning);
  CHECK(d.deploys() == Ids{"h0"});

  Drive e(policy({count(1), pct(100)}), 4);
  e.rollout.awaitApproval("waits");
  REQUIRE(e.rollout.abort(e.now).ok());
  e.drain();
  CHECK(e.rollout.state() == RolloutState::kAborted);
  CHECK(e.deploys().empty());
}

TEST_CASE("a rollout started while a hold is on waits before its first wave", "[coordinator][rollout][policy]") {
  Drive d(policy({count(1), pct(100)}), 4);
  d.rollout.awaitApproval("waits");
  d.rollout.setHold("freeze weekend", d.now);  // a freeze opened while it waited for approvals
  d.start();
  CHECK(d.deploys().empty());
  CHECK(d.waveState(0) == WaveState::kAwaitingApproval);
  d.rollout.setHold("", d.now);
  d.drain();
  CHECK(d.deploys() == Ids{"h0"});
}
