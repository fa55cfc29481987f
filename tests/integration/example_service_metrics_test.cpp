// The example service's Prometheus /metrics, its own steady traffic and its
// failure injection (examples/README.md), read directly and through a real
// Prometheus server (support/prometheus.h), as release analysis reads them.

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "support/cluster.h"
#include "support/http_get.h"
#include "support/prometheus.h"
#include "support/release_builder.h"
#include "support/temp_dir.h"

namespace {

using flotilla::testing::freeTcpPort;
using flotilla::testing::httpGet;
using flotilla::testing::HttpReply;
using flotilla::testing::Process;
using flotilla::testing::TempDir;
using flotilla::testing::waitUntil;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr double kErrorRate = 0.2;
constexpr int kLatencyMs = 30;

// An example-service release unpacked under `tmp`/`name`.
fs::path exampleRelease(const TempDir& tmp, const std::string& name, flotilla::testing::ReleaseOptions opts) {
  opts.example_service = true;
  const auto tarball = flotilla::testing::buildRelease(tmp.path(), name, opts);
  return flotilla::testing::unpackRelease(tarball, tmp.path() / name);
}

flotilla::testing::ReleaseOptions faultyOptions() {
  flotilla::testing::ReleaseOptions opts;
  opts.error_rate = kErrorRate;
  return opts;
}

// A running `python3 bin/service --port PORT` (not --daemon: the test owns
// and reaps it); killed when it goes out of scope.
struct Service {
  int port = 0;
  Process process;

