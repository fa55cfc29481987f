// Faults with real processes: agents killed (SIGKILL) in the middle of a
// phase, frozen (SIGSTOP), and a coordinator killed mid-rollout.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "support/cluster.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool eventWithText(Fleet& f, const std::string& id, const std::string& kind, const std::string& text) {
  auto r = f.console({"events", id});
  for (const auto& e : r.json.value("events", json::array()))
    if (e["kind"] == kind && e["message"].get<std::string>().find(text) != std::string::npos) return true;
  return false;
}

// A plan of release 2 of "web" for every host, halting on failure.
fs::path planOf2(Fleet& f, bool healthy, const std::string& deploy_toml, const std::string& health_toml) {
  auto release = f.makeRelease("2", healthy);
  auto plan = f.dir() / "web-2.toml";
  std::ofstream out(plan);
  out << "app = \"web\"\nversion = \"2\"\n[artifact]\nfile = \"" << release.string() << "\"\n"
      << "[waves]\nsizes = [\"100%\"]\ndeadline = \"60s\"\non_failure = \"halt\"\n"
      << deploy_toml << health_toml;
  return plan;
}

// Holds a host in `phase` (a hook or check that takes its time, bounded so
// nothing outlives the test for long), kills the agent with SIGKILL there, starts it again and returns
// the finished rollout's status.
json killDuring(Fleet& f, const std::string& phase, const std::string& deploy_toml, const std::string& health_toml) {
  f.startCoordinator();
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  f.baseline("1");
  auto id = f.submit(planOf2(f, true, deploy_toml, health_toml));
  REQUIRE(waitUntil([&] { return f.hostPhase(id, "h0") == phase; }, 20s));
  f.stopAgent("h0", SIGKILL);
  f.startAgent({"h0"});
  return f.waitFinished(id, 60s);
}

const char* kHealthy =
    "[health]\ninterval = \"100ms\"\nhealthy_for = \"200ms\"\ndeadline = \"30s\"\n"
    "[[health.check]]\nexec = [\"test\", \"-f\", \"HEALTHY\"]\n";

}  // namespace

TEST_CASE("an agent killed during before_switch restarts on the old release and says so", "[integration][fault]") {
  Fleet f;
  auto st = killDuring(f, "before_switch",
                       "[deploy]\nbefore_switch = [[\"sh\", \"-c\", \"for i in $(seq 300); do sleep 0.05; done\"]]\n"
                       "restart = [\"./bin/restart\"]\n",
                       kHealthy);
  INFO(st.dump(2));
  CHECK(st["state"] == "failed");
  CHECK(f.liveRelease("h0", "web") == "1");
  auto id = st["id"].get<std::string>();
  CHECK(eventWithText(f, id, "host_failed", "agent restarted during before_switch"));
  // The host is still usable: the next rollout goes through.
  auto next = f.writePlan("web", "3", f.makeRelease("3", true), "sizes = [\"100%\"]");
  CHECK(f.waitFinished(f.submit(next))["state"] == "succeeded");
  CHECK(f.liveRelease("h0", "web") == "3");
}

TEST_CASE("an agent killed during probation reverts to the previous release when it restarts", "[integration][fault]") {
  Fleet f;
  auto st = killDuring(f, "probation", "[deploy]\nrestart = [\"./bin/restart\"]\n",
                       "[health]\ninterval = \"100ms\"\nhealthy_for = \"200ms\"\ndeadline = \"30s\"\n"
                       "[[health.check]]\nexec = [\"test\", \"-f\", \"never\"]\n");
  INFO(st.dump(2));
  CHECK(st["state"] == "failed");
  CHECK(f.liveRelease("h0", "web") == "1");
  CHECK(f.lastRestart("h0") == "1");  // release 1 was restarted by the revert
  CHECK(eventWithText(f, st["id"], "host_failed", "agent restarted during probation"));
}

TEST_CASE("a frozen agent is marked lost and counts as unreachable, and the wave never hangs", "[integration][fault]") {
  Fleet f;
  f.startCoordinator({"agents.heartbeat_interval = \"500ms\"", "agents.heartbeat_expiry = \"2s\""});
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));
  f.signalAgent("h1", SIGSTOP);
  REQUIRE(waitUntil([&] { return f.agentState("h1") == "lost"; }, 10s));
  auto plan =
      f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]\nmax_unreachable = 1\ndeadline = \"20s\"");
  auto st = f.waitFinished(f.submit(plan), 40s);
  INFO(st.dump(2));
  CHECK(st["state"] == "succeeded");
  CHECK(st["waves"][0]["unreachable"] == 1);
  CHECK(st["waves"][0]["healthy"] == 1);
  f.signalAgent("h1", SIGCONT);
  // It comes back online on its own.
  CHECK(f.waitOnline(2, 20s));
}

