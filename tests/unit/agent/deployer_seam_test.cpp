// Deployer paths driven through a FakeHostOs: hooks that fail, restarts that
// hang, health that flips, switches and extractions that fail, full disks and
// a crash at every crash point. No process, socket or symlink is made, so each
// case runs in milliseconds; deployer_test.cpp covers the same Deployer on the
// real OS.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "flotilla/agent/deployer.h"
#include "support/catch_phase.h"
#include "support/deployer_rig.h"
#include "support/fake_host_os.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using flotilla::Errc;
using flotilla::Error;
using flotilla::protocol::HealthCheck;
using flotilla::protocol::OrderSpec;
using flotilla::protocol::Phase;
using flotilla::testing::DeployerRig;
using flotilla::testing::FakeCrash;
using flotilla::testing::FakeHostOs;
using Strings = std::vector<std::string>;
using flotilla::protocol::HealthMap;
using H = flotilla::protocol::HealthState;

constexpr std::uint64_t kMiB = 1024 * 1024;

// Restart with `restart`, an http check every 1s, healthy after 2s of passing, deadline 10s.
OrderSpec seamSpec(const Strings& restart = {"systemctl", "restart", "web"}) {
  OrderSpec spec;
  spec.deploy.restart = restart;
  spec.deploy.hook_timeout = 10s;
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

// A host whose OS is fake: one app, "web".
struct SeamHost {
  SeamHost() { rig.restartAgent(); }

  flotilla::protocol::VerifiedOrder order(const std::string& version, const OrderSpec& spec = seamSpec()) {
    return rig.order("web", version, rig.addContent("web-" + version + ".tar.gz", "release " + version), spec);
  }
  Phase deploy(const std::string& version, const OrderSpec& spec = seamSpec()) {
    return rig.execute(order(version, spec));
  }
  fs::path current() const { return rig.appDir("web") / "current"; }
  std::string live() { return os.linkTarget(current()).value_or(""); }
  const flotilla::protocol::Report& last() const { return rig.reports.back(); }
  bool stagingLeft() const {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(rig.releasesDir("web"), ec))
      if (e.path().filename().string().rfind(".staging-", 0) == 0) return true;
    return false;
  }

  FakeHostOs os;  // declared before the rig, which keeps a reference to it
  DeployerRig rig{os};
};

}  // namespace

// ---------------------------------------------------------------------------
// the happy path, call by call

TEST_CASE("seam: a fresh deploy extracts, switches, restarts and watches health through the seam", "[deployer][seam]") {
  SeamHost host;
  const auto start = host.rig.clock.steadyNow();

  REQUIRE(host.deploy("1.0") == Phase::kHealthy);

  const fs::path releases = host.rig.releasesDir("web");
  CHECK(host.os.extractions == std::vector<fs::path>{releases / ".staging-1.0"});
  CHECK(host.os.switches == Strings{host.current().string() + " -> releases/1.0"});
  CHECK(host.live() == "1.0");
  CHECK(fs::exists(releases / "1.0" / "artifact"));
  REQUIRE(host.os.processes.size() == 1);
  const auto& restart = host.os.processes.front();
  CHECK(restart.argv == Strings{"systemctl", "restart", "web"});
  CHECK(restart.cwd == releases / "1.0");
  CHECK(restart.timeout == 10s);
  CHECK(restart.env.at("FLOTILLA_VERSION") == "1.0");
  CHECK(restart.env.at("FLOTILLA_PREVIOUS_DIR").empty());
  // Checks pass at 0s, 1s and 2s: healthy_for 2s is met on the third.
  CHECK(host.os.health_checks == 3);
  CHECK(host.rig.clock.steadyNow() - start == 2s);
  CHECK(host.os.crash_points == Strings{"accepted", "fetching", "staging", "staging:extracted", "switching",
                                        "switching:after", "restarting", "probation", "healthy"});
  CHECK(host.os.measurements == 0);  // 1 TiB free: no need to measure the release
}

