// Faults with real processes: agents killed (SIGKILL) in the middle of a
// phase, frozen (SIGSTOP), and a coordinator killed mid-rollout.
#include <signal.h>

#include <catch2/catch.hpp>

#include <fstream>

#include "support/cluster.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string submit(Fleet& f, const std::filesystem::path& plan) {
  auto r = f.console({"rollout", plan.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return r.json["id"].get<std::string>();
}

void baseline(Fleet& f, const std::string& version) {
  auto plan = f.writePlan("web", version, f.makeRelease(version, true), "sizes = [\"100%\"]");
  REQUIRE(f.waitFinished(submit(f, plan))["state"] == "succeeded");
}

// The phase a host of the rollout last reported, from the status's host list.
std::string hostPhase(Fleet& f, const std::string& id, const std::string& host) {
  auto s = f.console({"status", id, "--hosts"});
  for (const auto& h : s.json.value("hosts", json::array()))
    if (h["id"] == host) return h.value("phase", "");
  return "";
}

bool eventWithText(Fleet& f, const std::string& id, const std::string& kind, const std::string& text) {
  auto r = f.console({"events", id});
  for (const auto& e : r.json.value("events", json::array()))
    if (e["kind"] == kind && e["message"].get<std::string>().find(text) != std::string::npos) return true;
  return false;
}

// Holds a host in `phase` (a hook or check that takes its time, bounded so
// nothing outlives the test for long), kills the agent with SIGKILL there, starts it again and returns
// the finished rollout's status.
json killDuring(Fleet& f, const std::string& phase, const std::string& deploy_toml, const std::string& health_toml) {
  f.startCoordinator();
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  baseline(f, "1");
  auto release = f.makeRelease("2", true);
  auto plan = f.dir() / "hold.toml";
  {
    std::ofstream out(plan);
    out << "app = \"web\"\nversion = \"2\"\n[artifact]\nfile = \"" << release.string() << "\"\n"
        << "[waves]\nsizes = [\"100%\"]\ndeadline = \"60s\"\non_failure = \"halt\"\n" << deploy_toml << health_toml;
  }
  auto id = submit(f, plan);
  REQUIRE(waitUntil([&] { return hostPhase(f, id, "h0") == phase; }, 20s));
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
  CHECK(f.waitFinished(submit(f, next))["state"] == "succeeded");
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
  std::ifstream in(f.appsDir("h0") / "web/restarted");
  std::string last, line;
  while (in >> line) last = line;
  CHECK(last == "1");  // release 1 was restarted by the revert
  CHECK(eventWithText(f, st["id"], "host_failed", "agent restarted during probation"));
}

TEST_CASE("a frozen agent is marked lost and counts as unreachable, and the wave never hangs", "[integration][fault]") {
  Fleet f;
  f.startCoordinator({"agents.heartbeat_interval = \"500ms\"", "agents.heartbeat_expiry = \"2s\""});
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));
  f.signalAgent("h1", SIGSTOP);
  REQUIRE(waitUntil(
      [&] {
        auto a = f.console({"agents"});
        for (const auto& x : a.json.value("agents", json::array()))
          if (x["id"] == "h1") return x["state"] == "lost";
        return false;
      },
      10s));
  auto plan = f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]\nmax_unreachable = 1\ndeadline = \"20s\"");
  auto st = f.waitFinished(submit(f, plan), 40s);
  INFO(st.dump(2));
  CHECK(st["state"] == "succeeded");
  CHECK(st["waves"][0]["unreachable"] == 1);
  CHECK(st["waves"][0]["healthy"] == 1);
  f.signalAgent("h1", SIGCONT);
  // It comes back online on its own.
  CHECK(f.waitOnline(2, 20s));
}