TEST_CASE("an agent whose hook outlasts stop_grace exits after SIGTERM anyway, and recovers at the next start",
          "[integration][fault]") {
  Fleet f;
  f.startCoordinator();
  f.initAgent({"h0"});
  // stop_grace is a top-level key; the template has none, so it goes next to fetch_timeout.
  setTomlLine(f.agentDir("h0") / "agent.toml", "fetch_timeout", "fetch_timeout = \"5m\"\nstop_grace = \"1s\"");
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  f.baseline("1");
  // A hook that ignores the agent stopping, and outlives the wait below.
  auto id = f.submit(planOf2(f, true, "[deploy]\nbefore_switch = [[\"sleep\", \"25\"]]\n", kHealthy));
  REQUIRE(waitUntil([&] { return f.hostPhase(id, "h0") == "before_switch"; }, 20s));
  f.signalAgent("h0", SIGTERM);
  const int st = f.waitAgentExit("h0", 10s);
  REQUIRE(st != -1);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 1);

  f.startAgent({"h0"});
  auto done = f.waitFinished(id, 60s);
  INFO(done.dump(2));
  CHECK(done["state"] == "failed");
  CHECK(f.liveRelease("h0", "web") == "1");
  CHECK(eventWithText(f, done["id"], "host_failed", "agent restarted during before_switch"));
}

// ---------------------------------------------------------------- a kill at every phase
//
// Phases too short to catch from outside are reached with the agent's
// test-only fault injection: FLOTILLA_TEST_CRASH_AT=<point> makes it SIGKILL
// itself there (see agent/include/flotilla/agent/deployer.h). Only agents built
// with -DFLOTILLA_CRASH_POINTS=ON (scripts/test.sh) have it; elsewhere these
// cases say so and do nothing.

namespace {

#ifdef FLOTILLA_CRASH_POINTS
constexpr bool kCrashPoints = true;
#else
constexpr bool kCrashPoints = false;
#endif

bool crashPointsBuilt() {
  if (!kCrashPoints)
    WARN(
        "skipped: flotilla-agent was built without crash points, so FLOTILLA_TEST_CRASH_AT does nothing "
        "(configure with -DFLOTILLA_CRASH_POINTS=ON, as scripts/test.sh does)");
  return kCrashPoints;
}

const char* kRestartOnly = "[deploy]\nrestart = [\"./bin/restart\"]\n";
const char* kFailsFast =
    "[health]\ninterval = \"100ms\"\nhealthy_for = \"200ms\"\ndeadline = \"1s\"\n"
    "[[health.check]]\nexec = [\"test\", \"-f\", \"HEALTHY\"]\n";

std::size_t entriesStartingWith(const fs::path& dir, const std::string& prefix) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().filename().string().rfind(prefix, 0) == 0) ++n;
  return n;
}

