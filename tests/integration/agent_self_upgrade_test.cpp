// The agent upgrades itself through Flotilla (agent/self_upgrade.h,
// docs/operations.md "Upgrading the agent"): a plan for the app
// `flotilla-agent` ships a new agent binary in waves. Each host tries the new
// binary (selftest) while the old agent waits, then hands over to it in the
// same process. A new binary that exits at start fails its trial: the old
// agent stays, the rollout fails, and no host is ever without an agent. A
// restarted agent launches the version the fleet moved to. An agent killed
// after journaling the handover but before the new binary reported comes back
// on the old binary, and the order is reverted; so does one whose new binary
// hangs, stopped by the watchdog the old agent left behind.
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "support/cluster.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A tarball with `binary` at its root, named flotilla-agent.
fs::path selfRelease(Fleet& f, const std::string& version, const fs::path& binary) {
  const auto src = f.dir() / ("self-" + version);
  fs::create_directories(src);
  fs::copy_file(binary, src / "flotilla-agent", fs::copy_options::overwrite_existing);
  fs::permissions(src / "flotilla-agent", fs::perms(0755));
  const auto out = f.dir() / ("flotilla-agent-" + version + ".tar.gz");
  auto r = runCommand({"/bin/tar", "-C", src.string(), "-czf", out.string(), "."});
  REQUIRE(r.exit_code == 0);
  return out;
}

fs::path selfPlan(Fleet& f, const std::string& version, const fs::path& artifact) {
  // The canary first, then the rest; the health deadline bounds each trial.
  return f.writePlan("flotilla-agent", version, artifact, "sizes = [1, \"100%\"]\nmax_failed = 0",
                     "[health]\ndeadline = \"30s\"\n");
}

// One wave and a 5 s trial, so the watchdog's deadline is its least, 10 s.
fs::path quickSelfPlan(Fleet& f, const std::string& version, const fs::path& artifact) {
  return f.writePlan("flotilla-agent", version, artifact, "sizes = [\"100%\"]",
                     "[health]\nhealthy_for = \"1s\"\ndeadline = \"5s\"\n");
}

// A coordinator that counts an agent silent for 2 s lost.
void startQuickCoordinator(Fleet& f) {
  f.startCoordinator({"agents.heartbeat_interval = \"500ms\"", "agents.heartbeat_expiry = \"2s\""});
}

// A quick coordinator and agent h0 started with FLOTILLA_TEST_PAUSE_AT=`pause`,
// online; returns h0's pid. Pause points exist only in crash-point builds.
[[maybe_unused]] pid_t startPausingAgent(Fleet& f, const std::string& pause) {
  startQuickCoordinator(f);
  f.initAgent({"h0"});
  f.startAgentWithEnv({"h0"}, {{"FLOTILLA_TEST_PAUSE_AT", pause}});
  REQUIRE(f.waitOnline(1));
  return f.agentPid("h0");
}

// The binary agent `id`'s process runs now.
fs::path exeOf(Fleet& f, const std::string& id) {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/" + std::to_string(f.agentPid(id)) + "/exe", ec);
  return ec ? fs::path() : exe;
}

}  // namespace

