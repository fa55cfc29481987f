// Release analysis end to end (docs/analysis.md): real agents run the example
// service (its own steady traffic, Prometheus /metrics), a release that passes
// its health check but fails a share of its requests is caught at the canary
// wave and rolled back, an identical release passes every wave, and the same
// judgement made through a real Prometheus server.
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include "support/cluster.h"
#include "support/http_get.h"
#include "support/prometheus.h"
#include "support/release_builder.h"

using namespace std::chrono_literals;
using flotilla::testing::Fleet;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kHosts{"a1", "a2", "a3", "a4"};
constexpr int kRps = 20;  // each service's own traffic: light on a busy 2-core machine

// A fleet of four agents, each with its own PORT, every service stopped at the end.
struct ServiceFleet {
  ServiceFleet() {
    fleet.startCoordinator({"http = \"127.0.0.1:" + std::to_string(http_port) + "\""});
    for (const auto& h : kHosts) {
      ports[h] = flotilla::testing::freeTcpPort();
      fleet.startAgent(Fleet::AgentSpec(h, {{"role", "web"}}, {{"PORT", std::to_string(ports[h])}}));
    }
    REQUIRE(fleet.waitOnline(kHosts.size()));
  }
  ~ServiceFleet() {
    for (const auto& h : kHosts) {
      const auto app = fleet.appsDir(h) / "web";
      if (fs::exists(app / "current/bin/stop"))
        flotilla::testing::runCommand({(app / "current/bin/stop").string(), app.string()}, 30s);
    }
  }

  fs::path release(const std::string& version, std::optional<double> error_rate = std::nullopt) {
    flotilla::testing::ReleaseOptions opts;
    opts.example_service = true;
    opts.error_rate = error_rate;
    opts.rps = kRps;
    return flotilla::testing::buildRelease(fleet.dir(), version, opts);
  }

  // A plan for the example service; `analysis` is appended as is.
  fs::path plan(const std::string& version, const fs::path& artifact, const std::string& waves,
                const std::string& analysis) {
    const auto p = fleet.dir() / ("web-" + version + ".toml");
    std::ofstream out(p);
    out << "app = \"web\"\nversion = \"" << version << "\"\n[artifact]\nfile = \"" << artifact.string() << "\"\n"
        << "[target]\nlabels = { role = \"web\" }\n"
        << "[waves]\n"
        << waves << "\nmax_parallel = 4\ndeadline = \"90s\"\n"
        << "[deploy]\nrestart = [\"./bin/restart\", \"${PORT}\"]\n"
        << "[health]\ninterval = \"200ms\"\nhealthy_for = \"600ms\"\ndeadline = \"30s\"\n"
        << "[[health.check]]\nhttp = \"http://127.0.0.1:${PORT}/healthz\"\ntimeout = \"2s\"\n"
        << analysis;
    return p;
  }

  // Release 1 everywhere, no analysis.
  void deployFirst() {
    const auto id = fleet.submit(plan("1", release("1"), "sizes = [\"100%\"]", ""));
    REQUIRE(fleet.waitFinished(id, 180s)["state"] == "succeeded");
  }

  json analysis(const std::string& rollout) {
    auto r = fleet.console({"analysis", rollout});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    return r.json;
  }

  Fleet fleet;
  const int http_port = flotilla::testing::freeTcpPort();
  std::map<std::string, int> ports;
};

const std::string kScrapeAnalysis = R"(
[analysis]
interval = "1s"
min_samples = 5
[[analysis.metric]]
name = "error_ratio"
scrape = "http://127.0.0.1:${PORT}/metrics"
rate = 'http_requests_total{path="/work",code=~"5.."}'
per = 'http_requests_total{path="/work"}'
tolerance = "25%"
critical = true
[[analysis.metric]]
name = "latency_p90"
scrape = "http://127.0.0.1:${PORT}/metrics"
histogram = 'http_request_duration_seconds{path="/work"}'
quantile = 0.9
tolerance = "100%"
)";

const json* waveOf(const json& reply, int wave) {
  for (const auto& w : reply["waves"])
    if (w["wave"] == wave && w["final"] == true) return &w;
  return nullptr;
}

const json* metricOf(const json& wave, const std::string& name) {
  for (const auto& m : wave["metrics"])
    if (m["metric"] == name) return &m;
  return nullptr;
}

// Wave `wave` of an analysis reply has a final verdict of `outcome`; its error_ratio metric.
json errorRatio(const json& reply, int wave, const std::string& outcome) {
  const json* w = waveOf(reply, wave);
  REQUIRE(w != nullptr);
  CHECK((*w)["outcome"] == outcome);
  const json* m = metricOf(*w, "error_ratio");
  REQUIRE(m != nullptr);
  return *m;
}