TEST_CASE("seam: health that flips to passing after some rounds ends healthy", "[deployer][seam]") {
  SeamHost host;
  host.os.healthFailsFor(3);
  const auto start = host.rig.clock.steadyNow();

  REQUIRE(host.deploy("1.0") == Phase::kHealthy);

  // Failing at 0s, 1s, 2s; passing from 3s; healthy_for 2s is met at 5s.
  CHECK(host.os.health_checks == 6);
  CHECK(host.rig.clock.steadyNow() - start == 5s);
  CHECK(host.live() == "1.0");
}

TEST_CASE("seam: checkAll asks the seam for each live app's health", "[deployer][seam]") {
  SeamHost host;
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  host.os.setUnhealthy();
  CHECK(host.rig.deployer().checkAll() == HealthMap{{"web", H::kUnhealthy}});
  host.os.setHealthy();
  CHECK(host.rig.deployer().checkAll() == HealthMap{{"web", H::kHealthy}});
}

// ---------------------------------------------------------------------------
// hooks, restarts, health and the switch failing

TEST_CASE("seam: a failing before_switch hook stops the hooks and switches nothing", "[deployer][seam]") {
  SeamHost host;
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  OrderSpec spec = seamSpec();
  spec.deploy.before_switch = {{"migrate", "up"}, {"warm-cache"}};
  host.os.failCommand("migrate", 4, "migration refused\nsecond line");
  host.os.processes.clear();

  REQUIRE(host.deploy("2.0", spec) == Phase::kFailed);

  CHECK(host.os.programsRun() == Strings{"migrate"});
  CHECK(host.os.processes.front().cwd == host.rig.releasesDir("web") / "2.0");
  CHECK(host.last().message == "before_switch `migrate up` failed: exit 4: migration refused");
  CHECK(host.os.switches.size() == 1);
  CHECK(host.live() == "1.0");
}

TEST_CASE("seam: a before_switch hook that cannot start fails the order", "[deployer][seam]") {
  SeamHost host;
  OrderSpec spec = seamSpec();
  spec.deploy.before_switch = {{"migrate"}};
  host.os.unstartableCommand("migrate");

  REQUIRE(host.deploy("1.0", spec) == Phase::kFailed);

  CHECK_THAT(host.last().message, StartsWith("before_switch `migrate`: exec migrate"));
  CHECK(host.os.switches.empty());
}

TEST_CASE("seam: a restart that hangs is reverted and the previous release restarted", "[deployer][seam]") {
  SeamHost host;
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  host.os.hangCommand("./bin/restart-2");
  host.os.processes.clear();
  const std::size_t mark = host.rig.reports.size();

  REQUIRE(host.deploy("2.0", seamSpec({"./bin/restart-2"})) == Phase::kReverted);

  CHECK(host.rig.phasesSince(mark) ==
        Strings{"accepted", "fetching", "staging", "switching", "restarting", "reverting", "reverted"});
  CHECK_THAT(host.last().message, Contains("restart `./bin/restart-2` failed: timed out after 10s"));
  CHECK_THAT(host.last().message, Contains("1.0 is live again"));
  // The previous release is restarted with its own spec, in its own directory.
  CHECK(host.os.programsRun() == Strings{"./bin/restart-2", "systemctl"});
  CHECK(host.os.processes.back().cwd == host.rig.releasesDir("web") / "1.0");
  CHECK(host.live() == "1.0");
  CHECK(host.rig.app("web").current == "1.0");
}

TEST_CASE("seam: health that never passes reverts when the deadline comes", "[deployer][seam]") {
  SeamHost host;
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  host.os.setUnhealthy("http://127.0.0.1:8080/healthz: HTTP 500");
  const auto start = host.rig.clock.steadyNow();

  REQUIRE(host.deploy("2.0") == Phase::kReverted);

  CHECK(host.rig.clock.steadyNow() - start == 10s);
  CHECK_THAT(host.last().message,
             StartsWith("not healthy within 10s: http://127.0.0.1:8080/healthz: HTTP 500; 1.0 is live again"));
  CHECK(host.os.switches.back() == host.current().string() + " -> releases/1.0");
  CHECK(host.live() == "1.0");
}

TEST_CASE("seam: a first deploy that fails probation removes current", "[deployer][seam]") {
  SeamHost host;
  host.os.setUnhealthy();

  REQUIRE(host.deploy("1.0") == Phase::kReverted);

  CHECK(host.os.switches.back() == host.current().string() + " removed");
  CHECK(host.live().empty());
  CHECK(host.rig.app("web").current.empty());
}

