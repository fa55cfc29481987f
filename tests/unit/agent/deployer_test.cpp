#include "flotilla/agent/deployer.h"
#include "flotilla/agent/real_host_os.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"
#include "support/catch_phase.h"
#include "support/cluster.h"
#include "support/deployer_rig.h"
#include "support/fake_clock.h"
#include "support/release_builder.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using flotilla::Errc;
using flotilla::Error;
using flotilla::Status;
using flotilla::agent::expandSpec;
using flotilla::agent::expandVars;
using flotilla::agent::Journal;
using flotilla::common::Millis;
using flotilla::protocol::HealthCheck;
using flotilla::protocol::OrderSpec;
using flotilla::protocol::Phase;
using flotilla::protocol::Report;
using flotilla::protocol::VerifiedOrder;
using flotilla::testing::buildRelease;
using flotilla::testing::buildTarballWithEntry;
using flotilla::testing::DeployerRig;
using flotilla::testing::readLines;
using flotilla::testing::ReleaseOptions;
using Phases = std::vector<std::string>;
using Artifact = flotilla::testing::RigArtifact;
using flotilla::protocol::HealthMap;
using H = flotilla::protocol::HealthState;

// Thrown from a hook to stop execute() dead, as a crash would: whatever the
// journal on disk says at that moment is what the next start finds.
struct Crash {};

// Exec check `test -f HEALTHY` in the release dir, polled every 20ms; healthy after 60ms, reverted after 500ms.
OrderSpec defaultSpec() {
  OrderSpec spec;
  spec.deploy.restart = {"./bin/restart"};
  spec.deploy.hook_timeout = 10s;
  spec.health.interval = 20ms;
  spec.health.healthy_for = 60ms;
  spec.health.deadline = 500ms;
  HealthCheck check;
  check.kind = HealthCheck::Kind::kExec;
  check.argv = {"test", "-f", "HEALTHY"};
  check.timeout = 5s;
  spec.health.checks = {check};
  return spec;
}

ReleaseOptions unhealthy() {
  ReleaseOptions o;
  o.healthy = false;
  return o;
}
ReleaseOptions failingRestart(int exit_code) {
  ReleaseOptions o;
  o.restart_exit = exit_code;
  return o;
}
ReleaseOptions withFile(const std::string& name, const std::string& content) {
  ReleaseOptions o;
  o.extra_files[name] = content;
  return o;
}

// The rig's file system seam, built before the rig that borrows it.
struct RealOsHolder {
  flotilla::agent::RealHostOs real_os;
};

// One agent host on the real file system (support/deployer_rig.h), with this
// file's host variables, releases built by the test and views of apps/.
class Host : private RealOsHolder, public DeployerRig {
 public:
  explicit Host(std::size_t keep_releases = 3) : DeployerRig(real_os) {
    config.keep_releases = keep_releases;
    config.vars = {{"greeting", "hello"}, {"health_file", "HEALTHY"}};
    restartAgent();
  }

  fs::path releaseDir(const std::string& app, const std::string& v) const { return releasesDir(app) / v; }

  // What `current` points at ("" when there is no link).
  std::string current(const std::string& app) const {
    std::error_code ec;
    auto t = fs::read_symlink(appDir(app) / "current", ec);
    return ec ? std::string() : t.string();
  }
  // Versions whose bin/restart ran, oldest first.
  std::vector<std::string> restarted(const std::string& app) const { return readLines(appDir(app) / "restarted"); }
  std::string lastRestarted(const std::string& app) const {
    auto lines = restarted(app);
    return lines.empty() ? std::string() : lines.back();
  }
  // Entries of <app>/releases, staging directories included.
  std::set<std::string> releasesOnDisk(const std::string& app) const {
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(releasesDir(app), ec)) out.insert(e.path().filename().string());
    return out;
  }

  Artifact artifact(const std::string& version, const ReleaseOptions& opts = {}) {
    return registerTarball(buildRelease(work(), version, opts));
  }
  Artifact registerTarball(const fs::path& tarball) { return addFile(tarball); }

  VerifiedOrder order(const std::string& app, const std::string& version, const Artifact& a,
                      const OrderSpec& spec = defaultSpec(), const std::string& action = "deploy") {
    return DeployerRig::order(app, version, a, spec, action);
  }
  // Builds, registers and deploys `version` of `app`.
  Phase deploy(const std::string& app, const std::string& version, const ReleaseOptions& opts = {},
               const OrderSpec& spec = defaultSpec()) {
    return execute(order(app, version, artifact(version, opts), spec));
  }
};

std::string str(Phase p) { return flotilla::protocol::toString(p); }

std::string readText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const Phases kFreshDeploy = {"accepted", "fetching", "staging", "switching", "restarting", "probation", "healthy"};

}  // namespace

// ---------------------------------------------------------------------------
// expandVars / expandSpec

TEST_CASE("expandVars substitutes known host variables", "[deployer]") {
  const std::map<std::string, std::string> vars{
      {"port", "8080"}, {"host", "web-1"}, {"empty", ""}, {"tricky", "${port}"}};
  auto e = [&](const std::string& text) {
    auto r = expandVars(text, vars);
    INFO("text: " << text);
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(e("") == "");
  CHECK(e("no variables here") == "no variables here");
  CHECK(e("${port}") == "8080");
  CHECK(e("--listen=${host}:${port}") == "--listen=web-1:8080");
  CHECK(e("${host}${port}") == "web-18080");
  CHECK(e("a${empty}b") == "ab");
  CHECK(e("$port and $ alone and {port} and $${port}") == "$port and $ alone and {port} and $8080");
  CHECK(e("closing } braces }") == "closing } braces }");
  // A value is inserted as is, never expanded again.
  CHECK(e("${tricky}") == "${port}");
}

TEST_CASE("expandVars names an unknown variable", "[deployer]") {
  const std::map<std::string, std::string> vars{{"port", "8080"}};
  auto r = expandVars("--port=${port} --db=${db_url}", vars);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kInvalidArgument);
  CHECK_THAT(r.error().message, Contains("${db_url}"));
  CHECK_THAT(r.error().message, Contains("--var db_url="));

  auto empty_name = expandVars("x${}y", vars);
  REQUIRE_FALSE(empty_name.ok());
  CHECK_THAT(empty_name.error().message, Contains("${}"));

  // Variable names are matched exactly (case and all).
  auto upper = expandVars("${PORT}", vars);
  REQUIRE_FALSE(upper.ok());
  CHECK_THAT(upper.error().message, Contains("${PORT}"));
}