// The rollout ended rolled back and every host serves release 1 again.
void rolledBack(ServiceFleet& f, const std::string& id) {
  const json st = f.fleet.waitFinished(id, 180s);
  INFO(st.dump());
  CHECK(st["state"] == "rolled_back");
  for (const auto& h : kHosts) CHECK(f.fleet.liveRelease(h, "web") == "1");
}

}  // namespace

TEST_CASE("a release that fails requests but passes its health check is caught at the canary and rolled back",
          "[integration][analysis]") {
  ServiceFleet f;
  f.deployFirst();
  const auto id =
      f.fleet.submit(f.plan("2", f.release("2", 0.1), "sizes = [1, \"100%\"]\nbake = \"1s\"", kScrapeAnalysis));
  rolledBack(f, id);
  CHECK(f.fleet.countEvents(id, "analysis_verdict") == 1);
  CHECK(f.fleet.countEvents(id, "wave_failed") == 1);

  const json a = f.analysis(id);
  INFO(a.dump());
  const json err = errorRatio(a, 0, "fail");
  CHECK(err["verdict"] == "high");
  CHECK(err["canary"].get<double>() > 0.05);
  CHECK(err["baseline"].get<double>() == 0);
  CHECK(err["canary_n"].get<int>() >= 5);
  CHECK(err["baseline_n"].get<int>() >= 5);
  CHECK(waveOf(a, 1) == nullptr);  // the rollout never got there

  // /metrics exports the verdict (published once a second), and Prometheus' linter accepts it.
  const std::string url = "http://127.0.0.1:" + std::to_string(f.http_port) + "/metrics";
  const std::string labels = "{app=\"web\",rollout=\"" + id + "\",wave=\"0\"";
  std::string body;
  CHECK(flotilla::testing::waitUntil(
      [&] {
        body = flotilla::testing::httpGet(url).body;
        return body.find("flotilla_analysis_verdict" + labels + ",outcome=\"fail\"} 1\n") != std::string::npos;
      },
      10s));
  INFO(body);
  CHECK(body.find("flotilla_analysis_metric_verdict" + labels + ",metric=\"error_ratio\",verdict=\"high\"} 1\n") !=
        std::string::npos);
  const auto exposition = f.fleet.dir() / "metrics.txt";
  std::ofstream(exposition) << body;
  CHECK(flotilla::testing::promtoolComplaints(exposition).value_or("") == "");

  // The table people read names the metric, the figures and the threshold.
  auto plain = flotilla::testing::runCommand({(flotilla::testing::binDir() / "coordinator/flotilla").string(),
                                              "--control", f.fleet.controlEndpoint(), "analysis", id});
  INFO(plain.out << plain.err);
  CHECK(plain.exit_code == 0);
  CHECK(plain.out.find("wave 0: fail") != std::string::npos);
  CHECK(plain.out.find("error_ratio") != std::string::npos);
  CHECK(plain.out.find("25%") != std::string::npos);
}

TEST_CASE("an identical release passes every analysed wave", "[integration][analysis]") {
  ServiceFleet f;
  f.deployFirst();
  const auto id = f.fleet.submit(f.plan("3", f.release("3"), "sizes = [1, \"100%\"]", kScrapeAnalysis));
  const json st = f.fleet.waitFinished(id, 180s);
  INFO(st.dump());
  REQUIRE(st["state"] == "succeeded");
  for (const auto& h : kHosts) CHECK(f.fleet.liveRelease(h, "web") == "3");
  const json a = f.analysis(id);
  INFO(a.dump());
  const json err = errorRatio(a, 0, "pass");
  CHECK(err["verdict"] == "pass");
  CHECK(err["canary_n"].get<int>() >= 5);
  CHECK(err["baseline_n"].get<int>() >= 5);
  const json* w1 = waveOf(a, 1);  // the last wave: no host left on the old release to compare with
  REQUIRE(w1 != nullptr);
  CHECK((*w1)["outcome"] == "pass");
}

