// The Deployer's path for flag apps ("flags:web"), through a FakeHostOs: the
// switch of flags.json, the revert on failing health, a malformed set refused
// with nothing changed, rollback to a set on disk, and recovery from a crash at
// every crash point. The files are real, in the rig's temp dir.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "flotilla/agent/deployer.h"
#include "flotilla/agent/flag_store.h"
#include "flotilla/common/fs.h"
#include "support/deployer_rig.h"
#include "support/fake_host_os.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using flotilla::protocol::HealthCheck;
using flotilla::protocol::OrderSpec;
using flotilla::protocol::Phase;
using flotilla::testing::DeployerRig;
using flotilla::testing::FakeCrash;
using flotilla::testing::FakeHostOs;
using Strings = std::vector<std::string>;

constexpr const char* kFlagApp = "flags:web";

// The app's [health] and an empty [deploy], as the coordinator sends for a flag rollout.
OrderSpec flagSpec() {
  OrderSpec spec;
  spec.health.interval = 1s;
  spec.health.healthy_for = 2s;
  spec.health.deadline = 10s;
  HealthCheck check;
  check.kind = HealthCheck::Kind::kHttp;
  check.target = "http://127.0.0.1:8080/healthz";
  check.timeout = 2s;
  spec.health.checks = {check};
  return spec;
}

// A flag set whose flag "new-ui" defaults to `variant`.
std::string flagSet(const std::string& variant) {
  return R"({"flags":{"new-ui":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":")" + variant +
         R"("}}})";
}

struct FlagHost {
  FlagHost() { rig.restartAgent(); }

  flotilla::protocol::VerifiedOrder order(const std::string& version, const std::string& bytes,
                                          const OrderSpec& spec = flagSpec()) {
    return rig.order(kFlagApp, version, rig.addContent("flags-" + version + ".json", bytes), spec);
  }
  Phase push(const std::string& version, const std::string& bytes, const OrderSpec& spec = flagSpec()) {
    return rig.execute(order(version, bytes, spec));
  }
  fs::path live() const { return rig.appDir("web") / "flags.json"; }
  fs::path stored(const std::string& version) const { return rig.appDir("web") / "flags" / (version + ".json"); }
  std::string liveBytes() const { return readOr(live(), ""); }
  static std::string readOr(const fs::path& file, const std::string& otherwise) {
    auto b = flotilla::common::readFile(file);
    return b ? *b : otherwise;
  }
  std::string published() const {
    auto set = rig.flags->find("web");
    return set ? set->version : "";
  }
  const std::string& lastMessage() const { return rig.reports.back().message; }

  FakeHostOs os;
  DeployerRig rig{os};
};

}  // namespace

TEST_CASE("a flag set goes live: flags.json written, kept by version, published, no hook or restart",
          "[agent][flags]") {
  FlagHost h;
  REQUIRE(h.push("f-1", flagSet("off")) == Phase::kHealthy);
  CHECK(h.liveBytes() == flagSet("off"));
  CHECK(FlagHost::readOr(h.stored("f-1"), "") == flagSet("off"));
  CHECK(h.published() == "f-1");
  CHECK(h.rig.flags->find("web")->set.find("new-ui") != nullptr);
  CHECK(h.rig.app(kFlagApp).current == "f-1");
  CHECK(h.rig.phasesSince(0) == Strings{"accepted", "fetching", "staging", "switching", "probation", "healthy"});
  CHECK(h.os.processes.empty());
  CHECK(h.os.switches.empty());
  CHECK(h.os.health_checks > 0);
  CHECK(h.rig.downloadsLeft() == 0);

  SECTION("the heartbeat carries the live flag version; the idle monitor leaves the flag app alone") {
    CHECK(h.rig.deployer().releases().at(kFlagApp) == "f-1");
    const int checks = h.os.health_checks;
    CHECK(h.rig.deployer().checkAll().count(kFlagApp) == 0);
    CHECK(h.os.health_checks == checks);
  }
  SECTION("the next set replaces it; the previous is kept") {
    REQUIRE(h.push("f-2", flagSet("on")) == Phase::kHealthy);
    CHECK(h.liveBytes() == flagSet("on"));
    CHECK(h.published() == "f-2");
    CHECK(h.rig.app(kFlagApp).previous == "f-1");
  }
}

