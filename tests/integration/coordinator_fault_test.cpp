// The coordinator's side of faults, with real processes: a coordinator killed
// (SIGKILL) mid-rollout resumes it; rollback orders reach hosts that were down;
// hosts that missed a rollout converge to the app's current release.
#include <signal.h>

#include <catch2/catch.hpp>

#include <fstream>

#include "support/cluster.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::vector<std::string> kFastLiveness{"agents.heartbeat_interval = \"500ms\"",
                                             "agents.heartbeat_expiry = \"2s\"", "orders.retry = \"1s\""};

std::string hostInWave(Fleet& f, const std::string& id, int wave) {
  auto s = f.console({"status", id, "--hosts"});
  for (const auto& h : s.json.value("hosts", json::array()))
    if (h.value("wave", -1) == wave) return h["id"];
  return "";
}

}  // namespace

TEST_CASE("a coordinator killed while a wave awaits approval resumes the same rollout",
          "[integration][fault][resume]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));
  auto plan = f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [1, \"100%\"]\napproval = \"manual\"");
  auto id = f.submit(plan);
  REQUIRE(waitUntil([&] { return f.status(id)["waves"][1]["state"] == "awaiting_approval"; }, 20s));
  f.stopCoordinator(SIGKILL);
  f.startCoordinator();
  REQUIRE(f.waitOnline(2, 30s));
  // The same rollout, where it was: the console sees it continue.
  auto st = f.status(id);
  INFO(st.dump(2));
  CHECK(st["state"] == "running");
  CHECK(st["waves"][0]["state"] == "succeeded");
  CHECK(st["waves"][0]["healthy"] == 1);
  CHECK(st["waves"][1]["state"] == "awaiting_approval");
  CHECK(f.countEvents(id, "rollout_resumed") == 1);
  CHECK(f.countEvents(id, "awaiting_approval") == 1);  // recorded before the crash, still there
  auto promote = f.console({"promote", id});
  INFO(promote.out << promote.err);
  REQUIRE(promote.exit_code == 0);
  auto done = f.waitFinished(id, 60s);
  CHECK(done["state"] == "succeeded");
  // No host was deployed twice: one order each, one restart each.
  CHECK(f.countEvents(id, "order_sent") == 2);
  for (const char* h : {"h0", "h1"}) {
    CHECK(f.liveRelease(h, "web") == "1");
    CHECK(f.restarts(h) == std::vector<std::string>{"1"});
  }
}

TEST_CASE("a coordinator killed while hosts are in probation resumes and counts what they did meanwhile",
          "[integration][fault][resume]") {
  Fleet f;
  f.startCoordinator(kFastLiveness);
  for (const char* h : {"h0", "h1", "h2"}) f.startAgent({h});
  REQUIRE(f.waitOnline(3));
  auto plan = f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]\ndeadline = \"60s\"",
                          "[health]\ninterval = \"100ms\"\nhealthy_for = \"3s\"\ndeadline = \"30s\"\n"
                          "[[health.check]]\nexec = [\"test\", \"-f\", \"HEALTHY\"]\n");
  auto id = f.submit(plan);
  REQUIRE(waitUntil(
      [&] {
        auto s = f.console({"status", id, "--hosts"});
        std::size_t in_probation = 0;
        for (const auto& h : s.json.value("hosts", json::array()))
          if (h.value("phase", "") == "probation") ++in_probation;
        return in_probation == 3;
      },
      30s));
  f.stopCoordinator(SIGKILL);
  // Probation ends while nobody listens: each agent decides alone and keeps its result.
  auto finishedAlone = [&](const std::string& h) {
    std::ifstream log(f.dir() / ("agent-" + h + ".log"));
    for (std::string line; std::getline(log, line);)
      if (line.find("web 1 healthy: healthy for") != std::string::npos) return true;
    return false;
  };
  REQUIRE(waitUntil([&] { return finishedAlone("h0") && finishedAlone("h1") && finishedAlone("h2"); }, 15s));
  f.startCoordinator(kFastLiveness);
  auto done = f.waitFinished(id, 60s);
  INFO(done.dump(2));
  CHECK(done["state"] == "succeeded");
  CHECK(done["waves"][0]["healthy"] == 3);
  CHECK(f.countEvents(id, "order_sent") == 3);
  CHECK(f.countEvents(id, "host_healthy") == 3);
  for (const char* h : {"h0", "h1", "h2"}) CHECK(f.restarts(h) == std::vector<std::string>{"1"});
}