// The agent's journal as it is on disk (null when unreadable).
json agentJournal(Fleet& f, const std::string& id) {
  std::ifstream in(f.agentDir(id) / "state/journal.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

// The agent's note of the phase in hand (agent/include/flotilla/agent/phase_note.h).
std::string agentPhaseNote(Fleet& f, const std::string& id) {
  std::ifstream in(f.agentDir(id) / "state/phase");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The host as the armed agent left it when it killed itself.
struct AtCrash {
  std::string live;
  std::string restarted;
  std::size_t staging = 0;
  std::size_t downloads = 0;
};

struct CrashRun {
  std::string id;  // the rollout of release 2
  AtCrash at_crash;
  json status;  // the finished rollout, after the agent came back unarmed
};

// Deploys release 1, restarts agent h0 armed with FLOTILLA_TEST_CRASH_AT=`point`
// and rolls out release 2: the agent SIGKILLs itself at that point. Starts it
// again unarmed and returns how the rollout finished.
CrashRun crashAt(Fleet& f, const std::string& point, bool healthy, const std::string& deploy_toml = kRestartOnly,
                 const std::string& health_toml = kHealthy) {
  // A short expiry: the test waits for the coordinator to lose the unarmed
  // agent, so the order surely goes to the armed one.
  f.startCoordinator({"agents.heartbeat_interval = \"500ms\"", "agents.heartbeat_expiry = \"2s\""});
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  f.baseline("1");
  f.stopAgent("h0");
  REQUIRE(waitUntil([&] { return f.agentState("h0") == "lost"; }, 10s));
  // From here on the file names only restarts the rollout or the recovery caused.
  fs::remove(f.appsDir("h0") / "web/restarted");
  f.startAgentWithEnv({"h0"}, {{"FLOTILLA_TEST_CRASH_AT", point}});
  REQUIRE(f.waitOnline(1));

  CrashRun run;
  run.id = f.submit(planOf2(f, healthy, deploy_toml, health_toml));
  const int st = f.waitAgentExit("h0", 60s);
  INFO("agent wait status " << st << " at " << point);
  REQUIRE(st != -1);
  REQUIRE(WIFSIGNALED(st));
  REQUIRE(WTERMSIG(st) == SIGKILL);
  run.at_crash.live = f.liveRelease("h0", "web");
  run.at_crash.restarted = f.lastRestart("h0");
  run.at_crash.staging = entriesStartingWith(f.appsDir("h0") / "web/releases", ".staging-");
  run.at_crash.downloads = entriesStartingWith(f.agentDir("h0") / "state/downloads", "");

  f.startAgent({"h0"});
  run.status = f.waitFinished(run.id, 60s);
  return run;
}

// After the restart: `live` is the live release, `restarted` the last release
// (re)started, nothing half-done is left on disk, the coordinator's events say
// what happened and its view of the host matches the disk.
void checkRecovered(Fleet& f, const CrashRun& run, const std::string& live, const std::string& restarted,
                    const std::string& event, const std::string& text) {
  INFO(run.status.dump(2));
  CHECK(run.status["state"] == (event == "host_healthy" ? "succeeded" : "failed"));
  CHECK(f.liveRelease("h0", "web") == live);
  CHECK(f.lastRestart("h0") == restarted);
  CHECK(entriesStartingWith(f.appsDir("h0") / "web/releases", ".staging-") == 0);
  CHECK(entriesStartingWith(f.agentDir("h0") / "state/downloads", "") == 0);
  CHECK(eventWithText(f, run.id, event, text));
  CHECK(waitUntil([&] { return f.reportedRelease("h0", "web") == live; }, 10s));
  json journal = agentJournal(f, "h0");
  CHECK_FALSE(journal.contains("order"));
  CHECK(journal["apps"]["web"]["current"] == live);
}

}  // namespace

TEST_CASE("an agent killed as fetching begins comes back on the old release", "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "fetching", true);
  CHECK(run.at_crash.live == "1");
  // Release 1 was never stopped, so nothing restarted it.
  checkRecovered(f, run, "1", "", "host_failed", "agent restarted during fetching; nothing was switched");
}

TEST_CASE("an agent killed before extracting comes back on the old release without the download",
          "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "staging", true);
  CHECK(run.at_crash.downloads == 1);  // the verified artifact was there
  checkRecovered(f, run, "1", "", "host_failed", "agent restarted during staging; nothing was switched");
}

TEST_CASE("an agent killed with a release half staged removes it and comes back on the old release",
          "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "staging:extracted", true);
  CHECK(run.at_crash.staging == 1);
  CHECK(run.at_crash.live == "1");
  checkRecovered(f, run, "1", "", "host_failed", "agent restarted during staging; nothing was switched");
}

TEST_CASE("an agent killed as before_switch begins comes back on the old release", "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run =
      crashAt(f, "before_switch", true, "[deploy]\nbefore_switch = [[\"true\"]]\nrestart = [\"./bin/restart\"]\n");
  checkRecovered(f, run, "1", "", "host_failed", "agent restarted during before_switch; nothing was switched");
}

TEST_CASE("an agent killed as the switch begins, before making it, stays on the old release",
          "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "switching", true);
  CHECK(run.at_crash.live == "1");
  checkRecovered(f, run, "1", "", "host_failed", "agent restarted during switching; nothing was switched");
}

TEST_CASE("an agent killed right after switching current switches back and restarts the old release",
          "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "switching:after", true);
  CHECK(run.at_crash.live == "2");
  CHECK(run.at_crash.restarted.empty());
  checkRecovered(f, run, "1", "1", "host_failed", "reverted: agent restarted during switching; 1 is live again");
}

TEST_CASE("an agent killed before restarting the new release reverts to the old one", "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "restarting", true);
  CHECK(run.at_crash.live == "2");
  CHECK(run.at_crash.restarted.empty());
  checkRecovered(f, run, "1", "1", "host_failed", "reverted: agent restarted during restarting; 1 is live again");
}

TEST_CASE("an agent killed as probation begins reverts to the old release", "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "probation", true);
  CHECK(run.at_crash.live == "2");
  CHECK(run.at_crash.restarted == "2");
  checkRecovered(f, run, "1", "1", "host_failed", "reverted: agent restarted during probation; 1 is live again");
}

TEST_CASE("an agent killed as it starts reverting finishes the revert", "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "reverting", false, kRestartOnly, kFailsFast);
  CHECK(run.at_crash.live == "2");
  CHECK(run.at_crash.restarted == "2");
  checkRecovered(f, run, "1", "1", "host_failed", "reverted: agent restarted during reverting; 1 is live again");
}

TEST_CASE("an agent killed after switching back but before the restart restarts the old release",
          "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "reverting:after", false, kRestartOnly, kFailsFast);
  CHECK(run.at_crash.live == "1");
  CHECK(run.at_crash.restarted == "2");  // the old release's process is not the one running
  checkRecovered(f, run, "1", "1", "host_failed", "reverted: agent restarted during reverting; 1 is live again");
}

TEST_CASE("an agent killed after finishing healthy but before reporting it tells the coordinator on restart",
          "[integration][fault][kill]") {
  if (!crashPointsBuilt()) return;
  Fleet f;
  auto run = crashAt(f, "healthy", true);
  CHECK(run.at_crash.live == "2");
  checkRecovered(f, run, "2", "2", "host_healthy", "healthy for");
}

// ---------------------------------------------------------------- autonomy with the coordinator down

namespace {

// Submits release 2 with `health_toml`, waits for probation and kills the
// coordinator there (for good). Returns the rollout id.
std::string killCoordinatorInProbation(Fleet& f, bool healthy, const std::string& health_toml) {
  f.startCoordinator();
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  f.baseline("1");
  fs::remove(f.appsDir("h0") / "web/restarted");
  auto id = f.submit(planOf2(f, healthy, kRestartOnly, health_toml));
  REQUIRE(waitUntil([&] { return f.hostPhase(id, "h0") == "probation"; }, 20s));
  f.stopCoordinator(SIGKILL);
  // Probation was still going when the coordinator died.
  REQUIRE(f.liveRelease("h0", "web") == "2");
  // The order is in hand: in the journal since it was accepted (the last
  // save), with probation in the agent's note of the phase it is in.
  const json journal = agentJournal(f, "h0");
  REQUIRE(journal.contains("order"));
  REQUIRE(journal["order"]["phase"] == "accepted");
  REQUIRE(agentPhaseNote(f, "h0") == journal["order"]["id"].get<std::string>() + "\nprobation\n");
  return id;
}

// A coordinator started again learns from the agent which release is live and healthy.
void checkCoordinatorLearns(Fleet& f, const std::string& live) {
  f.startCoordinator();
  REQUIRE(f.waitOnline(1, 30s));
  CHECK(waitUntil([&] { return f.reportedRelease("h0", "web") == live; }, 10s));
  CHECK(waitUntil([&] { return f.reportedHealth("h0", "web") == "healthy"; }, 10s));
}

bool lastOrderIs(Fleet& f, const std::string& version, const std::string& phase) {
  json j = agentJournal(f, "h0");
  if (!j.is_object()) return false;
  const json last = j["apps"]["web"].value("last_order", json::object());
  return last.value("version", "") == version && last.value("phase", "") == phase;
}

}  // namespace

TEST_CASE("with the coordinator down, an agent whose checks fail reverts by itself and says so later",
          "[integration][fault][autonomy]") {
  Fleet f;
  killCoordinatorInProbation(f, false,
                             "[health]\ninterval = \"100ms\"\nhealthy_for = \"200ms\"\ndeadline = \"4s\"\n"
                             "[[health.check]]\nexec = [\"test\", \"-f\", \"HEALTHY\"]\n");
  REQUIRE(waitUntil([&] { return lastOrderIs(f, "2", "reverted"); }, 30s));
  CHECK(f.liveRelease("h0", "web") == "1");
  CHECK(f.lastRestart("h0") == "1");
  checkCoordinatorLearns(f, "1");
}

TEST_CASE("with the coordinator down, an agent whose checks pass keeps the new release and reports it later",
          "[integration][fault][autonomy]") {
  Fleet f;
  killCoordinatorInProbation(f, true,
                             "[health]\ninterval = \"100ms\"\nhealthy_for = \"3s\"\ndeadline = \"30s\"\n"
                             "[[health.check]]\nexec = [\"test\", \"-f\", \"HEALTHY\"]\n");
  REQUIRE(waitUntil([&] { return lastOrderIs(f, "2", "healthy"); }, 30s));
  CHECK(f.liveRelease("h0", "web") == "2");
  CHECK(f.lastRestart("h0") == "2");
  checkCoordinatorLearns(f, "2");
  // The result reached while the coordinator was away is sent to the new one
  // (which resumes the rollout with it, or ignores it when it closed the
  // rollout at start): the agent's log is the only witness of that today.
  CHECK(waitUntil(
      [&] {
        std::ifstream in(f.dir() / "agent-h0.log");
        for (std::string line; std::getline(in, line);)
          if (line.find("re-sent the healthy report of order") != std::string::npos &&
              line.find("(web 2)") != std::string::npos)
            return true;
        return false;
      },
      10s));
}