TEST_CASE("expandVars refuses an unterminated ${", "[deployer]") {
  auto r = expandVars("--port=${port", {{"port", "8080"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kInvalidArgument);
  CHECK_THAT(r.error().message, Contains("unterminated"));
}

TEST_CASE("expandSpec expands hooks, restart and every check, and nothing else", "[deployer]") {
  const std::map<std::string, std::string> vars{{"port", "8080"}, {"dir", "/srv/web"}};
  OrderSpec spec;
  spec.deploy.before_switch = {{"migrate", "--dir=${dir}"}, {"echo", "plain"}};
  spec.deploy.restart = {"systemctl", "restart", "web@${port}"};
  spec.health.interval = 3s;
  HealthCheck http;
  http.kind = HealthCheck::Kind::kHttp;
  http.target = "http://127.0.0.1:${port}/healthz";
  HealthCheck exec;
  exec.kind = HealthCheck::Kind::kExec;
  exec.argv = {"check", "${dir}"};
  spec.health.checks = {http, exec};

  auto r = expandSpec(spec, vars);
  REQUIRE(r.ok());
  CHECK(r->deploy.before_switch ==
        std::vector<std::vector<std::string>>{{"migrate", "--dir=/srv/web"}, {"echo", "plain"}});
  CHECK(r->deploy.restart == std::vector<std::string>{"systemctl", "restart", "web@8080"});
  REQUIRE(r->health.checks.size() == 2);
  CHECK(r->health.checks[0].target == "http://127.0.0.1:8080/healthz");
  CHECK(r->health.checks[1].argv == std::vector<std::string>{"check", "/srv/web"});
  CHECK(r->health.interval == 3s);
  // The input is not modified.
  CHECK(spec.deploy.restart[2] == "web@${port}");
}

TEST_CASE("expandSpec fails on an unknown variable wherever it appears", "[deployer]") {
  const std::map<std::string, std::string> vars{{"port", "8080"}};
  OrderSpec spec;
  std::string where;
  SECTION("in a before_switch hook") {
    spec.deploy.before_switch = {{"ok"}, {"migrate", "${missing_hook}"}};
    where = "${missing_hook}";
  }
  SECTION("in restart") {
    spec.deploy.restart = {"run", "${missing_restart}"};
    where = "${missing_restart}";
  }
  SECTION("in a check target") {
    HealthCheck c;
    c.kind = HealthCheck::Kind::kTcp;
    c.target = "127.0.0.1:${missing_port}";
    spec.health.checks = {c};
    where = "${missing_port}";
  }
  SECTION("in a check argv") {
    HealthCheck c;
    c.kind = HealthCheck::Kind::kExec;
    c.argv = {"probe", "${missing_arg}"};
    spec.health.checks = {c};
    where = "${missing_arg}";
  }
  auto r = expandSpec(spec, vars);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Contains(where));
}

// ---------------------------------------------------------------------------
// execute: the happy path

TEST_CASE("deployer: a fresh deploy goes live and healthy", "[deployer]") {
  Host host;
  auto art = host.artifact("1.0");
  auto order = host.order("web", "1.0", art);
  const auto started_ms = flotilla::common::toUnixMillis(host.clock.systemNow());

  REQUIRE(host.execute(order) == Phase::kHealthy);

  CHECK(host.current("web") == "releases/1.0");
  CHECK(readText(host.appDir("web") / "current" / "VERSION") == "1.0\n");
  CHECK(host.restarted("web") == std::vector<std::string>{"1.0"});
  CHECK(host.phasesSince(0) == kFreshDeploy);
  CHECK(host.fetches == 1);

  for (const auto& r : host.reports) {
    INFO("phase " << str(r.phase));
    CHECK(r.order_id == order.body.order_id);
    CHECK(r.app == "web");
    CHECK(r.version == "1.0");
    CHECK(r.sequence == order.body.sequence);
  }
  // Timestamps come from the injected clock: the order starts at its start time
  // and ends once probation has watched the checks pass for healthy_for.
  CHECK(host.reports.front().at_ms == started_ms);
  CHECK(host.reports.back().at_ms == flotilla::common::toUnixMillis(host.clock.systemNow()));
  CHECK(host.reports.back().at_ms - started_ms >= 60);
  // Before the switch nothing is live; from the switch on, the new release is.
  CHECK(host.reports.at(0).message == "deploy");
  CHECK(host.reports.at(0).live_version.empty());
  CHECK(host.reports.at(2).live_version.empty());
  CHECK(host.reports.at(3).message == "current -> releases/1.0");
  CHECK(host.reports.back().live_version == "1.0");

  const auto& web = host.app("web");
  CHECK(web.current == "1.0");
  CHECK(web.previous.empty());
  CHECK(web.sequence == order.body.sequence);
  REQUIRE(web.releases.count("1.0") == 1);
  CHECK(web.releases.at("1.0").digest == art.digest);
  CHECK(web.releases.at("1.0").spec == flotilla::protocol::encodeSpec(order.spec));
  CHECK_FALSE(host.journal().state().order.has_value());
  CHECK(host.deployer().releases() == std::map<std::string, std::string>{{"web", "1.0"}});

  // No staging directory and no download left behind.
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"1.0"});
  CHECK(host.downloadsLeft() == 0);
}

TEST_CASE("deployer: the journal on disk matches after a deploy", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.restartAgent();
  const auto& web = host.app("web");
  CHECK(web.current == "1.0");
  CHECK(web.sequence == 1);
  CHECK(web.releases.count("1.0") == 1);
  CHECK_FALSE(host.journal().state().order.has_value());
}

TEST_CASE("deployer: probation waits for healthy_for of continuous passing checks", "[deployer]") {
  Host host;
  const auto start = host.clock.steadyNow();
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  CHECK(host.clock.steadyNow() - start >= 60ms);
  CHECK(host.clock.steadyNow() - start < 500ms);
}

TEST_CASE("deployer: healthy_for 0 is one passing round of checks, run as soon as the restart returns", "[deployer]") {
  Host host;
  OrderSpec spec = defaultSpec();
  spec.health.healthy_for = 0ms;
  spec.health.checks.front().argv = {"sh", "-c", "echo run >>../../checks && test -f HEALTHY"};
  const auto start = host.clock.steadyNow();
  REQUIRE(host.deploy("web", "1.0", {}, spec) == Phase::kHealthy);
  CHECK(readLines(host.appDir("web") / "checks").size() == 1);
  CHECK(host.waits == 0);
  CHECK(host.clock.steadyNow() == start);
}

TEST_CASE("deployer: a spec without checks is healthy once restarted", "[deployer]") {
  Host host;
  OrderSpec spec = defaultSpec();
  spec.health.checks.clear();
  REQUIRE(host.deploy("web", "1.0", unhealthy(), spec) == Phase::kHealthy);
  CHECK(host.waits == 0);
  CHECK(host.current("web") == "releases/1.0");
}