TEST_CASE("seam: a switch that fails leaves the old release live and restarts nothing", "[deployer][seam]") {
  SeamHost host;
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  host.os.failing_switches = {"releases/2.0"};
  host.os.processes.clear();

  REQUIRE(host.deploy("2.0") == Phase::kFailed);

  CHECK_THAT(host.last().message, StartsWith("switching current: rename onto"));
  CHECK(host.os.processes.empty());
  CHECK(host.live() == "1.0");
  CHECK(host.rig.app("web").current == "1.0");
}

TEST_CASE("seam: a switch back that fails ends the revert failed", "[deployer][seam]") {
  SeamHost host;
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  host.os.setUnhealthy();
  host.os.failing_switches = {"releases/1.0"};

  REQUIRE(host.deploy("2.0") == Phase::kRevertFailed);

  CHECK_THAT(host.last().message, Contains("switching back to 1.0 failed"));
  CHECK(host.last().live_version == "2.0");
  CHECK(host.live() == "2.0");
}

// ---------------------------------------------------------------------------
// extraction and a full disk

TEST_CASE("seam: a release larger than the free space is refused before extracting", "[deployer][seam][disk]") {
  SeamHost host;
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  host.os.disk = {1 * kMiB, 4096};
  host.os.unpacked = {3 * kMiB, 12, true};
  const std::size_t mark = host.rig.reports.size();

  REQUIRE(host.deploy("2.0") == Phase::kFailed);

  CHECK(host.rig.phasesSince(mark) == Strings{"accepted", "fetching", "staging", "failed"});
  CHECK(host.last().message == "disk full: " + host.rig.releasesDir("web").string() +
                                   " has 1.0 MiB (1048576 bytes) free; release 2.0 needs 3.0 MiB (3145728 bytes) "
                                   "unpacked");
  CHECK(host.os.extractions.size() == 1);  // release 1.0 only
  CHECK(host.os.measurements == 1);
  CHECK_FALSE(host.stagingLeft());
  CHECK(host.rig.downloadsLeft() == 0);
  CHECK(host.live() == "1.0");
}

TEST_CASE("seam: a release that fits the free space is extracted", "[deployer][seam][disk]") {
  SeamHost host;
  host.os.disk = {1 * kMiB, 4096};
  host.os.unpacked = {1 * kMiB, 12, true};
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  CHECK(host.os.measurements == 1);
}