  Service(const fs::path& release, const fs::path& log) : port(freeTcpPort()) {
    process = Process(
        {"/usr/bin/env", "python3", "-S", (release / "bin/service").string(), "--port", std::to_string(port)}, log);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

// The sum of the values of the exposition's samples whose line starts with
// `prefix` (a metric name and the start of its labels); nullopt when none.
std::optional<double> sumSamples(const std::string& exposition, const std::string& prefix) {
  std::istringstream lines(exposition);
  std::optional<double> sum;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    sum = sum.value_or(0) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

double workRequests(const Service& s) {
  return sumSamples(httpGet(s.url("/metrics")).body, "http_requests_total{path=\"/work\"").value_or(0);
}

// `promtool check metrics` over the body: what it complains about ("" when
// nothing, or when promtool is not installed).
std::string promtoolComplaints(const TempDir& tmp, const std::string& body) {
  return flotilla::testing::promtoolComplaints(tmp.write("exposition.txt", body)).value_or("");
}

// The share of a host's requests that answered 5xx over the last 5 s, as
// Prometheus computes it; `or vector(0)`: a host with no 5xx series has 0.
std::string errorRatioQuery(const std::string& host) {
  return "(sum(rate(http_requests_total{code=~\"5..\",host=\"" + host + "\"}[5s])) or vector(0)) / " +
         "sum(rate(http_requests_total{host=\"" + host + "\"}[5s]))";
}

// SIGTERM and the exit status: 0 when the service (traffic threads included) exits cleanly.
int terminate(Process& p) {
  const int status = p.stop(SIGTERM, 10s);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("the example service exports its own traffic and injected errors in /metrics, and Prometheus sees them",
          "[integration][example][metrics][prometheus]") {
  TempDir tmp("flotilla-example-metrics");
  Service clean(exampleRelease(tmp, "clean", {}), tmp.path() / "clean.log");
  Service faulty(exampleRelease(tmp, "faulty", faultyOptions()), tmp.path() / "faulty.log");
  INFO("service logs in " << tmp.path());

  for (const Service* s : {&clean, &faulty}) {
    REQUIRE(waitUntil([&] { return httpGet(s->url("/healthz")).code == 200; }, 30s));
    CHECK(httpGet(s->url("/healthz")).body == "ok\n");  // ERROR_RATE never reaches the health check
    // Nobody calls /work but the service itself: its count grows by itself.
    const double before = workRequests(*s);
    CHECK(waitUntil([&] { return workRequests(*s) >= before + 20; }, 20s));
  }

  const HttpReply clean_metrics = httpGet(clean.url("/metrics"));
  const HttpReply faulty_metrics = httpGet(faulty.url("/metrics"));
  REQUIRE(clean_metrics.code == 200);
  REQUIRE(faulty_metrics.code == 200);
  CHECK(promtoolComplaints(tmp, faulty_metrics.body) == "");
  for (const auto* body : {&clean_metrics.body, &faulty_metrics.body}) {
    const auto count = sumSamples(*body, "http_request_duration_seconds_count{path=\"/work\"}");
    REQUIRE(count);
    CHECK(*count > 0);
    CHECK(sumSamples(*body, "http_request_duration_seconds_bucket{path=\"/work\",le=\"+Inf\"}") == count);
    CHECK(sumSamples(*body, "http_request_duration_seconds_sum{path=\"/work\"}"));
    CHECK(sumSamples(*body, "app_inflight_requests"));
  }
  CHECK_FALSE(sumSamples(clean_metrics.body, "http_requests_total{path=\"/work\",code=\"500\"}"));
  // Every 5th /work request fails: the share is exact up to one request.
  const double work = *sumSamples(faulty_metrics.body, "http_requests_total{path=\"/work\"");
  const double failed = sumSamples(faulty_metrics.body, "http_requests_total{path=\"/work\",code=\"500\"}").value_or(0);
  CHECK(std::abs(failed - work * kErrorRate) <= 1);

  if (const auto why = flotilla::testing::prometheusMissing(); !why.empty()) {
    WARN("Prometheus part skipped: " << why);
  } else {
    flotilla::testing::PrometheusServer prometheus(
        {{clean.address(), {{"host", "a"}}}, {faulty.address(), {{"host", "b"}}}});
    INFO("prometheus log " << prometheus.logFile());
    std::optional<double> ratio_a, ratio_b;
    const bool judged = waitUntil(
        [&] {
          auto a = prometheus.queryValue(errorRatioQuery("a"));
          auto b = prometheus.queryValue(errorRatioQuery("b"));
          ratio_a = a ? std::optional(*a) : std::nullopt;
          ratio_b = b ? std::optional(*b) : std::nullopt;
          return ratio_a && ratio_b && *ratio_a == 0 && std::abs(*ratio_b - kErrorRate) < 0.05;
        },
        90s, 250ms);
    INFO("error ratio a=" << ratio_a.value_or(-1) << " b=" << ratio_b.value_or(-1));
    CHECK(judged);
    // Bad PromQL is an error with Prometheus's reason, not an empty answer.
    auto bad = prometheus.query("sum(rate(");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("parse error") != std::string::npos);
  }

  CHECK(terminate(clean.process) == 0);
  CHECK(terminate(faulty.process) == 0);
}

TEST_CASE("the example service makes its own traffic as a daemon, slowed by LATENCY_MS, and stops it with itself",
          "[integration][example][metrics]") {
  TempDir tmp("flotilla-example-daemon");
  flotilla::testing::ReleaseOptions slow;
  slow.latency_ms = kLatencyMs;
  const auto release = exampleRelease(tmp, "daemon", slow);
  const int port = freeTcpPort();
  const auto pid_file = tmp.path() / "service.pid";
  auto started =
      flotilla::testing::runCommand({"/usr/bin/env", "python3", "-S", (release / "bin/service").string(), "--port",
                                     std::to_string(port), "--daemon", "--pid-file", pid_file.string()});
  REQUIRE(started.exit_code == 0);
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  REQUIRE(pid > 0);
  // The daemon is not our child: kill it whatever happens below.
  struct Killer {
    pid_t pid;
    ~Killer() { ::kill(pid, SIGKILL); }
  } killer{pid};

  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto work = [&] {
    return sumSamples(httpGet(base + "/metrics").body, "http_requests_total{path=\"/work\"").value_or(0);
  };
  const double first = work();
  CHECK(waitUntil([&] { return work() >= first + 20; }, 20s));
  CHECK(httpGet(base + "/healthz").code == 200);
  // Every /work answer took at least LATENCY_MS.
  const std::string metrics = httpGet(base + "/metrics").body;
  const auto sum = sumSamples(metrics, "http_request_duration_seconds_sum{path=\"/work\"}");
  const auto count = sumSamples(metrics, "http_request_duration_seconds_count{path=\"/work\"}");
  REQUIRE(sum);
  REQUIRE(count);
  CHECK(*sum / *count >= kLatencyMs / 1000.0);
  CHECK(sumSamples(metrics, "http_request_duration_seconds_bucket{path=\"/work\",le=\"0.025\"}") == 0);

  REQUIRE(::kill(pid, SIGTERM) == 0);
  CHECK(waitUntil([&] { return httpGet(base + "/healthz").code == 0; }, 10s));
}