TEST_CASE("the agent upgrades itself in waves, and a new binary that exits at start leaves the old one in place",
          "[integration][self_upgrade]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  f.startAgent("h1");
  REQUIRE(f.waitOnline(2));
  const pid_t pid0 = f.agentPid("h0"), pid1 = f.agentPid("h1");

  // A working build: the same agent, shipped as release 2.
  const auto good = f.submit(selfPlan(f, "2", selfRelease(f, "2", binDir() / "agent/flotilla-agent")));
  auto st = f.waitFinished(good, 120s);
  INFO(st.dump(2));
  REQUIRE(st.value("state", "") == "succeeded");
  for (const char* h : {"h0", "h1"}) {
    INFO(h);
    CHECK(f.liveRelease(h, "flotilla-agent") == "2");
    CHECK(exeOf(f, h) == fs::canonical(f.appsDir(h) / "flotilla-agent/releases/2/flotilla-agent"));
    CHECK(f.findEvent(good, "host_healthy", "took over").has_value());
  }
  // Handed over in place: the same processes, still online.
  CHECK(f.agentPid("h0") == pid0);
  CHECK(f.agentPid("h1") == pid1);
  CHECK(f.agentRunning("h0"));
  REQUIRE(f.waitOnline(2));
  // The new agents deploy as before.
  f.baseline("1");

  // A build that exits at start: the canary's trial fails, the rollout stops.
  const auto broken_bin = f.dir() / "broken-agent";
  std::ofstream(broken_bin) << "#!/bin/sh\necho 'cannot start' >&2\nexit 1\n";
  const auto bad = f.submit(selfPlan(f, "3", selfRelease(f, "3", broken_bin)));
  st = f.waitFinished(bad, 120s);
  INFO(st.dump(2));
  CHECK(st.value("state", "") != "succeeded");
  CHECK(f.findEvent(bad, "", "failed its selftest").has_value());
  for (const char* h : {"h0", "h1"}) {
    INFO(h);
    CHECK(f.agentRunning(h));
    CHECK(f.liveRelease(h, "flotilla-agent") == "2");
    CHECK(exeOf(f, h) == fs::canonical(f.appsDir(h) / "flotilla-agent/releases/2/flotilla-agent"));
  }
  REQUIRE(f.waitOnline(2));

  // A restart of the installed binary launches the release the fleet moved to.
  f.stopAgent("h0");
  f.startAgent("h0");
  REQUIRE(waitUntil(
      [&] { return exeOf(f, "h0") == fs::canonical(f.appsDir("h0") / "flotilla-agent/releases/2/flotilla-agent"); },
      20s));
  REQUIRE(f.waitOnline(2));
}

TEST_CASE("a new agent slower to come back than the heartbeat expiry still takes over: a handover is not a lost host",
          "[integration][self_upgrade][fault]") {
#ifndef FLOTILLA_CRASH_POINTS
  WARN("skipped: flotilla-agent was built without crash points (-DFLOTILLA_CRASH_POINTS=ON, as scripts/test.sh does)");
  return;
#else
  // A loaded host: the new binary takes 5 s to start, more than twice the
  // coordinator's heartbeat expiry. The handover's own deadline (the trial
  // plus the watchdog's) bounds it instead.
  Fleet f;
  const pid_t pid = startPausingAgent(f, "handover:exec=5000");
  const auto id = f.submit(quickSelfPlan(f, "2", selfRelease(f, "2", binDir() / "agent/flotilla-agent")));
  const auto st = f.waitFinished(id, 90s);
  INFO(st.dump(2));
  CHECK(st.value("state", "") == "succeeded");
  CHECK(readFile(f.dir() / "agent-h0.log").find("pausing 5000 ms") != std::string::npos);
  CHECK(f.agentPid("h0") == pid);
  CHECK(exeOf(f, "h0") == fs::canonical(f.appsDir("h0") / "flotilla-agent/releases/2/flotilla-agent"));
  CHECK(f.liveRelease("h0", "flotilla-agent") == "2");

  // A trial that fails ends the handover at once: a silence after it is a
  // lost host after the heartbeat expiry, not after the handover's deadline
  // (15 s here).
  const auto broken_bin = f.dir() / "broken-agent";
  std::ofstream(broken_bin) << "#!/bin/sh\nexit 1\n";
  const auto bad = f.submit(quickSelfPlan(f, "3", selfRelease(f, "3", broken_bin)));
  CHECK(f.waitFinished(bad, 60s).value("state", "") != "succeeded");
  f.signalAgent("h0", SIGSTOP);
  CHECK(waitUntil([&] { return f.agentState("h0") == "lost"; }, 8s));
  f.signalAgent("h0", SIGCONT);
#endif
}