TEST_CASE("deployer: a second deploy keeps the first as previous", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  const std::size_t mark = host.reports.size();
  REQUIRE(host.deploy("web", "2.0") == Phase::kHealthy);

  CHECK(host.current("web") == "releases/2.0");
  CHECK(host.app("web").current == "2.0");
  CHECK(host.app("web").previous == "1.0");
  CHECK(host.app("web").sequence == 2);
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"1.0", "2.0"});
  CHECK(host.restarted("web") == std::vector<std::string>{"1.0", "2.0"});
  CHECK(host.phasesSince(mark) == kFreshDeploy);
  // Until the switch the first release is the live one.
  CHECK(host.reports.at(mark).live_version == "1.0");
  CHECK(host.reports.at(mark + 2).live_version == "1.0");
}

TEST_CASE("deployer: restart and hooks see host variables expanded", "[deployer]") {
  Host host;
  OrderSpec spec = defaultSpec();
  spec.deploy.restart = {"sh", "-c", "echo ${greeting} > \"$FLOTILLA_RELEASE_DIR/../../greeting\" && ./bin/restart"};
  spec.health.checks[0].argv = {"test", "-f", "${health_file}"};
  REQUIRE(host.deploy("web", "1.0", {}, spec) == Phase::kHealthy);
  CHECK(readText(host.appDir("web") / "greeting") == "hello\n");
  CHECK(host.lastRestarted("web") == "1.0");
}

TEST_CASE("deployer: passing before_switch hooks run in order before the switch", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  OrderSpec spec = defaultSpec();
  spec.deploy.before_switch = {
      {"sh", "-c", "echo first-$(readlink ../../current) >> ../../hooks"},
      {"sh", "-c", "echo second-$(cat VERSION) >> ../../hooks"},
  };
  const std::size_t mark = host.reports.size();
  REQUIRE(host.deploy("web", "2.0", {}, spec) == Phase::kHealthy);
  CHECK(readLines(host.appDir("web") / "hooks") == std::vector<std::string>{"first-releases/1.0", "second-2.0"});
  CHECK(host.phasesSince(mark) ==
        Phases{"accepted", "fetching", "staging", "before_switch", "switching", "restarting", "probation", "healthy"});
}

// ---------------------------------------------------------------------------
// execute: reverts

TEST_CASE("deployer: failing probation reverts to the previous release", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  const std::size_t mark = host.reports.size();

  REQUIRE(host.deploy("web", "2.0", unhealthy()) == Phase::kReverted);

  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.restarted("web") == std::vector<std::string>{"1.0", "2.0", "1.0"});
  CHECK(host.phasesSince(mark) ==
        Phases{"accepted", "fetching", "staging", "switching", "restarting", "probation", "reverting", "reverted"});
  const Report& last = host.reports.back();
  CHECK(last.phase == Phase::kReverted);
  CHECK(last.live_version == "1.0");
  CHECK(last.version == "2.0");
  CHECK_THAT(last.message, Contains("not healthy within"));
  CHECK_THAT(last.message, Contains("1.0 is live again"));

  const auto& web = host.app("web");
  CHECK(web.current == "1.0");
  CHECK(web.previous.empty());
  CHECK_FALSE(host.journal().state().order.has_value());
  CHECK(host.deployer().releases() == std::map<std::string, std::string>{{"web", "1.0"}});
  host.restartAgent();
  CHECK(host.app("web").current == "1.0");
  CHECK_FALSE(host.journal().state().order.has_value());
}

TEST_CASE("deployer: a revert gives back the previous release's own previous", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "0.9") == Phase::kHealthy);
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  REQUIRE(host.deploy("web", "2.0", unhealthy()) == Phase::kReverted);
  CHECK(host.app("web").current == "1.0");
  CHECK(host.app("web").previous == "0.9");
}

TEST_CASE("deployer: the previous release is restarted with its own spec", "[deployer]") {
  Host host;
  OrderSpec first = defaultSpec();
  first.deploy.restart = {"sh", "-c", "echo own-spec >> ../../restarted"};
  REQUIRE(host.deploy("web", "1.0", {}, first) == Phase::kHealthy);
  REQUIRE(host.deploy("web", "2.0", unhealthy()) == Phase::kReverted);
  CHECK(host.restarted("web") == std::vector<std::string>{"own-spec", "2.0", "own-spec"});
}

TEST_CASE("deployer: a failing restart reverts to the previous release", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  const std::size_t mark = host.reports.size();
  const int waits = host.waits;

  REQUIRE(host.deploy("web", "2.0", failingRestart(3)) == Phase::kReverted);

  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.restarted("web") == std::vector<std::string>{"1.0", "2.0", "1.0"});
  CHECK(host.phasesSince(mark) ==
        Phases{"accepted", "fetching", "staging", "switching", "restarting", "reverting", "reverted"});
  CHECK(host.waits == waits);  // no probation for a release that did not start
  const Report& last = host.reports.back();
  CHECK(last.live_version == "1.0");
  CHECK_THAT(last.message, Contains("restart"));
  CHECK_THAT(last.message, Contains("exit 3"));
  CHECK(host.app("web").current == "1.0");
  CHECK_FALSE(host.journal().state().order.has_value());
}

TEST_CASE("deployer: when the previous release fails to restart the revert fails", "[deployer]") {
  Host host;
  OrderSpec first = defaultSpec();
  // Starts fine the first time, refuses every time after.
  first.deploy.restart = {"sh", "-c", "test ! -f ../../once && touch ../../once"};
  REQUIRE(host.deploy("web", "1.0", {}, first) == Phase::kHealthy);
  REQUIRE(host.deploy("web", "2.0", unhealthy()) == Phase::kRevertFailed);
  const Report& last = host.reports.back();
  CHECK(last.phase == Phase::kRevertFailed);
  CHECK_THAT(last.message, Contains("restart failed"));
  // `current` is back on the previous release even so.
  CHECK(host.current("web") == "releases/1.0");
  CHECK(last.live_version == "1.0");
  CHECK_FALSE(host.journal().state().order.has_value());
}

TEST_CASE("deployer: a first deploy that fails probation leaves nothing live", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0", unhealthy()) == Phase::kReverted);
  CHECK(host.current("web").empty());
  CHECK_FALSE(fs::exists(host.appDir("web") / "current"));
  CHECK(host.reports.back().live_version.empty());
  CHECK_THAT(host.reports.back().message, Contains("no previous release"));
  CHECK(host.app("web").current.empty());
  CHECK(host.deployer().releases().empty());
  CHECK(host.deployer().checkAll().empty());
}

TEST_CASE("deployer: an agent stopping during probation reverts", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.wait_override = [](Millis) { return false; };
  REQUIRE(host.deploy("web", "2.0") == Phase::kReverted);
  CHECK(host.current("web") == "releases/1.0");
  CHECK_THAT(host.reports.back().message, Contains("agent stopping"));
}

// ---------------------------------------------------------------------------
// execute: failures before the switch

