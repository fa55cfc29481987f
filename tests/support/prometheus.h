#pragma once
// A real Prometheus server (Debian package `prometheus`) for integration tests.
// It listens on 127.0.0.1 at a port picked at run time, keeps its TSDB and a
// generated config in its own temporary directory, scrapes static targets
// (each with extra labels, e.g. host="<agent id>") every scrape_interval,
// evaluates the rule files it is given, and talks to nothing else (no remote
// read or write, no Alertmanager). The
// constructor returns once /-/ready answers 200; the destructor stops it
// (SIGTERM, then SIGKILL after a deadline) and reaps it.
// Not thread-safe: one test thread owns it.
//
// Catch2 2 has no SKIP, so a test that needs it starts with
//   if (auto why = flotilla::testing::prometheusMissing(); !why.empty()) { WARN("skipped: " << why); return; }

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/result.h"
#include "support/cluster.h"
#include "support/temp_dir.h"

namespace flotilla::testing {

// The executable `name` on $PATH, or "" when there is none.
std::string findOnPath(const std::string& name);

// Prometheus' own linter (`promtool check metrics`, Debian package prometheus)
// over an exposition file: what it complains about, "" when nothing; nullopt
// when promtool is not installed.
std::optional<std::string> promtoolComplaints(const std::filesystem::path& exposition);

// The prometheus binary: $FLOTILLA_PROMETHEUS when set, else `prometheus` on
// $PATH; "" when there is none.
std::string prometheusBinary();

// Why a real Prometheus cannot run here, for the test's skip message; "" when it can.
std::string prometheusMissing();

// One endpoint Prometheus scrapes (http://ADDRESS/metrics).
struct PrometheusTarget {
  std::string address;                        // "127.0.0.1:PORT"
  std::map<std::string, std::string> labels;  // added to every series from it, e.g. {{"host", "a"}}
};

// One element of an instant query's answer.
struct PrometheusSample {
  std::map<std::string, std::string> labels;  // the series' labels (__name__ included when kept)
  double value = 0;                           // NaN and +-Inf as Prometheus gives them
};

class PrometheusServer {
 public:
  struct Options {
    std::chrono::milliseconds scrape_interval = std::chrono::seconds(1);
    // Long enough for a start on a busy two-core machine running other tests.
    std::chrono::milliseconds ready_timeout = std::chrono::seconds(90);
    std::chrono::milliseconds stop_timeout = std::chrono::seconds(15);
    std::string job = "app";  // the scrape job's name (label job)
    // Rule files' contents (YAML with `groups:`), written beside the config and
    // listed in its rule_files; evaluated every scrape_interval. Alerts show in
    // the ALERTS series (nothing is sent to an Alertmanager).
    std::vector<std::string> rules;
  };

  // Starts Prometheus scraping `targets` and waits until it is ready. Throws
  // std::runtime_error, with the end of its log, when the binary is missing
  // or it does not become ready in time.
  explicit PrometheusServer(std::vector<PrometheusTarget> targets);
  PrometheusServer(std::vector<PrometheusTarget> targets, Options options);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:PORT", what a `prometheus = ...` plan key takes
  std::filesystem::path logFile() const { return dir_.path() / "prometheus.log"; }

  // GET /api/v1/query (evaluated now). A vector answer gives its elements, a
  // scalar one element without labels. Errors: unreachable, HTTP status not
  // 200, status not "success" (bad PromQL: Prometheus's message), other shapes.
  Result<std::vector<PrometheusSample>> query(const std::string& promql) const;
  // The value of a query whose answer is exactly one element; an error otherwise
  // (e.g. empty while no scrape has happened yet).
  Result<double> queryValue(const std::string& promql) const;

 private:
  bool startOnce(const std::string& binary, std::string& why);
  std::string logTail() const;

  TempDir dir_;
  Options options_;
  int port_ = 0;
  Process process_;
};

}  // namespace flotilla::testing
