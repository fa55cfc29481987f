// Failovers end to end, as users and hosts live them (docs/ha.md): two real
// coordinators on one real PostgreSQL, real agents given both coordinators'
// endpoints and a console given both control endpoints. Nobody moves a client
// by hand: the leader SIGKILLed mid-wave is replaced, the agents and a
// watching console find the standby by themselves and the rollout succeeds
// with no host deploying twice, and a paused leader is left as soon as its
// connections go silent for the agents' link_timeout; PostgreSQL stopped while a bad canary is on
// probation: the canary reverts alone, and once the database is back a
// coordinator leads again by itself and ends the rollout.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cluster.h"
#include "support/ha_fleet.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kHosts{"h0", "h1", "h2"};

long long msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

// The id of the newest rollout of web at `version` ("" while there is none).
std::string rolloutOf(Fleet& f, const std::string& version) {
  const auto r = f.console({"history"});
  if (!r.json.is_object()) return "";
  for (const auto& entry : r.json["rollouts"])
    if (entry.value("version", "") == version) return entry.value("id", "");
  return "";
}

// How many agents the coordinator behind `console` lists online.
std::size_t onlineAt(const CommandResult& agents) {
  if (agents.exit_code != 0 || !agents.json.is_object()) return 0;
  const auto& list = agents.json["agents"];
  return static_cast<std::size_t>(
      std::count_if(list.begin(), list.end(), [](const auto& a) { return a.value("state", "") == "online"; }));
}

std::size_t deploysOf(const Fleet& f, const std::string& host, const std::string& version) {
  const auto restarts = f.restarts(host);
  return static_cast<std::size_t>(std::count(restarts.begin(), restarts.end(), version));
}

// Wave 0 of a two-wave rollout is done and baking when `sig` hits the leader;
// the agents (both endpoints listed) must be online at the standby within
// `back_within` of the signal, the watch started before it goes on, and the
// rollout succeeds with no host deploying twice.
void failoverMidWave(int sig, const char* what, std::chrono::seconds back_within) {
  HaFleet h;
  if (!h.available()) return;
  h.clientsKnowBoth();
  h.leadWithAgents(kHosts);
  const auto plan = h.f.writePlan("web", "2", h.f.makeRelease("2", true), "sizes = [1, \"100%\"]\nbake = \"4s\"");
  const auto watch_log = h.f.dir() / "watch.log";
  Process watch({(binDir() / "coordinator/flotilla").string(), "--control", h.controls(), "--json", "rollout",
                 plan.string(), "--watch"},
                watch_log);
  std::string id;
  REQUIRE(waitUntil([&] { return !(id = rolloutOf(h.f, "2")).empty(); }, 30s, 100ms));
  REQUIRE(waitUntil(
      [&] {
        const auto st = h.f.status(id);
        return st.is_object() && st["waves"][0].value("state", "") == "baking";
      },
      60s, 100ms));
  const auto hit = std::chrono::steady_clock::now();
  h.a.signal(sig);
  REQUIRE(waitUntil([&] { return h.leads(h.http_b, 2); }, HaFleet::kTtl + 5s, 20ms));
  const auto led_ms = msSince(hit);
  WARN("the standby led " << led_ms << " ms after the leader was " << what << " (lease TTL 2000 ms)");

  // The agents come to the new leader by themselves, within seconds.
  REQUIRE(watch.running());
  const bool back = waitUntil([&] { return onlineAt(h.consoleB({"agents"})) == kHosts.size(); }, back_within, 100ms);
  WARN("agents online at the new leader: " << onlineAt(h.consoleB({"agents"})) << " of " << kHosts.size() << ", "
                                           << msSince(hit) << " ms after the leader was " << what);
  REQUIRE(back);

  // The watch started before the signal goes on and ends with the rollout.
  REQUIRE(waitUntil([&] { return !watch.running(); }, 120s, 200ms));
  const int status = watch.stop();
  INFO(readFile(watch_log));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(h.consoleB({"status", id}).json.value("state", "") == "succeeded");
  for (const auto& host : kHosts) {
    INFO(host);
    CHECK(h.f.liveRelease(host, "web") == "2");
    CHECK(deploysOf(h.f, host, "2") == 1);
    // The hosts met the new leader: they now refuse anything from epoch 1.
    CHECK(readFile(h.f.agentDir(host) / "state/epoch") == "2\n");
  }
}

}  // namespace

