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

std::string submit(Fleet& f, const std::filesystem::path& plan) {
  auto r = f.console({"rollout", plan.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return r.json["id"].get<std::string>();
}

json events(Fleet& f, const std::string& id) { return f.console({"events", id}).json.value("events", json::array()); }

std::size_t countEvents(Fleet& f, const std::string& id, const std::string& kind, const std::string& agent = "") {
  std::size_t n = 0;
  for (const auto& e : events(f, id))
    if (e["kind"] == kind && (agent.empty() || e.value("agent", "") == agent)) ++n;
  return n;
}

// Every restart of the app on host `id`, oldest first (the test releases' bin/restart appends one line each).
std::vector<std::string> restarts(Fleet& f, const std::string& id) {
  std::ifstream in(f.appsDir(id) / "web/restarted");
  std::vector<std::string> out;
  for (std::string v; in >> v;) out.push_back(v);
  return out;
}

std::string hostInWave(Fleet& f, const std::string& id, int wave) {
  auto s = f.console({"status", id, "--hosts"});
  for (const auto& h : s.json.value("hosts", json::array()))
    if (h.value("wave", -1) == wave) return h["id"];
  return "";
}

std::string agentState(Fleet& f, const std::string& id) {
  for (const auto& a : f.console({"agents"}).json.value("agents", json::array()))
    if (a["id"] == id) return a.value("state", "");
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
  auto id = submit(f, plan);
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
  CHECK(countEvents(f, id, "rollout_resumed") == 1);
  CHECK(countEvents(f, id, "awaiting_approval") == 1);  // recorded before the crash, still there
  auto promote = f.console({"promote", id});
  INFO(promote.out << promote.err);
  REQUIRE(promote.exit_code == 0);
  auto done = f.waitFinished(id, 60s);
  CHECK(done["state"] == "succeeded");
  // No host was deployed twice: one order each, one restart each.
  CHECK(countEvents(f, id, "order_sent") == 2);
  for (const char* h : {"h0", "h1"}) {
    CHECK(f.liveRelease(h, "web") == "1");
    CHECK(restarts(f, h) == std::vector<std::string>{"1"});
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
  auto id = submit(f, plan);
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
  CHECK(countEvents(f, id, "order_sent") == 3);
  CHECK(countEvents(f, id, "host_healthy") == 3);
  for (const char* h : {"h0", "h1", "h2"}) CHECK(restarts(f, h) == std::vector<std::string>{"1"});
}

TEST_CASE("a rollback order reaches a host that was down when the rollback started", "[integration][fault][rollback]") {
  Fleet f;
  f.startCoordinator(kFastLiveness);
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));
  auto base = f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]");
  REQUIRE(f.waitFinished(submit(f, base))["state"] == "succeeded");
  auto plan = f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [1, \"100%\"]\napproval = \"manual\"");
  auto id = submit(f, plan);
  REQUIRE(waitUntil([&] { return f.status(id)["waves"][1]["state"] == "awaiting_approval"; }, 20s));
  const std::string canary = hostInWave(f, id, 0);
  REQUIRE(!canary.empty());
  REQUIRE(f.liveRelease(canary, "web") == "2");
  f.stopAgent(canary, SIGKILL);
  REQUIRE(waitUntil([&] { return agentState(f, canary) == "lost"; }, 10s));
  auto rb = f.console({"rollback", "web"});
  INFO(rb.out << rb.err);
  REQUIRE(rb.exit_code == 0);
  // It stays owed a rollback (not written off) while it is down...
  CHECK(f.status(id)["state"] == "rolling_back");
  bool owed = false;
  for (const auto& e : events(f, id))
    if (e["kind"] == "rollback_sent" && e.value("agent", "") == canary)
      owed = e["message"].get<std::string>().find("host offline, sent when it returns") != std::string::npos;
  CHECK(owed);
  // ...and gets it when it returns.
  f.startAgent({canary});
  auto done = f.waitFinished(id, 60s);
  INFO(done.dump(2));
  CHECK(done["state"] == "rolled_back");
  CHECK(f.liveRelease(canary, "web") == "1");
  CHECK(restarts(f, canary).back() == "1");
  CHECK(countEvents(f, id, "host_rolled_back", canary) == 1);
}

TEST_CASE("a host that joins after a rollout converges to the app's current release",
          "[integration][fault][converge]") {
  Fleet f;
  f.startCoordinator(kFastLiveness);
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  auto id = submit(f, f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]"));
  REQUIRE(f.waitFinished(id)["state"] == "succeeded");
  f.startAgent({"h1"});
  REQUIRE(waitUntil([&] { return f.liveRelease("h1", "web") == "1"; }, 30s));
  REQUIRE(waitUntil([&] { return countEvents(f, id, "host_converged", "h1") == 1; }, 10s));
  CHECK(countEvents(f, id, "host_converging", "h1") == 1);
  CHECK(restarts(f, "h1") == std::vector<std::string>{"1"});
  // A host of another role does not get it.
  // The decision is taken when its hello is handled, before it shows online.
  f.startAgent({"db0", {{"role", "db"}}});
  REQUIRE(f.waitOnline(3));
  CHECK(countEvents(f, id, "host_converging", "db0") == 0);
  CHECK(f.liveRelease("db0", "web").empty());
}

TEST_CASE("a host frozen through a rollout converges when it comes back", "[integration][fault][converge]") {
  Fleet f;
  f.startCoordinator(kFastLiveness);
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));
  f.signalAgent("h1", SIGSTOP);
  REQUIRE(waitUntil([&] { return agentState(f, "h1") == "lost"; }, 10s));
  auto id = submit(f, f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]\nmax_unreachable = 1"));
  auto st = f.waitFinished(id);
  REQUIRE(st["state"] == "succeeded");
  CHECK(st["waves"][0]["unreachable"] == 1);
  CHECK(f.liveRelease("h1", "web").empty());
  f.signalAgent("h1", SIGCONT);
  REQUIRE(waitUntil([&] { return f.liveRelease("h1", "web") == "1"; }, 30s));
  REQUIRE(waitUntil([&] { return countEvents(f, id, "host_converged", "h1") == 1; }, 10s));
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
  auto id = submit(f, plan);
  auto st = f.waitFinished(id);
  INFO(st.dump(2));
  REQUIRE(st["state"] == "succeeded");
  REQUIRE(st["waves"][0]["failed"] == 1);
  // Lost first, so that online again means its new hello was handled (and
  // with it the convergence decision).
  f.stopAgent("h1");
  REQUIRE(waitUntil([&] { return agentState(f, "h1") == "lost"; }, 10s));
  f.startAgent({"h1", {{"role", "web"}}, {{"HOST", "h1"}}});
  REQUIRE(f.waitOnline(2));
  CHECK(countEvents(f, id, "host_converging", "h1") == 0);
}