TEST_CASE("deployer: a failing before_switch hook fails the order and switches nothing", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  OrderSpec spec = defaultSpec();
  spec.deploy.before_switch = {
      {"sh", "-c", "env | grep '^FLOTILLA_' | sort > \"$FLOTILLA_RELEASE_DIR/../../hook-env\""},
      {"sh", "-c", "echo migration refused >&2; exit 4"},
      {"sh", "-c", "touch ../../third-hook-ran"},
  };
  const std::size_t mark = host.reports.size();

  REQUIRE(host.deploy("web", "2.0", {}, spec) == Phase::kFailed);

  CHECK(host.phasesSince(mark) == Phases{"accepted", "fetching", "staging", "before_switch", "failed"});
  const Report& last = host.reports.back();
  CHECK(last.live_version == "1.0");
  CHECK_THAT(last.message, Contains("before_switch"));
  CHECK_THAT(last.message, Contains("exit 4"));
  CHECK_THAT(last.message, Contains("migration refused"));
  CHECK_FALSE(fs::exists(host.appDir("web") / "third-hook-ran"));

  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.restarted("web") == std::vector<std::string>{"1.0"});
  CHECK(host.app("web").current == "1.0");
  CHECK(host.app("web").previous.empty());
  CHECK_FALSE(host.journal().state().order.has_value());

  const std::string apps = host.config.apps_dir.string();
  CHECK(readLines(host.appDir("web") / "hook-env") == std::vector<std::string>{
                                                          "FLOTILLA_APP=web",
                                                          "FLOTILLA_PREVIOUS_DIR=" + apps + "/web/releases/1.0",
                                                          "FLOTILLA_RELEASE_DIR=" + apps + "/web/releases/2.0",
                                                          "FLOTILLA_VERSION=2.0",
                                                      });
}

TEST_CASE("deployer: a digest mismatch fails the order before anything is staged", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  auto art = host.artifact("2.0");
  host.fetch_override = [](const std::string&, std::uint64_t, const fs::path& dest) -> Status {
    std::ofstream(dest, std::ios::binary) << "these are not the bytes you signed";
    return {};
  };
  auto order = host.order("web", "2.0", art);
  const std::size_t mark = host.reports.size();

  REQUIRE(host.execute(order) == Phase::kFailed);

  CHECK(host.phasesSince(mark) == Phases{"accepted", "fetching", "failed"});
  CHECK_THAT(host.reports.back().message, Contains("digest mismatch"));
  CHECK(host.reports.back().live_version == "1.0");
  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"1.0"});
  CHECK(host.downloadsLeft() == 0);
  CHECK(host.app("web").releases.count("2.0") == 0);
  CHECK_FALSE(host.journal().state().order.has_value());
  // A failed order still counts as accepted: its sequence cannot be replayed.
  CHECK(host.app("web").sequence == order.body.sequence);
}

TEST_CASE("deployer: the right digest with the wrong size is a mismatch too", "[deployer]") {
  Host host;
  auto art = host.artifact("1.0");
  auto order = host.order("web", "1.0", art);
  order.body.artifact_size += 1;
  REQUIRE(host.execute(order) == Phase::kFailed);
  CHECK_THAT(host.reports.back().message, Contains("digest mismatch"));
  CHECK(host.current("web").empty());
}

TEST_CASE("deployer: a failed fetch fails the order", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.fetch_override = [](const std::string&, std::uint64_t, const fs::path&) -> Status {
    return Error(Errc::kUnavailable, "coordinator unreachable");
  };
  REQUIRE(host.deploy("web", "2.0") == Phase::kFailed);
  CHECK_THAT(host.reports.back().message, Contains("fetching artifact"));
  CHECK_THAT(host.reports.back().message, Contains("coordinator unreachable"));
  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"1.0"});
}

TEST_CASE("deployer: a fetch cut short leaves no partial download behind", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.fetch_override = [](const std::string&, std::uint64_t, const fs::path& dest) -> Status {
    std::ofstream(dest) << "half an artifact";
    return Error(Errc::kTimeout, "download did not finish within fetch_timeout");
  };
  REQUIRE(host.deploy("web", "2.0") == Phase::kFailed);
  CHECK(host.downloadsLeft() == 0);
}

TEST_CASE("deployer: an artifact over max_artifact_bytes is refused without fetching", "[deployer]") {
  Host host;
  host.config.max_artifact_bytes = 16;
  REQUIRE(host.deploy("web", "1.0") == Phase::kFailed);
  CHECK(host.fetches == 0);
  CHECK_THAT(host.reports.back().message, Contains("max_artifact_bytes"));
  CHECK(host.phasesSince(0) == Phases{"accepted", "failed"});
}

TEST_CASE("deployer: a tarball with a '../' entry is refused and writes nothing outside", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  auto art = host.registerTarball(buildTarballWithEntry(host.work(), "../evil", "pwned"));
  const std::size_t mark = host.reports.size();

  REQUIRE(host.execute(host.order("web", "2.0", art)) == Phase::kFailed);

  CHECK(host.phasesSince(mark) == Phases{"accepted", "fetching", "staging", "failed"});
  CHECK_THAT(host.reports.back().message, Contains("extracting artifact"));
  CHECK_THAT(host.reports.back().message, Contains("../evil"));
  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"1.0"});
  CHECK(host.downloadsLeft() == 0);
  for (const auto& root : {host.config.apps_dir, host.config.state_dir}) {
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      INFO("found " << e.path());
      CHECK(e.path().filename() != "evil");
    }
  }
  CHECK_FALSE(host.journal().state().order.has_value());
}

TEST_CASE("deployer: an unknown host variable fails the order naming it", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  OrderSpec spec = defaultSpec();
  spec.deploy.restart = {"./bin/restart", "--db=${db_url}"};
  const int fetches = host.fetches;
  const std::size_t mark = host.reports.size();

  REQUIRE(host.deploy("web", "2.0", {}, spec) == Phase::kFailed);

  CHECK(host.phasesSince(mark) == Phases{"accepted", "failed"});
  CHECK_THAT(host.reports.back().message, Contains("${db_url}"));
  CHECK(host.fetches == fetches);
  CHECK(host.current("web") == "releases/1.0");
  CHECK_FALSE(host.journal().state().order.has_value());
}

// ---------------------------------------------------------------------------
// execute: releases already on disk

TEST_CASE("deployer: a rollback to a release on disk skips the fetch", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  REQUIRE(host.deploy("web", "2.0") == Phase::kHealthy);
  const int fetches = host.fetches;
  const std::size_t mark = host.reports.size();

  auto order = host.order("web", "1.0", Artifact{}, defaultSpec(), "rollback");
  REQUIRE(host.execute(order) == Phase::kHealthy);

  CHECK(host.fetches == fetches);
  CHECK(host.phasesSince(mark) == Phases{"accepted", "switching", "restarting", "probation", "healthy"});
  CHECK(host.reports.at(mark).message == "rollback");
  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.lastRestarted("web") == "1.0");
  CHECK(host.app("web").current == "1.0");
  CHECK(host.app("web").previous == "2.0");
  CHECK(host.app("web").sequence == order.body.sequence);
}