TEST_CASE("an old agent whose teardown hangs still hands over to the new one within its limit",
          "[integration][self_upgrade][fault]") {
#ifndef FLOTILLA_CRASH_POINTS
  WARN("skipped: flotilla-agent was built without crash points (-DFLOTILLA_CRASH_POINTS=ON, as scripts/test.sh does)");
  return;
#else
  // The old agent's teardown (last reports, threads, sockets) stalls for a
  // minute: the exec goes ahead after kHandoverTeardownLimit (10 s), well
  // within the coordinator's handover silence for a 10 s trial (30 s).
  Fleet f;
  const pid_t pid = startPausingAgent(f, "handover:teardown=60000");
  const auto plan = f.writePlan("flotilla-agent", "2", selfRelease(f, "2", binDir() / "agent/flotilla-agent"),
                                "sizes = [\"100%\"]", "[health]\nhealthy_for = \"1s\"\ndeadline = \"10s\"\n");
  const auto started = std::chrono::steady_clock::now();
  const auto id = f.submit(plan);
  const auto st = f.waitFinished(id, 50s);
  INFO(st.dump(2));
  CHECK(st.value("state", "") == "succeeded");
  CHECK(std::chrono::steady_clock::now() - started < 50s);  // not the minute the teardown would take
  const auto log = readFile(f.dir() / "agent-h0.log");
  CHECK(log.find("teardown did not end within 10000 ms; handing over anyway") != std::string::npos);
  CHECK(f.agentPid("h0") == pid);
  CHECK(exeOf(f, "h0") == fs::canonical(f.appsDir("h0") / "flotilla-agent/releases/2/flotilla-agent"));
  CHECK(f.liveRelease("h0", "flotilla-agent") == "2");
#endif
}

TEST_CASE("an agent killed between journaling a handover and the new binary reporting comes back on the old one",
          "[integration][self_upgrade][fault]") {
#ifndef FLOTILLA_CRASH_POINTS
  WARN("skipped: flotilla-agent was built without crash points (-DFLOTILLA_CRASH_POINTS=ON, as scripts/test.sh does)");
  return;
#else
  Fleet f;
  startQuickCoordinator(f);
  f.initAgent({"h0"});
  f.startAgentWithEnv({"h0"}, {{"FLOTILLA_TEST_CRASH_AT", "handover:before"}});
  REQUIRE(f.waitOnline(1));
  const auto id = f.submit(selfPlan(f, "2", selfRelease(f, "2", binDir() / "agent/flotilla-agent")));
  const int st = f.waitAgentExit("h0", 60s);
  INFO("agent wait status " << st);
  REQUIRE(st != -1);
  REQUIRE(WIFSIGNALED(st));
  REQUIRE(WTERMSIG(st) == SIGKILL);
  CHECK(readFile(f.agentDir("h0") / "state/journal.json").find("\"handover\"") != std::string::npos);

  // Started again as a supervisor would (systemd's Restart=): the installed binary.
  f.startAgent({"h0"});
  const auto status = f.waitFinished(id, 60s);
  INFO(status.dump(2));
  CHECK(status.value("state", "") != "succeeded");
  CHECK(f.findEvent(id, "", "stopped before it reported").has_value());
  CHECK(exeOf(f, "h0") == fs::canonical(binDir() / "agent/flotilla-agent"));
  CHECK(f.liveRelease("h0", "flotilla-agent").empty());
  REQUIRE(f.waitOnline(1));
#endif
}

TEST_CASE("a new agent that passes its trial but hangs is stopped by the old agent's watchdog and reverted",
          "[integration][self_upgrade][fault]") {
  Fleet f;
  startQuickCoordinator(f);
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  // Its selftest passes; run never reconnects.
  const auto hangs = f.dir() / "hanging-agent";
  std::ofstream(hangs) << "#!/bin/sh\n[ \"$1\" = selftest ] && exit 0\nexec sleep 600\n";
  const auto id = f.submit(quickSelfPlan(f, "2", selfRelease(f, "2", hangs)));
  // The watchdog's deadline: twice the trial's, at least 10 s.
  const int st = f.waitAgentExit("h0", 60s);
  INFO("agent wait status " << st);
  REQUIRE(st != -1);
  REQUIRE(WIFSIGNALED(st));
  CHECK(WTERMSIG(st) == SIGKILL);
  // The coordinator lost the host meanwhile: the rollout did not succeed.
  const auto status = f.waitFinished(id, 60s);
  INFO(status.dump(2));
  CHECK(status.value("state", "") != "succeeded");
  // Started again as a supervisor would: recovery reverts the handover.
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  CHECK(exeOf(f, "h0") == fs::canonical(binDir() / "agent/flotilla-agent"));
  CHECK(waitUntil(
      [&] { return readFile(f.dir() / "agent-h0.log").find("stopped before it reported") != std::string::npos; }, 20s));
  CHECK(f.liveRelease("h0", "flotilla-agent").empty());
}