TEST_CASE("the prometheus source judges through a real Prometheus server", "[integration][analysis][prometheus]") {
  if (auto why = flotilla::testing::prometheusMissing(); !why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  ServiceFleet f;
  std::vector<flotilla::testing::PrometheusTarget> targets;
  for (const auto& h : kHosts) targets.push_back({"127.0.0.1:" + std::to_string(f.ports[h]), {{"host", h}}});
  flotilla::testing::PrometheusServer prom(targets);
  f.deployFirst();
  const std::string query =
      R"((sum(rate(http_requests_total{path="/work",code=~"5..",host="${HOST}"}[5s])) or vector(0)))"
      R"( / sum(rate(http_requests_total{path="/work",host="${HOST}"}[5s])))";
  // Prometheus has a rate for every host before the rollout starts judging.
  for (const auto& h : kHosts) {
    std::string q = query;
    q.replace(q.find("${HOST}"), 7, h);
    q.replace(q.find("${HOST}"), 7, h);
    CHECK(flotilla::testing::waitUntil([&] { return prom.queryValue(q).ok(); }, 90s, 250ms));
  }
  const std::string analysis = R"(
[analysis]
interval = "1s"
min_samples = 5
[[analysis.metric]]
name = "error_ratio"
prometheus = ")" + prom.url() + R"("
query = ')" + query + R"('
tolerance = "25%"
critical = true
)";
  const auto id = f.fleet.submit(f.plan("2", f.release("2", 0.2), "sizes = [1, \"100%\"]\nbake = \"10s\"", analysis));
  rolledBack(f, id);
  const json a = f.analysis(id);
  INFO(a.dump());
  const json err = errorRatio(a, 0, "fail");
  CHECK(err["verdict"] == "high");
  CHECK(err["test"] == "mann-whitney");
}

TEST_CASE("a coordinator restarted mid-analysis resumes from the stored samples and reaches the verdict",
          "[integration][analysis]") {
  ServiceFleet f;
  f.deployFirst();
  const auto id =
      f.fleet.submit(f.plan("2", f.release("2", 0.1), "sizes = [1, \"100%\"]\nbake = \"1s\"", kScrapeAnalysis));
  // Some canary samples are stored, not yet enough for a verdict (min_samples 5).
  std::size_t before = 0;
  REQUIRE(flotilla::testing::waitUntil(
      [&] {
        auto r = f.fleet.console({"analysis", id});
        if (r.exit_code != 0 || !r.json.contains("waves")) return false;
        for (const auto& w : r.json["waves"])
          for (const auto& m : w["metrics"])
            if (m["metric"] == "error_ratio") before = m["canary_n"].get<std::size_t>();
        return before >= 2;
      },
      120s, 200ms));
  f.fleet.stopCoordinator();
  f.fleet.startCoordinator();
  rolledBack(f, id);
  CHECK(f.fleet.countEvents(id, "rollout_resumed") >= 1);
  const json a = f.analysis(id);
  INFO(a.dump());
  const json err = errorRatio(a, 0, "fail");
  CHECK(err["verdict"] == "high");
  // The samples taken before the restart count in the verdict after it.
  CHECK(err["canary_n"].get<std::size_t>() >= before);
}

TEST_CASE("a flag set that fails requests but passes the health check is caught by the app's analysis",
          "[integration][analysis][flags]") {
  ServiceFleet f;
  f.deployFirst();
  // The app's newest plan is analysed; a flag push is judged by the same analysis.
  const auto release = f.fleet.submit(f.plan("2", f.release("2"), "sizes = [\"100%\"]", kScrapeAnalysis));
  REQUIRE(f.fleet.waitFinished(release, 180s)["state"] == "succeeded");

  // Variant "flaky" of new-checkout fails a tenth of the service's requests (examples/service).
  const auto file = f.fleet.dir() / "flags.json";
  std::ofstream(file) << R"({"flags": {"new-checkout": {"state": "ENABLED",
      "variants": {"on": true, "off": false, "flaky": true}, "defaultVariant": "flaky"}}})";
  auto pushed = f.fleet.console({"flags", "push", "web", file.string()});
  INFO(pushed.out << pushed.err);
  REQUIRE(pushed.exit_code == 0);
  const std::string id = pushed.json["id"].get<std::string>();

  const json st = f.fleet.waitFinished(id, 180s);
  INFO(st.dump());
  INFO(f.fleet.console({"events", id}).out);
  CHECK(st["state"] == "rolled_back");
  CHECK(f.fleet.countEvents(id, "analysis_verdict") == 1);
  const json a = f.analysis(id);
  INFO(a.dump());
  const json err = errorRatio(a, 0, "fail");
  CHECK(err["verdict"] == "high");
  CHECK(err["baseline"].get<double>() == 0);
  // The canary's flag set is taken back; no host keeps the flaky variant, and the release stays.
  for (const auto& h : kHosts) {
    CHECK_FALSE(fs::exists(f.fleet.appsDir(h) / "web/flags.json"));
    CHECK(f.fleet.liveRelease(h, "web") == "2");
  }
}
