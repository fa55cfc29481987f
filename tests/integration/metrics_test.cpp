// The coordinator's HTTP endpoint and `flotilla metrics`, scraped and queried for real.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/cluster.h"
#include "support/http_get.h"
#include "support/prometheus.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;

namespace {

bool hasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("the coordinator serves Prometheus metrics and health over HTTP", "[integration][metrics]") {
  Fleet f;
  const int port = freeTcpPort();
  f.startCoordinator({"http = \"127.0.0.1:" + std::to_string(port) + "\""});
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  auto health = httpGet(base + "/healthz");
  CHECK(health.code == 200);

  auto good = f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]");
  auto r = f.console({"rollout", good.string()});
  REQUIRE(r.exit_code == 0);
  REQUIRE(f.waitFinished(r.json["id"])["state"] == "succeeded");
  auto bad = f.writePlan("web", "2", f.makeRelease("2", false), "sizes = [\"100%\"]\non_failure = \"halt\"");
  r = f.console({"rollout", bad.string()});
  REQUIRE(r.exit_code == 0);
  REQUIRE(f.waitFinished(r.json["id"])["state"] == "failed");

  HttpReply m;
  // Live gauges are published once a second.
  REQUIRE(waitUntil(
      [&] {
        m = httpGet(base + "/metrics");
        return m.code == 200 && hasLine(m.body, "flotilla_agents{state=\"online\"} 2") &&
               hasLine(m.body, "flotilla_active_rollouts 0");
      },
      10s, 200ms));
  INFO(m.body);
  CHECK(hasLine(m.body, "flotilla_rollouts_total{app=\"web\",outcome=\"succeeded\"} 1"));
  CHECK(hasLine(m.body, "flotilla_rollouts_total{app=\"web\",outcome=\"failed\"} 1"));
  CHECK(hasLine(m.body, "flotilla_rollout_duration_seconds_count{app=\"web\"} 2"));
  CHECK(m.body.find("flotilla_wave_duration_seconds_bucket{app=\"web\",le=\"+Inf\"} 2") != std::string::npos);
  CHECK(m.body.find("# TYPE flotilla_dora_deployment_frequency_per_day gauge") != std::string::npos);
  CHECK(m.body.find("flotilla_dora_change_failure_rate{app=\"web\"} 0.5") != std::string::npos);
  CHECK(hasLine(m.body, "flotilla_dora_window_seconds 2592000"));

  const auto exposition = f.dir() / "metrics.txt";
  std::ofstream(exposition) << m.body;
  if (const auto complaints = promtoolComplaints(exposition); !complaints)
    WARN("promtool not found (Debian package prometheus, see scripts/bootstrap.sh): exposition not linted");
  else
    CHECK(*complaints == "");

  // The same record through the console.
  auto metrics = f.console({"metrics", "--app", "web"});
  INFO(metrics.out << metrics.err);
  REQUIRE(metrics.exit_code == 0);
  const auto& web = metrics.json["apps"]["web"];
  CHECK(web["deployment_frequency"]["deployments"] == 1);
  CHECK(web["change_failure_rate"]["failed"] == 1);
  CHECK(web["change_failure_rate"]["finished"] == 2);
  CHECK(web["change_failure_rate"]["rate"] == Approx(0.5));
  CHECK(web["lead_time"]["from_submission"] == 1);  // the plan had no [change]
  CHECK(web["recovery_time"]["unrecovered"] == 1);
  CHECK(web["rework_rate"]["unplanned"] == 0);

  // A hotfix, marked unplanned: DORA's rework rate counts it.
  auto hotfix = f.writePlan("web", "3", f.makeRelease("3", true), "sizes = [\"100%\"]");
  std::ofstream(hotfix, std::ios::app) << "\n[change]\nunplanned = true\n";
  r = f.console({"rollout", hotfix.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(f.waitFinished(r.json["id"])["state"] == "succeeded");
  metrics = f.console({"metrics", "--app", "web"});
  REQUIRE(metrics.exit_code == 0);
  const auto& rework = metrics.json["apps"]["web"]["rework_rate"];
  CHECK(rework["unplanned"] == 1);
  CHECK(rework["deployments"] == 2);
  CHECK(rework["rate"] == Approx(0.5));
  CHECK(httpGet(base + "/metrics").body.find("flotilla_dora_rework_rate{app=\"web\"} 0.5") != std::string::npos);
}