TEST_CASE("deployer: a rollback to a release that is not on disk fails", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "2.0") == Phase::kHealthy);
  REQUIRE(host.execute(host.order("web", "1.0", Artifact{}, defaultSpec(), "rollback")) == Phase::kFailed);
  CHECK_THAT(host.reports.back().message, Contains("not on this host"));
  CHECK(host.current("web") == "releases/2.0");
}

TEST_CASE("deployer: a release on disk with the same digest is reused", "[deployer]") {
  Host host;
  auto first = host.artifact("1.0");
  REQUIRE(host.execute(host.order("web", "1.0", first)) == Phase::kHealthy);
  REQUIRE(host.deploy("web", "2.0") == Phase::kHealthy);
  const int fetches = host.fetches;
  REQUIRE(host.execute(host.order("web", "1.0", first)) == Phase::kHealthy);
  CHECK(host.fetches == fetches);
  CHECK(host.current("web") == "releases/1.0");
}

TEST_CASE("deployer: a release on disk with another digest is fetched again and replaced", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  REQUIRE(host.deploy("web", "2.0") == Phase::kHealthy);
  auto rebuilt = host.artifact("1.0", withFile("REBUILT", "yes"));
  const int fetches = host.fetches;
  REQUIRE(host.execute(host.order("web", "1.0", rebuilt)) == Phase::kHealthy);
  CHECK(host.fetches == fetches + 1);
  CHECK(fs::exists(host.releaseDir("web", "1.0") / "REBUILT"));
  CHECK(host.app("web").releases.at("1.0").digest == rebuilt.digest);
  CHECK(host.current("web") == "releases/1.0");
}

TEST_CASE("deployer: deploying the live version again reports it already live", "[deployer]") {
  Host host;
  auto art = host.artifact("1.0");
  REQUIRE(host.execute(host.order("web", "1.0", art)) == Phase::kHealthy);
  const int fetches = host.fetches;
  const std::size_t mark = host.reports.size();

  auto again = host.order("web", "1.0", art);
  REQUIRE(host.execute(again) == Phase::kHealthy);

  CHECK(host.phasesSince(mark) == Phases{"accepted", "healthy"});
  CHECK_THAT(host.reports.back().message, Contains("already live"));
  CHECK(host.reports.back().live_version == "1.0");
  CHECK(host.fetches == fetches);
  CHECK(host.restarted("web") == std::vector<std::string>{"1.0"});
  CHECK(host.app("web").sequence == again.body.sequence);
  CHECK_FALSE(host.journal().state().order.has_value());
}

// Bug: the "already live" shortcut (deployer.cpp, execute(), the check on
// line 175) compares only the version and the `current` link, not the
// artifact digest. An order for the live version with a different artifact
// (a rebuilt 1.0) is reported kHealthy "already live" although the host keeps
// running the old bytes, so the coordinator records a digest the host does not
// run. stage() has a kConflict for exactly this case ("release 1.0 is live
// with different content; deploy a new version"), which the shortcut makes
// unreachable.
TEST_CASE("deployer: the live version with a different artifact is not reported already live", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  const std::string live_digest = host.app("web").releases.at("1.0").digest;
  auto rebuilt = host.artifact("1.0", withFile("REBUILT", "yes"));
  REQUIRE(rebuilt.digest != live_digest);

  CHECK(host.execute(host.order("web", "1.0", rebuilt)) == Phase::kFailed);
  CHECK_THAT(host.reports.back().message, Contains("different content"));
  CHECK(host.current("web") == "releases/1.0");
  CHECK_FALSE(fs::exists(host.releaseDir("web", "1.0") / "REBUILT"));
  CHECK(host.app("web").releases.at("1.0").digest == live_digest);
}

// Bug: the artifact digest of an order is used as a file name without any
// check (deployer.cpp stage(): `part = downloads / artifact_digest`, then
// fs::remove(part) and the fetch into it; decodeOrderBody does not check it
// is hex either). A signed order whose digest is "../../victim" deletes and
// then writes <state_dir>/../../victim, outside the downloads directory. An
// order naming something that is not a BLAKE2b-256 hex digest should fail
// before any file operation.
TEST_CASE("deployer: an artifact digest that is not hex touches nothing outside downloads", "[deployer]") {
  Host host;
  const fs::path victim = host.config.state_dir.parent_path() / "victim";
  std::ofstream(victim) << "keep me";
  Artifact bogus{"../../victim", 7};
  const int fetches = host.fetches;

  CHECK(host.execute(host.order("web", "1.0", bogus)) == Phase::kFailed);
  CHECK(fs::exists(victim));
  CHECK(host.fetches == fetches);
}

// Bug (see journal_test "strings that are not UTF-8"): an order id that is not
// valid UTF-8 makes Journal::save() throw nlohmann's type_error, which escapes
// execute() and would end the agent's worker thread. Expected: kFailed (or the
// id escaped), never an exception.
TEST_CASE("deployer: an order id that is not UTF-8 does not throw out of execute()", "[deployer]") {
  Host host;
  auto order = host.order("web", "1.0", host.artifact("1.0"));
  order.body.order_id = "order-\xff";
  CHECK_NOTHROW(host.execute(order));
}

// ---------------------------------------------------------------------------
// prune

TEST_CASE("deployer: keep_releases=2 prunes older releases but keeps current and previous", "[deployer]") {
  Host host(2);
  for (const char* v : {"1.0", "2.0", "3.0", "4.0"}) REQUIRE(host.deploy("web", v) == Phase::kHealthy);
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"3.0", "4.0"});
  std::set<std::string> known;
  for (const auto& [v, info] : host.app("web").releases) known.insert(v);
  CHECK(known == std::set<std::string>{"3.0", "4.0"});
  CHECK(host.app("web").current == "4.0");
  CHECK(host.app("web").previous == "3.0");
  host.restartAgent();
  CHECK(host.app("web").releases.count("1.0") == 0);
}

TEST_CASE("deployer: keep_releases=3 keeps the newest other release", "[deployer]") {
  Host host(3);
  for (const char* v : {"1.0", "2.0", "3.0", "4.0"}) REQUIRE(host.deploy("web", v) == Phase::kHealthy);
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"2.0", "3.0", "4.0"});
}

TEST_CASE("deployer: keep_releases=1 still never prunes the previous release", "[deployer]") {
  Host host(1);
  for (const char* v : {"1.0", "2.0", "3.0"}) REQUIRE(host.deploy("web", v) == Phase::kHealthy);
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"2.0", "3.0"});
  // And the previous can still be reverted to.
  REQUIRE(host.deploy("web", "4.0", unhealthy()) == Phase::kReverted);
  CHECK(host.current("web") == "releases/3.0");
}

