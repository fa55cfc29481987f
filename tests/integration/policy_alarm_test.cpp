// [[policy.alarm]] end to end (docs/policy.md): a real Prometheus scrapes a
// metric the test controls and evaluates an alerting rule on it; while a
// rollout bakes, the test makes the alert fire and the coordinator, polling
// ALERTS every second, rolls the rollout back (on_fire = "rollback") or pauses
// it ("pause"), recording an event that names the alarm. An unreachable source
// pauses a rollout (on_error = "pause") or is ignored ("ignore").
#include <httplib.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "support/cluster.h"
#include "support/prometheus.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;

namespace {

// /metrics: `test_alarm V`, V what the test last set.
class AlarmMetric {
 public:
  AlarmMetric() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content("# TYPE test_alarm gauge\ntest_alarm " + std::to_string(value_.load()) + "\n",
                      "text/plain; version=0.0.4");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~AlarmMetric() {
    server_.stop();
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void set(int v) { value_ = v; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> value_{0};
};

constexpr const char* kPageRule = R"(groups:
  - name: test
    rules:
      - alert: Page
        expr: test_alarm > 0
        labels:
          severity: page
)";

}  // namespace

TEST_CASE("a firing alert rolls one rollout back and pauses another within a poll", "[integration][policy][alarm]") {
  if (auto why = prometheusMissing(); !why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  AlarmMetric metric;
  PrometheusServer::Options options;
  options.rules = {kPageRule};
  PrometheusServer prom({{metric.address(), {}}}, options);

  Fleet f;
  std::ofstream(f.dir() / "coord/coordinator.toml", std::ios::app)
      << "\n[[policy.alarm]]\nname = \"page-alerts\"\nprometheus = \"" << prom.url()
      << "\"\nquery = 'ALERTS{alertstate=\"firing\",severity=\"page\"}'\non_fire = \"rollback\"\n"
         "interval = \"1s\"\napps = [\"web\"]\n"
      << "\n[[policy.alarm]]\nname = \"page-hold\"\nprometheus = \"" << prom.url()
      << "\"\nquery = 'ALERTS{alertstate=\"firing\",severity=\"page\"}'\non_fire = \"pause\"\n"
         "interval = \"1s\"\napps = [\"api\"]\n";
  f.startCoordinator();
  f.startAgent("h0");
  f.startAgent("h1");
  REQUIRE(f.waitOnline(2));
  // The alarm is quiet (no series) while the metric is 0: a rollout goes through.
  f.baseline("1");

  // Two rollouts bake: web's alarm rolls back, api's pauses.
  auto baking = [&](const std::string& rollout) {
    auto st = f.status(rollout);
    return st.is_object() && st.value("state", "") == "running" && !st["waves"].empty() &&
           st["waves"][0].value("state", "") == "baking";
  };
  const auto id = f.submit(f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [1, \"100%\"]\nbake = \"60s\""));
  const auto api = f.submit(f.writePlan("api", "1", f.makeRelease("1", true), "sizes = [1, \"100%\"]\nbake = \"60s\""));
  REQUIRE(waitUntil([&] { return baking(id) && baking(api); }, 60s, 100ms));

  metric.set(1);
  // Scrape (1s) + rule evaluation (1s) + alarm poll (1s) + the rollback itself,
  // with room for a busy two-core machine.
  const auto st = f.waitFinished(id, 50s);
  INFO(st.dump(2));
  CHECK(st.value("state", "") == "rolled_back");
  auto ev = f.findEvent(id, "policy_alarm_rollback", "alarm page-alerts fired");
  REQUIRE(ev.has_value());
  CHECK((*ev)["message"].get<std::string>().find("rolling back") != std::string::npos);
  CHECK(f.liveRelease("h0", "web") == "1");
  // on_fire = "pause": the other rollout waits for an operator.
  REQUIRE(waitUntil([&] { return f.status(api).value("state", "") == "paused"; }, 30s, 100ms));
  CHECK(f.findEvent(api, "policy_alarm_pause", "alarm page-hold fired").has_value());
}

TEST_CASE("an unreachable alarm source pauses the rollouts of one alarm and not of an ignoring one",
          "[integration][policy][alarm]") {
  Fleet f;
  // Nothing listens on this port: every poll is a connection error.
  const std::string nowhere = "http://127.0.0.1:" + std::to_string(freeTcpPort());
  std::ofstream(f.dir() / "coord/coordinator.toml", std::ios::app)
      << "\n[[policy.alarm]]\nname = \"unreachable\"\nprometheus = \"" << nowhere
      << "\"\nquery = 'ALERTS'\non_error = \"pause\"\ninterval = \"1s\"\napps = [\"web\"]\n"
      << "\n[[policy.alarm]]\nname = \"best-effort\"\nprometheus = \"" << nowhere
      << "\"\nquery = 'ALERTS'\non_error = \"ignore\"\ninterval = \"1s\"\napps = [\"api\"]\n";
  f.startCoordinator();
  f.startAgent("h0");
  f.startAgent("h1");
  REQUIRE(f.waitOnline(2));

  const auto id = f.submit(f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [1, \"100%\"]\nbake = \"60s\""));
  std::string state;
  REQUIRE(waitUntil(
      [&] {
        auto st = f.status(id);
        state = st.is_object() ? st.value("state", "") : "";
        return state == "paused";
      },
      40s, 100ms));
  auto ev = f.findEvent(id, "policy_alarm_pause", "alarm unreachable cannot be read from " + nowhere);
  REQUIRE(ev.has_value());
  CHECK((*ev)["message"].get<std::string>().find("; pausing") != std::string::npos);

  // on_error = "ignore": a rollout it covers goes on while the source is unreadable.
  const auto api = f.submit(f.writePlan("api", "1", f.makeRelease("1", true), "sizes = [1, \"100%\"]\nbake = \"3s\""));
  const auto done = f.waitFinished(api, 60s);
  INFO(done.dump(2));
  CHECK(done.value("state", "") == "succeeded");
  CHECK_FALSE(f.findEvent(api, "policy_alarm_pause", "").has_value());
}