TEST_CASE("seam: an archive over the extraction limits is left to the extractor to refuse", "[deployer][seam][disk]") {
  SeamHost host;
  host.os.disk = {1 * kMiB, 4096};
  host.os.unpacked = {5ull << 30, 100'001, false};
  host.os.extract_error = Error(Errc::kPermission, "entry 'x': archive has more than 100000 entries");

  REQUIRE(host.deploy("1.0") == Phase::kFailed);

  CHECK(host.last().message == "extracting artifact: entry 'x': archive has more than 100000 entries");
}

TEST_CASE("seam: when the free space cannot be read the release is extracted anyway", "[deployer][seam][disk]") {
  SeamHost host;
  host.os.disk_error = Error(Errc::kIo, "statvfs: Input/output error");
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  CHECK(host.os.measurements == 0);
}

TEST_CASE("seam: a disk that fills up during extraction says how full it is", "[deployer][seam][disk]") {
  SeamHost host;
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  // The first look finds plenty of room; by the time extraction fails (another
  // writer filled the disk) and the half-written release is removed, 1 MiB is left.
  host.os.disk_looks = {{1ull << 40, 4096}};
  host.os.disk = {1 * kMiB, 4096};
  host.os.unpacked = {3 * kMiB, 12, true};
  host.os.extract_error = Error(Errc::kNoSpace, "entry 'app/www/blob': No space left on device");

  REQUIRE(host.deploy("2.0") == Phase::kFailed);

  CHECK(host.last().message == "disk full while extracting (entry 'app/www/blob': No space left on device): " +
                                   host.rig.releasesDir("web").string() +
                                   " has 1.0 MiB (1048576 bytes) free; release 2.0 needs 3.0 MiB (3145728 bytes) "
                                   "unpacked");
  CHECK(host.os.extractions.size() == 2);
  CHECK_FALSE(host.stagingLeft());
  CHECK(host.rig.downloadsLeft() == 0);
  CHECK(host.live() == "1.0");
}

TEST_CASE("seam: a disk full with bytes to spare blames inodes or quota", "[deployer][seam][disk]") {
  SeamHost host;
  host.os.disk = {1 * kMiB, 4096};
  host.os.unpacked = {512 * 1024, 12, true};
  host.os.extract_error = Error(Errc::kNoSpace, "entry 'app/www/blob': No space left on device");

  REQUIRE(host.deploy("1.0") == Phase::kFailed);

  CHECK_THAT(host.last().message,
             StartsWith("disk full while extracting (entry 'app/www/blob': No space left on device): " +
                        host.rig.releasesDir("web").string() +
                        " has 1.0 MiB (1048576 bytes) free; release 1.0 needs 512.0 KiB (524288 bytes) unpacked"));
  CHECK_THAT(host.last().message, Contains("inodes"));
}

TEST_CASE("seam: other extraction failures keep their own message", "[deployer][seam]") {
  SeamHost host;
  host.os.extract_error = Error(Errc::kCorrupt, "reading web-1.0.tar.gz: truncated gzip input");
  REQUIRE(host.deploy("1.0") == Phase::kFailed);
  CHECK(host.last().message == "extracting artifact: reading web-1.0.tar.gz: truncated gzip input");
  CHECK_FALSE(host.stagingLeft());
  CHECK(host.os.measurements == 0);
}

// ---------------------------------------------------------------------------
// a crash at every crash point, then recover()

TEST_CASE("seam: an agent stopped at any crash point recovers to a consistent release", "[deployer][seam][crash]") {
  struct Case {
    std::string point;
    bool healthy;      // release 2.0 passes its checks
    std::string live;  // live after recover()
    Phase outcome;     // the order's terminal phase
  };
  const Case c = GENERATE(
      Case{"accepted", true, "1.0", Phase::kFailed}, Case{"fetching", true, "1.0", Phase::kFailed},
      Case{"staging", true, "1.0", Phase::kFailed}, Case{"staging:extracted", true, "1.0", Phase::kFailed},
      Case{"before_switch", true, "1.0", Phase::kFailed}, Case{"switching", true, "1.0", Phase::kFailed},
      Case{"switching:after", true, "1.0", Phase::kReverted}, Case{"restarting", true, "1.0", Phase::kReverted},
      Case{"probation", true, "1.0", Phase::kReverted}, Case{"reverting", false, "1.0", Phase::kReverted},
      Case{"reverting:after", false, "1.0", Phase::kReverted}, Case{"healthy", true, "2.0", Phase::kHealthy});
  INFO("crash point " << c.point);
  SeamHost host;
  REQUIRE(host.deploy("1.0") == Phase::kHealthy);
  OrderSpec spec = seamSpec({"./bin/restart-2"});
  spec.deploy.before_switch = {{"true"}};
  if (!c.healthy) host.os.setUnhealthy();
  host.os.crash_at = c.point;
  host.os.processes.clear();

  CHECK_THROWS_AS(host.deploy("2.0", spec), FakeCrash);

  // The agent starts again on the same host: the same disk and links, a new Deployer.
  host.os.crash_at.clear();
  host.os.setHealthy();
  host.rig.restartAgent();
  host.rig.deployer().recover();

  CHECK(host.live() == c.live);
  const auto& web = host.rig.app("web");
  CHECK(web.current == c.live);
  REQUIRE(web.last_order.has_value());
  CHECK(web.last_order->version == "2.0");
  CHECK(web.last_order->phase == c.outcome);
  CHECK_FALSE(host.rig.journal().state().order.has_value());
  CHECK_FALSE(host.stagingLeft());
  CHECK(host.rig.downloadsLeft() == 0);
  // A revert restarts the old release with its own restart command.
  if (c.outcome == Phase::kReverted) CHECK(host.os.programsRun().back() == "systemctl");
}