TEST_CASE("a rollback order reaches a host that was down when the rollback started", "[integration][fault][rollback]") {
  Fleet f;
  f.startCoordinator(kFastLiveness);
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));
  auto base = f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]");
  REQUIRE(f.waitFinished(f.submit(base))["state"] == "succeeded");
  auto plan = f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [1, \"100%\"]\napproval = \"manual\"");
  auto id = f.submit(plan);
  REQUIRE(waitUntil([&] { return f.status(id)["waves"][1]["state"] == "awaiting_approval"; }, 20s));
  const std::string canary = hostInWave(f, id, 0);
  REQUIRE(!canary.empty());
  REQUIRE(f.liveRelease(canary, "web") == "2");
  f.stopAgent(canary, SIGKILL);
  REQUIRE(waitUntil([&] { return f.agentState(canary) == "lost"; }, 10s));
  auto rb = f.console({"rollback", "web"});
  INFO(rb.out << rb.err);
  REQUIRE(rb.exit_code == 0);
  // It stays owed a rollback (not written off) while it is down...
  CHECK(f.status(id)["state"] == "rolling_back");
  bool owed = false;
  for (const auto& e : f.events(id))
    if (e["kind"] == "rollback_sent" && e.value("agent", "") == canary)
      owed = e["message"].get<std::string>().find("host offline, sent when it returns") != std::string::npos;
  CHECK(owed);
  // ...and gets it when it returns.
  f.startAgent({canary});
  auto done = f.waitFinished(id, 60s);
  INFO(done.dump(2));
  CHECK(done["state"] == "rolled_back");
  CHECK(f.liveRelease(canary, "web") == "1");
  CHECK(f.restarts(canary).back() == "1");
  CHECK(f.countEvents(id, "host_rolled_back", canary) == 1);
}

TEST_CASE("a host that joins after a rollout converges to the app's current release",
          "[integration][fault][converge]") {
  Fleet f;
  f.startCoordinator(kFastLiveness);
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  auto id = f.submit(f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]"));
  REQUIRE(f.waitFinished(id)["state"] == "succeeded");
  f.startAgent({"h1"});
  REQUIRE(waitUntil([&] { return f.liveRelease("h1", "web") == "1"; }, 30s));
  REQUIRE(waitUntil([&] { return f.countEvents(id, "host_converged", "h1") == 1; }, 10s));
  CHECK(f.countEvents(id, "host_converging", "h1") == 1);
  CHECK(f.restarts("h1") == std::vector<std::string>{"1"});
  // A host of another role does not get it.
  // The decision is taken when its hello is handled, before it shows online.
  f.startAgent({"db0", {{"role", "db"}}});
  REQUIRE(f.waitOnline(3));
  CHECK(f.countEvents(id, "host_converging", "db0") == 0);
  CHECK(f.liveRelease("db0", "web").empty());
}

TEST_CASE("a host frozen through a rollout converges when it comes back", "[integration][fault][converge]") {
  Fleet f;
  f.startCoordinator(kFastLiveness);
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));
  f.signalAgent("h1", SIGSTOP);
  REQUIRE(waitUntil([&] { return f.agentState("h1") == "lost"; }, 10s));
  auto id = f.submit(f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]\nmax_unreachable = 1"));
  auto st = f.waitFinished(id);
  REQUIRE(st["state"] == "succeeded");
  CHECK(st["waves"][0]["unreachable"] == 1);
  CHECK(f.liveRelease("h1", "web").empty());
  f.signalAgent("h1", SIGCONT);
  REQUIRE(waitUntil([&] { return f.liveRelease("h1", "web") == "1"; }, 30s));
  REQUIRE(waitUntil([&] { return f.countEvents(id, "host_converged", "h1") == 1; }, 10s));
}

TEST_CASE("a host that failed on the current release is not retried by convergence", "[integration][fault][converge]") {
  Fleet f;
  f.startCoordinator(kFastLiveness);
  f.startAgent({"h0", {{"role", "web"}}, {{"HOST", "h0"}}});
  f.startAgent({"h1", {{"role", "web"}}, {{"HOST", "h1"}}});
  REQUIRE(f.waitOnline(2));
  // h1 cannot run release 1 (its check needs a file only h0 has), so it reverts; max_failed lets the rollout succeed.
  std::filesystem::create_directories(f.dir() / "ok-h0");
  auto plan = f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]\nmax_failed = 1",
                          "[health]\ninterval = \"100ms\"\nhealthy_for = \"200ms\"\ndeadline = \"2s\"\n"
                          "[[health.check]]\nexec = [\"test\", \"-d\", \"" +
                              (f.dir() / "ok-${HOST}").string() + "\"]\n");
  auto id = f.submit(plan);
  auto st = f.waitFinished(id);
  INFO(st.dump(2));
  REQUIRE(st["state"] == "succeeded");
  REQUIRE(st["waves"][0]["failed"] == 1);
  // Lost first, so that online again means its new hello was handled (and
  // with it the convergence decision).
  f.stopAgent("h1");
  REQUIRE(waitUntil([&] { return f.agentState("h1") == "lost"; }, 10s));
  f.startAgent({"h1", {{"role", "web"}}, {{"HOST", "h1"}}});
  REQUIRE(f.waitOnline(2));
  CHECK(f.countEvents(id, "host_converging", "h1") == 0);
}