TEST_CASE("deployer: a rollback keeps the release it rolled back from", "[deployer]") {
  Host host(2);
  for (const char* v : {"1.0", "2.0", "3.0"}) REQUIRE(host.deploy("web", v) == Phase::kHealthy);
  REQUIRE(host.execute(host.order("web", "2.0", Artifact{}, defaultSpec(), "rollback")) == Phase::kHealthy);
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"2.0", "3.0"});
  CHECK(host.app("web").previous == "3.0");
}

// ---------------------------------------------------------------------------
// the last finished order of each app

TEST_CASE("deployer: a healthy order is remembered as the app's last finished order", "[deployer]") {
  Host host;
  auto order = host.order("web", "1.0", host.artifact("1.0"));
  REQUIRE(host.execute(order) == Phase::kHealthy);
  const Report& sent = host.reports.back();
  host.restartAgent();  // it is in the journal on disk
  REQUIRE(host.app("web").last_order.has_value());
  const auto& last = *host.app("web").last_order;
  CHECK(last.order_id == order.body.order_id);
  CHECK(last.sequence == order.body.sequence);
  CHECK(last.action == "deploy");
  CHECK(last.version == "1.0");
  CHECK(last.phase == Phase::kHealthy);
  CHECK(last.live_version == "1.0");
  // What a repeat of the order is answered with is exactly what was sent.
  const Report again = last.report("web");
  CHECK(again.order_id == sent.order_id);
  CHECK(again.message == sent.message);
  CHECK(again.at_ms == sent.at_ms);
  CHECK(again.phase == sent.phase);
}

TEST_CASE("deployer: failed, reverted and already-live orders are remembered too", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);

  REQUIRE(host.deploy("web", "2.0", unhealthy()) == Phase::kReverted);
  REQUIRE(host.app("web").last_order.has_value());
  CHECK(host.app("web").last_order->phase == Phase::kReverted);
  CHECK(host.app("web").last_order->version == "2.0");
  CHECK(host.app("web").last_order->live_version == "1.0");

  host.fetch_override = [](const std::string&, std::uint64_t, const fs::path&) -> Status {
    return Error(Errc::kUnavailable, "coordinator unreachable");
  };
  REQUIRE(host.deploy("web", "3.0") == Phase::kFailed);
  CHECK(host.app("web").last_order->phase == Phase::kFailed);
  CHECK(host.app("web").last_order->version == "3.0");
  CHECK_THAT(host.app("web").last_order->message, Contains("coordinator unreachable"));

  auto live = host.order("web", "1.0", Artifact{}, defaultSpec(), "rollback");
  REQUIRE(host.execute(live) == Phase::kHealthy);
  CHECK(host.app("web").last_order->order_id == live.body.order_id);
  CHECK(host.app("web").last_order->action == "rollback");
}

TEST_CASE("deployer: an order recovered after a crash is remembered with its outcome", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.wait_override = [](Millis) -> bool { throw Crash{}; };
  auto order = host.order("web", "2.0", host.artifact("2.0"));
  REQUIRE_THROWS_AS(host.execute(order), Crash);
  host.wait_override = nullptr;
  host.restartAgent();
  // Until it is settled the app's last finished order is the one before.
  REQUIRE(host.app("web").last_order.has_value());
  CHECK(host.app("web").last_order->version == "1.0");

  host.deployer().recover();
  host.restartAgent();
  REQUIRE(host.app("web").last_order.has_value());
  CHECK(host.app("web").last_order->order_id == order.body.order_id);
  CHECK(host.app("web").last_order->phase == Phase::kReverted);
  CHECK_THAT(host.app("web").last_order->message, Contains("agent restarted during probation"));
}

// ---------------------------------------------------------------------------
// recover

TEST_CASE("deployer: recover() with no order in flight does nothing", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.restartAgent();
  const std::size_t mark = host.reports.size();
  host.deployer().recover();
  CHECK(host.reports.size() == mark);
  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.lastRestarted("web") == "1.0");
}

TEST_CASE("deployer: recover() after a crash while fetching fails the order", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.fetch_override = [](const std::string&, std::uint64_t, const fs::path&) -> Status { throw Crash{}; };
  auto order = host.order("web", "2.0", host.artifact("2.0"));
  REQUIRE_THROWS_AS(host.execute(order), Crash);

  host.fetch_override = nullptr;
  host.restartAgent();
  REQUIRE(host.journal().state().order.has_value());
  // Only accepted was saved; the note names the phase the crash interrupted.
  REQUIRE(host.journal().state().order->phase == "accepted");
  CHECK(host.notedPhase(order.body.order_id) == "fetching");
  const std::size_t mark = host.reports.size();

  host.deployer().recover();

  REQUIRE(host.reports.size() == mark + 1);
  const Report& r = host.reports.back();
  CHECK(r.phase == Phase::kFailed);
  CHECK(r.order_id == order.body.order_id);
  CHECK(r.version == "2.0");
  CHECK(r.sequence == order.body.sequence);
  CHECK(r.live_version == "1.0");
  CHECK_THAT(r.message, Contains("fetching"));
  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.restarted("web") == std::vector<std::string>{"1.0"});
  CHECK(host.app("web").current == "1.0");
  CHECK_FALSE(host.journal().state().order.has_value());
  host.restartAgent();
  CHECK_FALSE(host.journal().state().order.has_value());
  CHECK(host.app("web").current == "1.0");
}

TEST_CASE("deployer: recover() after a crash while extracting removes the staging directory and the download",
          "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.report_override = [](const Report& r) {
    if (r.phase == Phase::kStaging) throw Crash{};
  };
  REQUIRE_THROWS_AS(host.deploy("web", "2.0"), Crash);
  host.report_override = nullptr;
  // What a crash halfway through the extraction leaves.
  fs::create_directories(host.releaseDir("web", ".staging-2.0") / "bin");
  std::ofstream(host.releaseDir("web", ".staging-2.0") / "VERSION") << "2";
  REQUIRE(host.downloadsLeft() == 1);
  host.restartAgent();

  host.deployer().recover();
  CHECK(host.reports.back().phase == Phase::kFailed);
  CHECK_THAT(host.reports.back().message, Contains("agent restarted during staging"));
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"1.0"});
  CHECK(host.downloadsLeft() == 0);
  CHECK(host.current("web") == "releases/1.0");
}

TEST_CASE("deployer: recover() after a crash in before_switch leaves the old release live", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  OrderSpec spec = defaultSpec();
  spec.deploy.before_switch = {{"true"}};
  host.report_override = [](const Report& r) {
    if (r.phase == Phase::kBeforeSwitch) throw Crash{};
  };
  REQUIRE_THROWS_AS(host.deploy("web", "2.0", {}, spec), Crash);
  host.report_override = nullptr;
  host.restartAgent();
  REQUIRE(host.journal().state().order->phase == "accepted");
  CHECK(host.notedPhase(host.journal().state().order->order_id) == "before_switch");

  host.deployer().recover();
  CHECK(host.reports.back().phase == Phase::kFailed);
  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.app("web").current == "1.0");
  // The new release stays on disk but not in the journal (what an order
  // staged is saved with its end), so deploying it again fetches it again.
  const int fetches = host.fetches;
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"1.0", "2.0"});
  CHECK(host.app("web").releases.count("2.0") == 0);
  REQUIRE(host.deploy("web", "2.0", {}, spec) == Phase::kHealthy);
  CHECK(host.fetches == fetches + 1);
}