TEST_CASE("failing health during probation writes the previous flag set back", "[agent][flags]") {
  FlagHost h;
  REQUIRE(h.push("f-1", flagSet("off")) == Phase::kHealthy);
  h.os.setUnhealthy();
  REQUIRE(h.push("f-2", flagSet("on")) == Phase::kReverted);
  CHECK_THAT(h.lastMessage(), Contains("flag set f-1 is live again"));
  CHECK(h.liveBytes() == flagSet("off"));
  CHECK(h.published() == "f-1");
  CHECK(h.rig.app(kFlagApp).current == "f-1");
  CHECK(h.rig.reports.back().live_version == "f-1");
}

TEST_CASE("a newer order of the flag app ends a flag set's probation at once, the set written back", "[agent][flags]") {
  FlagHost h;
  REQUIRE(h.push("f-1", flagSet("off")) == Phase::kHealthy);
  // The kill arrives while f-2 is on probation (healthy, but not yet for healthy_for).
  bool kill_queued = false;
  h.rig.superseded_override = [&](const std::string& app) { return kill_queued && app == kFlagApp; };
  h.rig.wait_override = [&](flotilla::common::Millis d) {
    h.rig.clock.advance(d);
    kill_queued = true;
    return true;
  };
  const auto before = h.rig.clock.steadyNow();
  REQUIRE(h.push("f-2", flagSet("on")) == Phase::kReverted);
  CHECK(h.rig.clock.steadyNow() - before < flagSpec().health.healthy_for);
  CHECK_THAT(h.lastMessage(), Contains("superseded"));
  CHECK(h.liveBytes() == flagSet("off"));
  CHECK(h.published() == "f-1");
  CHECK(h.rig.app(kFlagApp).current == "f-1");
}

TEST_CASE("a first flag set that fails its checks leaves no flags.json", "[agent][flags]") {
  FlagHost h;
  h.os.setUnhealthy();
  REQUIRE(h.push("f-1", flagSet("on")) == Phase::kReverted);
  CHECK_THAT(h.lastMessage(), Contains("flags.json was removed"));
  CHECK_FALSE(fs::exists(h.live()));
  CHECK(h.published().empty());
  CHECK(h.rig.app(kFlagApp).current.empty());
}

TEST_CASE("a malformed flag set is refused, counted, and changes nothing on the host", "[agent][flags]") {
  FlagHost h;
  REQUIRE(h.push("f-1", flagSet("off")) == Phase::kHealthy);
  const int checks = h.os.health_checks;
  REQUIRE(h.push("f-2", flagSet("maybe")) == Phase::kFailed);
  CHECK_THAT(h.lastMessage(), StartsWith("flag set f-2: flags.new-ui.defaultVariant"));
  CHECK(h.rig.reports.back().live_version == "f-1");
  CHECK(h.liveBytes() == flagSet("off"));
  CHECK_FALSE(fs::exists(h.stored("f-2")));
  CHECK(h.published() == "f-1");
  CHECK(h.rig.flags->refused() == 1);
  CHECK(h.os.health_checks == checks);
  CHECK(h.rig.downloadsLeft() == 0);
  CHECK(h.rig.app(kFlagApp).releases.count("f-2") == 0);

  SECTION("so does one that is not JSON") {
    REQUIRE(h.push("f-3", "{\"flags\": ") == Phase::kFailed);
    CHECK_THAT(h.lastMessage(), StartsWith("flag set f-3: "));
    CHECK(h.rig.flags->refused() == 2);
    CHECK(h.liveBytes() == flagSet("off"));
  }
}

TEST_CASE("a rollback order switches to a flag set already on disk, without fetching", "[agent][flags]") {
  FlagHost h;
  REQUIRE(h.push("f-1", flagSet("off")) == Phase::kHealthy);
  REQUIRE(h.push("f-2", flagSet("on")) == Phase::kHealthy);
  const int fetches = h.rig.fetches;
  auto back = h.rig.order(kFlagApp, "f-1", {}, flagSpec(), "rollback");
  REQUIRE(h.rig.execute(back) == Phase::kHealthy);
  CHECK(h.rig.fetches == fetches);
  CHECK(h.liveBytes() == flagSet("off"));
  CHECK(h.published() == "f-1");
  CHECK(h.rig.app(kFlagApp).previous == "f-2");

  SECTION("the same set again is already live") {
    REQUIRE(h.rig.execute(h.rig.order(kFlagApp, "f-1", {}, flagSpec(), "rollback")) == Phase::kHealthy);
    CHECK_THAT(h.lastMessage(), Contains("already live"));
  }
  SECTION("a set this host never had cannot be rolled back to") {
    REQUIRE(h.rig.execute(h.rig.order(kFlagApp, "f-9", {}, flagSpec(), "rollback")) == Phase::kFailed);
    CHECK_THAT(h.lastMessage(), Contains("not on this host"));
    CHECK(h.liveBytes() == flagSet("off"));
  }
}

