// End-to-end rollouts with real coordinator and agent processes on loopback.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "support/cluster.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Starts a coordinator and `n` agents h0..h{n-1}, all labelled role=web.
void startFleet(Fleet& f, int n) {
  f.startCoordinator();
  for (int i = 0; i < n; ++i) f.startAgent({"h" + std::to_string(i)});
  REQUIRE(f.waitOnline(static_cast<std::size_t>(n)));
}

// A health check that fails on hosts where the test created <apps>/web/FAIL.
const char* kFailFileHealth =
    "[health]\ninterval = \"100ms\"\nhealthy_for = \"300ms\"\ndeadline = \"5s\"\n\n"
    "[[health.check]]\nexec = [\"sh\", \"-c\", \"test ! -f ../../FAIL\"]\n";

}  // namespace

TEST_CASE("a release rolls out wave by wave to every host", "[integration][rollout]") {
  Fleet f;
  startFleet(f, 4);
  auto plan = f.writePlan("web", "2", f.makeRelease("2", true),
                          "sizes = [1, \"50%\", \"100%\"]\nmax_parallel = 2\nbake = \"200ms\"");
  auto id = f.submit(plan);
  auto st = f.waitFinished(id);
  INFO(st.dump(2));
  REQUIRE(st["state"] == "succeeded");
  REQUIRE(st["waves"].size() == 3);
  CHECK(st["waves"][0]["hosts"] == 1);
  CHECK(st["waves"][1]["hosts"] == 1);
  CHECK(st["waves"][2]["hosts"] == 2);
  for (const auto& w : st["waves"]) {
    CHECK(w["state"] == "succeeded");
    CHECK(w["healthy"] == w["hosts"]);
  }
  for (int i = 0; i < 4; ++i) CHECK(f.liveRelease("h" + std::to_string(i), "web") == "2");

  auto ev = f.events(id);
  CHECK(f.countEvents(id, "wave_started") == 3);
  CHECK(f.countEvents(id, "host_healthy") == 4);
  // Waves run in order: wave 1 starts only after wave 0 succeeded.
  std::vector<std::string> kinds;
  for (const auto& e : ev)
    if (e["kind"] == "wave_started" || e["kind"] == "wave_succeeded") kinds.push_back(e["kind"]);
  CHECK(kinds == std::vector<std::string>{"wave_started", "wave_succeeded", "wave_started", "wave_succeeded",
                                          "wave_started", "wave_succeeded"});
  // The agents report the new release in the inventory.
  auto agents = f.console({"agents"});
  for (const auto& a : agents.json["agents"]) CHECK(a["releases"]["web"] == "2");
}

TEST_CASE("a failing canary reverts itself and the rollout stops", "[integration][rollout][revert]") {
  Fleet f;
  startFleet(f, 3);
  f.baseline("1");
  auto plan = f.writePlan("web", "2", f.makeRelease("2", false), "sizes = [1, \"100%\"]\non_failure = \"rollback\"");
  auto id = f.submit(plan);
  auto st = f.waitFinished(id);
  INFO(st.dump(2));
  CHECK(st["state"] == "rolled_back");
  CHECK(st["waves"][0]["failed"] == 1);
  CHECK(st["waves"][1]["state"] == "pending");  // never started
  for (int i = 0; i < 3; ++i) CHECK(f.liveRelease("h" + std::to_string(i), "web") == "1");
  auto ev = f.events(id);
  bool reverted = false;
  for (const auto& e : ev)
    if (e["kind"] == "host_failed" && e["message"].get<std::string>().find("reverted") != std::string::npos)
      reverted = true;
  CHECK(reverted);
  // The canary restarted release 1 when it reverted.
  int restarted_on_1 = 0;
  for (int i = 0; i < 3; ++i) {
    std::ifstream in(f.appsDir("h" + std::to_string(i)) / "web/restarted");
    std::string v, last;
    while (in >> v) last = v;
    if (last == "1") ++restarted_on_1;
  }
  CHECK(restarted_on_1 == 3);
}

TEST_CASE("a failure in a later wave rolls back every host the rollout moved", "[integration][rollout][rollback]") {
  Fleet f;
  startFleet(f, 4);
  f.baseline("1");
  // Which host is the canary depends on the rollout id; make every host but the
  // canary fail by marking all, then clearing the canary once it is chosen.
  for (int i = 0; i < 4; ++i) std::ofstream(f.appsDir("h" + std::to_string(i)) / "web/FAIL") << "x";
  auto plan =
      f.writePlan("web", "2", f.makeRelease("2", true),
                  "sizes = [1, \"100%\"]\nmax_parallel = 3\nbake = \"1s\"\non_failure = \"rollback\"", kFailFileHealth);
  // Hold the canary's wave in bake long enough to learn who it is.
  auto id = f.submit(plan);
  std::string canary;
  REQUIRE(waitUntil(
      [&] {
        auto s = f.console({"status", id, "--hosts"});
        for (const auto& h : s.json.value("hosts", json::array()))
          if (h["wave"] == 0 && h["state"] != "pending") canary = h["id"];
        return !canary.empty();
      },
      10s));
  std::filesystem::remove(f.appsDir(canary) / "web/FAIL");
  auto st = f.waitFinished(id);
  INFO(st.dump(2));
  CHECK(st["waves"][0]["healthy"] == 1);
  CHECK(st["waves"][1]["failed"].get<int>() >= 1);
  CHECK(st["state"] == "rolled_back");
  for (int i = 0; i < 4; ++i) CHECK(f.liveRelease("h" + std::to_string(i), "web") == "1");
  CHECK(f.countEvents(id, "rollback_started") == 1);
  CHECK(f.countEvents(id, "host_rolled_back") >= 1);  // at least the healthy canary was sent back
}