// The journal is not saved when a release is staged, so a crash after an order
// replaced a release's directory (same version, another artifact) leaves the
// journal describing the old content: recovery forgets that digest.
TEST_CASE("deployer: recover() forgets the digest of a release whose directory the crashed order replaced",
          "[deployer]") {
  Host host;
  auto first = host.artifact("1.0");
  REQUIRE(host.execute(host.order("web", "1.0", first)) == Phase::kHealthy);
  REQUIRE(host.deploy("web", "2.0") == Phase::kHealthy);
  REQUIRE(host.deploy("web", "3.0") == Phase::kHealthy);
  auto rebuilt = host.artifact("1.0", withFile("REBUILT", "yes"));
  OrderSpec spec = defaultSpec();
  spec.deploy.before_switch = {{"true"}};
  host.report_override = [](const Report& r) {
    if (r.phase == Phase::kBeforeSwitch) throw Crash{};
  };
  REQUIRE_THROWS_AS(host.execute(host.order("web", "1.0", rebuilt, spec)), Crash);
  host.report_override = nullptr;
  REQUIRE(fs::exists(host.releaseDir("web", "1.0") / "REBUILT"));
  host.restartAgent();
  REQUIRE(host.app("web").releases.at("1.0").digest == first.digest);

  host.deployer().recover();
  CHECK(host.reports.back().phase == Phase::kFailed);
  CHECK(host.app("web").releases.at("1.0").digest.empty());
  // The first artifact again: fetched and staged again, not taken for what is on disk.
  const int fetches = host.fetches;
  REQUIRE(host.execute(host.order("web", "1.0", first)) == Phase::kHealthy);
  CHECK(host.fetches == fetches + 1);
  CHECK_FALSE(fs::exists(host.releaseDir("web", "1.0") / "REBUILT"));
  CHECK(host.app("web").releases.at("1.0").digest == first.digest);
}

// ---------------------------------------------------------------------------
// journal saves: two fsyncs each, only where recovery needs them

TEST_CASE("deployer: a deploy saves the journal twice: accepted and its end", "[deployer][journal]") {
  Host host(2);  // keep_releases 2, so the third deploy prunes too
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  REQUIRE(host.deploy("web", "2.0") == Phase::kHealthy);
  OrderSpec spec = defaultSpec();
  spec.deploy.before_switch = {{"true"}, {"true"}};
  const auto before = host.journal().saves();
  const std::size_t mark = host.reports.size();
  REQUIRE(host.deploy("web", "3.0", {}, spec) == Phase::kHealthy);
  CHECK(host.phasesSince(mark) ==
        Phases{"accepted", "fetching", "staging", "before_switch", "switching", "restarting", "probation", "healthy"});
  CHECK(host.releasesOnDisk("web") == std::set<std::string>{"2.0", "3.0"});
  CHECK(host.journal().saves() - before == 2);
}

TEST_CASE("deployer: a reverted deploy saves the journal three times", "[deployer][journal]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  const auto before = host.journal().saves();
  REQUIRE(host.deploy("web", "2.0", unhealthy()) == Phase::kReverted);
  CHECK(host.journal().saves() - before == 3);
}

TEST_CASE("deployer: an order that ends at once saves the journal twice", "[deployer][journal]") {
  Host host;
  auto art = host.artifact("1.0");
  REQUIRE(host.execute(host.order("web", "1.0", art)) == Phase::kHealthy);
  const auto before = host.journal().saves();
  REQUIRE(host.execute(host.order("web", "1.0", art)) == Phase::kHealthy);
  CHECK(host.reports.back().message == "release 1.0 is already live");
  CHECK(host.journal().saves() - before == 2);
}

TEST_CASE("deployer: recover() after a crash in probation reverts to the previous release", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.wait_override = [](Millis) -> bool { throw Crash{}; };
  auto order = host.order("web", "2.0", host.artifact("2.0"));
  REQUIRE_THROWS_AS(host.execute(order), Crash);
  REQUIRE(host.current("web") == "releases/2.0");
  REQUIRE(host.lastRestarted("web") == "2.0");

  host.wait_override = nullptr;
  host.restartAgent();
  REQUIRE(host.journal().state().order.has_value());
  REQUIRE(host.journal().state().order->phase == "accepted");
  CHECK(host.notedPhase(order.body.order_id) == "probation");
  const std::size_t mark = host.reports.size();

  host.deployer().recover();

  CHECK(host.phasesSince(mark) == Phases{"reverting", "reverted"});
  const Report& r = host.reports.back();
  CHECK(r.order_id == order.body.order_id);
  CHECK(r.live_version == "1.0");
  CHECK_THAT(r.message, Contains("probation"));
  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.restarted("web") == std::vector<std::string>{"1.0", "2.0", "1.0"});
  CHECK(host.app("web").current == "1.0");
  CHECK_FALSE(host.journal().state().order.has_value());
  host.restartAgent();
  CHECK(host.app("web").current == "1.0");
  CHECK_FALSE(host.journal().state().order.has_value());
}

TEST_CASE("deployer: recover() after a crash between switch and restart reverts", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.report_override = [](const Report& r) {
    if (r.phase == Phase::kRestarting) throw Crash{};
  };
  REQUIRE_THROWS_AS(host.deploy("web", "2.0"), Crash);
  host.report_override = nullptr;
  REQUIRE(host.current("web") == "releases/2.0");
  REQUIRE(host.lastRestarted("web") == "1.0");
  host.restartAgent();

  host.deployer().recover();
  CHECK(host.reports.back().phase == Phase::kReverted);
  CHECK(host.current("web") == "releases/1.0");
  CHECK(host.lastRestarted("web") == "1.0");
  CHECK(host.app("web").current == "1.0");
}

TEST_CASE("deployer: recover() of a first deploy crashed in probation leaves nothing live", "[deployer]") {
  Host host;
  host.wait_override = [](Millis) -> bool { throw Crash{}; };
  REQUIRE_THROWS_AS(host.deploy("web", "1.0"), Crash);
  host.wait_override = nullptr;
  host.restartAgent();

  host.deployer().recover();
  CHECK(host.reports.back().phase == Phase::kReverted);
  CHECK(host.reports.back().live_version.empty());
  CHECK(host.current("web").empty());
  CHECK(host.app("web").current.empty());
  CHECK_FALSE(host.journal().state().order.has_value());
}