TEST_CASE("ha: the leader killed mid-wave: agents and a watching console find the standby, and the rollout succeeds",
          "[integration][ha][postgres][failover]") {
  // A killed leader's connections are reset: the agents leave at once, plus the
  // failover's 2-4 s wait for a session; the lease takes up to its TTL.
  failoverMidWave(SIGKILL, "killed", HaFleet::kTtl + 20s);
}

// A paused leader (or its host frozen, or the network cut) resets nothing: the
// agents notice only that the connection went silent, within agent.toml's
// link_timeout (10 s by default with several endpoints; with the 40 s of one
// endpoint they would still be at the paused leader after 25 s).
TEST_CASE(
    "ha: the leader paused mid-wave: agents leave the silent leader within their link timeout, and the rollout "
    "succeeds",
    "[integration][ha][postgres][failover]") {
  failoverMidWave(SIGSTOP, "paused", 25s);
}

TEST_CASE("ha: PostgreSQL stopped while a bad canary is on probation: it reverts alone, the rollout ends by itself",
          "[integration][ha][postgres][failover]") {
  HaFleet h;
  if (!h.available()) return;
  h.clientsKnowBoth();
  h.leadWithAgents(kHosts);
  // A release whose checks fail, on probation for 10 s before its host reverts.
  const std::string health =
      "[health]\ninterval = \"100ms\"\nhealthy_for = \"300ms\"\ndeadline = \"10s\"\n\n"
      "[[health.check]]\nexec = [\"test\", \"-f\", \"HEALTHY\"]\n";
  const std::string id =
      h.f.submit(h.f.writePlan("web", "2", h.f.makeRelease("2", false), "sizes = [1, \"100%\"]", health));
  std::string canary;
  REQUIRE(waitUntil(
      [&] {
        for (const auto& host : kHosts)
          if (h.f.hostPhase(id, host) == "probation") canary = host;
        return !canary.empty();
      },
      60s, 50ms));
  h.pg->stop();
  const auto stopped = std::chrono::steady_clock::now();
  REQUIRE(h.f.liveRelease(canary, "web") == "2");  // still on probation when the store went away

  // Nobody orders: the leader gives up; the canary reverts by itself.
  const bool gave_up =
      waitUntil([&] { return h.logA().find("leadership lost at epoch 1") != std::string::npos; }, 10s, 20ms);
  const bool reverted = waitUntil([&] { return h.f.liveRelease(canary, "web") == "1"; }, 30s, 50ms);
  const auto reverted_ms = msSince(stopped);
  CHECK_FALSE(h.pg->running());
  h.pg->start();
  REQUIRE(gave_up);
  REQUIRE(reverted);
  WARN("the canary reverted alone " << reverted_ms << " ms after PostgreSQL stopped (health deadline 10 s)");

  // Once the database is back one coordinator leads again, and the rollout
  // ends without anyone touching it.
  const auto restarted = std::chrono::steady_clock::now();
  REQUIRE(waitUntil([&] { return h.lease("epoch") == "2"; }, 30s, 100ms));
  REQUIRE(waitUntil([&] { return h.leads(h.http_a, 2) || h.leads(h.http_b, 2); }, 30s));
  WARN("a coordinator led again " << msSince(restarted) << " ms after PostgreSQL was back");
  CHECK(h.leads(h.http_a, 2) != h.leads(h.http_b, 2));
  nlohmann::json st;
  const bool ended = waitUntil(
      [&] {
        st = h.f.status(id);
        const auto state = st.is_object() ? st.value("state", "") : "";
        return state == "failed" || state == "rolled_back";
      },
      90s, 200ms);
  INFO(st.dump());
  REQUIRE(ended);
  WARN("the rollout ended " << st.value("state", "") << " " << msSince(restarted) << " ms after PostgreSQL was back");
  for (const auto& host : kHosts) {
    INFO(host);
    CHECK(h.f.liveRelease(host, "web") == "1");
    CHECK(deploysOf(h.f, host, "2") == (host == canary ? 1u : 0u));
  }
}