TEST_CASE("a restarted agent serves the journal's live flag set from disk", "[agent][flags]") {
  FlagHost h;
  REQUIRE(h.push("f-1", flagSet("off")) == Phase::kHealthy);
  h.rig.restartAgent();
  CHECK(h.published().empty());
  h.rig.deployer().recover();
  CHECK(h.published() == "f-1");

  SECTION("and rewrites a flags.json that does not match it") {
    REQUIRE(flotilla::common::atomicWriteFile(h.live(), flagSet("on")).ok());
    h.rig.restartAgent();
    h.rig.deployer().recover();
    CHECK(h.liveBytes() == flagSet("off"));
    CHECK(h.published() == "f-1");
  }
}

TEST_CASE("after a crash at any point of a flag rollout, flags.json matches the journal's live set",
          "[agent][flags][crash]") {
  // The crash points of a good rollout and of one that reverts.
  std::set<std::string> points;
  for (bool healthy : {true, false}) {
    FlagHost h;
    REQUIRE(h.push("f-1", flagSet("off")) == Phase::kHealthy);
    h.os.crash_points.clear();
    if (!healthy) h.os.setUnhealthy();
    h.push("f-2", flagSet("on"));
    for (const auto& p : h.os.crash_points)
      if (p != "healthy" || healthy) points.insert(p);
  }
  REQUIRE(points.count("switching:after") == 1);
  REQUIRE(points.count("reverting:after") == 1);
  for (const auto& point : points) {
    DYNAMIC_SECTION("crash at " << point) {
      FlagHost h;
      REQUIRE(h.push("f-1", flagSet("off")) == Phase::kHealthy);
      if (point.rfind("reverting", 0) == 0 || point == "reverted") h.os.setUnhealthy();
      h.os.crash_at = point;
      CHECK_THROWS_AS(h.push("f-2", flagSet("on")), FakeCrash);
      h.os.crash_at.clear();
      h.os.setHealthy();
      h.rig.restartAgent();
      h.rig.deployer().recover();
      const std::string live = h.rig.app(kFlagApp).current;
      INFO("live after recovery: " << live);
      CHECK(h.rig.journal().state().order == std::nullopt);
      CHECK((live == "f-1" || (live == "f-2" && point == "healthy")));
      CHECK(h.liveBytes() == FlagHost::readOr(h.stored(live), "?"));
      CHECK(h.published() == live);
      // The outcome is the app's last finished order (the agent re-sends its report).
      const auto& last = h.rig.app(kFlagApp).last_order;
      REQUIRE(last);
      CHECK(last->order_id == h.rig.reports.back().order_id);
      CHECK(flotilla::protocol::isTerminal(last->phase));
    }
  }
}

TEST_CASE("a recovery whose revert fails still serves what flags.json holds", "[agent][flags][crash]") {
  FlagHost h;
  REQUIRE(h.push("f-1", flagSet("off")) == Phase::kHealthy);
  h.os.crash_at = "switching:after";
  CHECK_THROWS_AS(h.push("f-2", flagSet("on")), FakeCrash);
  h.os.crash_at.clear();
  // The set to go back to is gone (a disk repaired by hand, say): the revert cannot happen.
  fs::remove(h.stored("f-1"));
  h.rig.restartAgent();
  h.rig.deployer().recover();
  CHECK(h.rig.reports.back().phase == Phase::kRevertFailed);
  CHECK(h.rig.app(kFlagApp).current == "f-2");
  CHECK(h.liveBytes() == flagSet("on"));
  // OFREP serves what flags.json holds and the journal says is live, not nothing.
  CHECK(h.published() == "f-2");
}