// Bug: recover() treats "current is not the new version" as "nothing was
// switched". A crash inside revert() after `current` was switched back but
// before the previous release's restart ran leaves exactly that state (journal
// phase "reverting", current -> previous), so recover() reports kFailed
// "nothing was switched" and never restarts the previous release, although the
// new release's restart already ran and its process may be the one running.
TEST_CASE("deployer: recover() after a crash mid-revert restarts the previous release", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.report_override = [](const Report& r) {
    if (r.phase == Phase::kReverting) throw Crash{};
  };
  REQUIRE_THROWS_AS(host.deploy("web", "2.0", unhealthy()), Crash);
  host.report_override = nullptr;
  REQUIRE(host.journal().state().order->phase == "reverting");
  // What revert() does next, up to the restart of the previous release: switch
  // back and journal it (the order stays in flight until the restart is done).
  REQUIRE(flotilla::common::atomicSymlink(host.appDir("web") / "current", fs::path("releases") / "1.0").ok());
  host.journal().state().apps["web"].current = "1.0";
  host.journal().state().apps["web"].previous = "";
  REQUIRE(host.journal().save().ok());
  REQUIRE(host.lastRestarted("web") == "2.0");
  host.restartAgent();

  host.deployer().recover();

  CHECK(host.lastRestarted("web") == "1.0");
  CHECK(host.reports.back().phase == Phase::kReverted);
  CHECK(host.reports.back().live_version == "1.0");
  CHECK(host.current("web") == "releases/1.0");
  CHECK_FALSE(host.journal().state().order.has_value());
}

// Bug: a first deploy whose revert removed `current` and then crashed came
// back as kFailed "nothing was switched", although the release had been live
// and restarted: the revert must be finished and reported as one.
TEST_CASE("deployer: recover() after a crash mid-revert of a first deploy reports it reverted", "[deployer]") {
  Host host;
  host.report_override = [](const Report& r) {
    if (r.phase == Phase::kReverting) throw Crash{};
  };
  REQUIRE_THROWS_AS(host.deploy("web", "1.0", unhealthy()), Crash);
  host.report_override = nullptr;
  // What revert() does next when there is no previous release.
  fs::remove(host.appDir("web") / "current");
  host.restartAgent();
  REQUIRE(host.journal().state().order->phase == "reverting");

  host.deployer().recover();
  CHECK(host.reports.back().phase == Phase::kReverted);
  CHECK(host.reports.back().live_version.empty());
  CHECK_THAT(host.reports.back().message, Contains("agent restarted during reverting"));
  CHECK(host.current("web").empty());
  CHECK(host.app("web").current.empty());
  CHECK_FALSE(host.journal().state().order.has_value());
}

// Bug: after recover() reverts an order interrupted after the switch, the
// app's `previous` is "" although it was 0.9 before the order, while the same
// failure handled by execute() restores 0.9 (see "a revert gives back the
// previous release's own previous"). recover() computes previous_previous as
// "" whenever the journal's `previous` equals the order's `previous`, which is
// always true once the switch was journaled.
TEST_CASE("deployer: recover() restores the previous release's own previous", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "0.9") == Phase::kHealthy);
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  host.wait_override = [](Millis) -> bool { throw Crash{}; };
  REQUIRE_THROWS_AS(host.deploy("web", "2.0"), Crash);
  host.wait_override = nullptr;
  host.restartAgent();
  host.deployer().recover();
  REQUIRE(host.reports.back().phase == Phase::kReverted);
  CHECK(host.app("web").current == "1.0");
  CHECK(host.app("web").previous == "0.9");
}

// ---------------------------------------------------------------------------
// checkAll / releases / monitorInterval

TEST_CASE("deployer: checkAll reports each live app healthy or unhealthy", "[deployer]") {
  Host host;
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);
  REQUIRE(host.deploy("api", "7") == Phase::kHealthy);
  OrderSpec no_checks = defaultSpec();
  no_checks.health.checks.clear();
  REQUIRE(host.deploy("batch", "1", {}, no_checks) == Phase::kHealthy);
  REQUIRE(host.deploy("gone", "1", unhealthy()) == Phase::kReverted);  // nothing live

  CHECK(host.deployer().checkAll() == HealthMap{{"web", H::kHealthy}, {"api", H::kHealthy}, {"batch", H::kHealthy}});

  fs::remove(host.releaseDir("api", "7") / "HEALTHY");
  CHECK(host.deployer().checkAll() == HealthMap{{"web", H::kHealthy}, {"api", H::kUnhealthy}, {"batch", H::kHealthy}});
  CHECK(host.deployer().releases() == std::map<std::string, std::string>{{"web", "1.0"}, {"api", "7"}, {"batch", "1"}});
}

TEST_CASE("deployer: checkAll runs the checks with host variables expanded", "[deployer]") {
  Host host;
  OrderSpec spec = defaultSpec();
  spec.health.checks[0].argv = {"test", "-f", "${health_file}"};
  REQUIRE(host.deploy("web", "1.0", {}, spec) == Phase::kHealthy);
  CHECK(host.deployer().checkAll() == HealthMap{{"web", H::kHealthy}});
  host.config.vars["health_file"] = "MISSING";
  CHECK(host.deployer().checkAll() == HealthMap{{"web", H::kUnhealthy}});
  host.config.vars.erase("health_file");
  CHECK(host.deployer().checkAll() == HealthMap{{"web", H::kUnknown}});
}

TEST_CASE("deployer: checkAll says unknown for a live release it has no spec for", "[deployer]") {
  Host host;
  host.journal().state().apps["legacy"].current = "0.1";
  CHECK(host.deployer().checkAll() == HealthMap{{"legacy", H::kUnknown}});
}

TEST_CASE("deployer: a tcp check against a closed port is unhealthy", "[deployer]") {
  Host host;
  OrderSpec spec = defaultSpec();
  HealthCheck tcp;
  tcp.kind = HealthCheck::Kind::kTcp;
  tcp.target = "127.0.0.1:" + std::to_string(flotilla::testing::freeTcpPort());
  tcp.timeout = 1s;
  spec.health.checks = {tcp};
  REQUIRE(host.deploy("web", "1.0", {}, spec) == Phase::kReverted);
  CHECK_THAT(host.reports.back().message, Contains("not healthy within"));
}

TEST_CASE("deployer: monitorInterval follows the slowest plan but checks at most every 5s", "[deployer]") {
  Host host;
  CHECK(host.deployer().monitorInterval() == Millis(5000));
  OrderSpec fast = defaultSpec();
  fast.health.interval = 2s;
  fast.health.healthy_for = 0ms;
  REQUIRE(host.deploy("api", "1", {}, fast) == Phase::kHealthy);
  CHECK(host.deployer().monitorInterval() == Millis(5000));  // 2s probation interval, idle checks every 5s
  REQUIRE(host.deploy("web", "1.0") == Phase::kHealthy);     // 20ms
  CHECK(host.deployer().monitorInterval() == Millis(5000));
}