TEST_CASE("failures within max_failed do not stop the rollout", "[integration][rollout][budget]") {
  Fleet f;
  startFleet(f, 4);
  f.baseline("1");
  std::ofstream(f.appsDir("h2") / "web/FAIL") << "x";
  auto plan = f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [\"100%\"]\nmax_parallel = 4\nmax_failed = 1",
                          kFailFileHealth);
  auto st = f.waitFinished(f.submit(plan));
  INFO(st.dump(2));
  CHECK(st["state"] == "succeeded");
  CHECK(st["waves"][0]["failed"] == 1);
  CHECK(st["waves"][0]["healthy"] == 3);
  CHECK(f.liveRelease("h2", "web") == "1");  // it reverted itself
  CHECK(f.liveRelease("h0", "web") == "2");
}

TEST_CASE("manual approval waits for promote", "[integration][rollout][approval]") {
  Fleet f;
  startFleet(f, 3);
  auto plan = f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [1, \"100%\"]\napproval = \"manual\"");
  auto id = f.submit(plan);
  REQUIRE(waitUntil([&] { return f.status(id)["waves"][1]["state"] == "awaiting_approval"; }, 20s));
  CHECK(f.status(id)["state"] == "running");
  auto r = f.console({"promote", id});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  auto st = f.waitFinished(id);
  CHECK(st["state"] == "succeeded");
  auto ev = f.events(id);
  bool operator_named = false;
  for (const auto& e : ev)
    if (e["kind"] == "operator_promote" && e["actor"].is_string() && !e["actor"].get<std::string>().empty())
      operator_named = true;
  CHECK(operator_named);
}

TEST_CASE("pause holds the rollout and resume continues it", "[integration][rollout][pause]") {
  Fleet f;
  startFleet(f, 3);
  auto plan = f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [1, \"100%\"]\nbake = \"2s\"");
  auto id = f.submit(plan);
  REQUIRE(f.console({"pause", id}).exit_code == 0);
  CHECK(f.status(id)["state"] == "paused");
  // The canary's order was out before the pause: it finishes and wave 0 bakes.
  REQUIRE(waitUntil([&] { return f.status(id)["waves"][0]["state"] == "baking"; }, 30s));
  // A rollout of another app with the same bake, submitted after that bake
  // began, gets through its own bake and first wave: the coordinator's clock
  // has passed this rollout's bake, and its next wave has not started.
  auto other = f.writePlan("api", "7", f.makeRelease("7", true), "sizes = [1, \"100%\"]\nbake = \"2s\"");
  REQUIRE(f.waitFinished(f.submit(other))["state"] == "succeeded");
  auto st = f.status(id);
  CHECK(st["state"] == "paused");
  CHECK(st["waves"][1]["state"] == "pending");
  REQUIRE(f.console({"resume", id}).exit_code == 0);
  st = f.waitFinished(id);
  CHECK(st["state"] == "succeeded");
  // Resuming a finished rollout is refused with exit 2.
  CHECK(f.console({"resume", id}).exit_code == 2);
}

TEST_CASE("abort stops a rollout where it is", "[integration][rollout][abort]") {
  Fleet f;
  startFleet(f, 3);
  f.baseline("1");
  auto plan = f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [1, \"100%\"]\napproval = \"manual\"");
  auto id = f.submit(plan);
  REQUIRE(waitUntil([&] { return f.status(id)["waves"][1]["state"] == "awaiting_approval"; }, 20s));
  REQUIRE(f.console({"abort", id}).exit_code == 0);
  auto st = f.status(id);
  CHECK(st["state"] == "aborted");
  int on_two = 0;
  for (int i = 0; i < 3; ++i) on_two += f.liveRelease("h" + std::to_string(i), "web") == "2";
  CHECK(on_two == 1);  // only the canary moved
  // A new rollout of the app is allowed once this one is over.
  auto next = f.writePlan("web", "3", f.makeRelease("3", true), "sizes = [\"100%\"]");
  CHECK(f.waitFinished(f.submit(next))["state"] == "succeeded");
}

TEST_CASE("an agent refuses an order signed by a key it does not trust", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  f.stopAgent("h0");
  // Pin a different plan key on the agent.
  auto cfg = f.agentDir("h0") / "agent.toml";
  std::ifstream in(cfg);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto pos = text.find("plan_key = \"");
  REQUIRE(pos != std::string::npos);
  text.replace(pos + 12, 64, std::string(64, 'a'));
  in.close();
  std::ofstream(cfg) << text;
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));

  auto plan = f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [\"100%\"]\non_failure = \"halt\"");
  auto id = f.submit(plan);
  auto st = f.waitFinished(id);
  CHECK(st["state"] == "failed");
  CHECK(f.liveRelease("h0", "web").empty());
  CHECK_FALSE(std::filesystem::exists(f.appsDir("h0") / "web/releases/2"));
  bool refused = false;
  for (const auto& e : f.events(id))
    if (e["kind"] == "host_failed" && e["message"].get<std::string>().find("unknown_key") != std::string::npos)
      refused = true;
  CHECK(refused);
}
