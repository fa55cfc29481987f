#include "support/prometheus.h"

#include "support/cluster.h"

#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace flotilla::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr int kStartAttempts = 3;  // a port picked free can be taken before Prometheus binds it
constexpr auto kHttpTimeout = 5s;

// Prometheus durations: whole milliseconds are always accepted ("1500ms").
std::string promDuration(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

// A YAML double-quoted scalar; JSON strings are valid YAML.
std::string yamlString(const std::string& s) { return nlohmann::json(s).dump(); }

std::string configYaml(const std::vector<PrometheusTarget>& targets, const PrometheusServer::Options& options) {
  std::ostringstream y;
  const auto interval = promDuration(options.scrape_interval);
  y << "global:\n"
    << "  scrape_interval: " << interval << "\n"
    << "  scrape_timeout: " << interval << "\n"
    << "  evaluation_interval: " << interval << "\n";
  if (!options.rules.empty()) {
    y << "rule_files:\n";
    for (std::size_t i = 0; i < options.rules.size(); ++i) y << "  - rules-" << i << ".yml\n";
  }
  y << "scrape_configs:\n"
    << "  - job_name: " << yamlString(options.job) << "\n"
    << "    static_configs:\n";
  for (const auto& t : targets) {
    y << "      - targets: [" << yamlString(t.address) << "]\n";
    if (t.labels.empty()) continue;
    y << "        labels:\n";
    for (const auto& [k, v] : t.labels) y << "          " << k << ": " << yamlString(v) << "\n";
  }
  return y.str();
}

httplib::Client client(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(kHttpTimeout);
  c.set_read_timeout(kHttpTimeout);
  return c;
}

Result<double> parseValue(const nlohmann::json& pair) {
  // [ <unix time>, "<value>" ]; strtod reads "NaN", "+Inf" and "-Inf" too.
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string())
    return Error(Errc::kCorrupt, "a value is not [time, \"number\"]: " + pair.dump());
  const std::string text = pair[1].get<std::string>();
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') return Error(Errc::kCorrupt, "not a number: " + text);
  return v;
}

}  // namespace

std::string prometheusBinary() {
  if (const char* set = std::getenv("FLOTILLA_PROMETHEUS"); set && *set)
    return ::access(set, X_OK) == 0 ? std::string(set) : std::string();
  return findOnPath("prometheus");
}

std::string findOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::optional<std::string> promtoolComplaints(const fs::path& exposition) {
  const std::string tool = findOnPath("promtool");
  if (tool.empty()) return std::nullopt;
  auto r = runCommand({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", tool, exposition.string()});
  return r.exit_code == 0 ? "" : "exit " + std::to_string(r.exit_code) + ": " + r.out + r.err;
}

std::string prometheusMissing() {
  if (!prometheusBinary().empty()) return "";
  return "no prometheus binary ($FLOTILLA_PROMETHEUS or on $PATH; Debian package prometheus, "
         "installed by scripts/bootstrap.sh)";
}

PrometheusServer::PrometheusServer(std::vector<PrometheusTarget> targets)
    : PrometheusServer(std::move(targets), Options{}) {}

PrometheusServer::PrometheusServer(std::vector<PrometheusTarget> targets, Options options)
    : dir_("flotilla-prometheus"), options_(std::move(options)) {
  const std::string binary = prometheusBinary();
  if (binary.empty()) throw std::runtime_error(prometheusMissing());
  std::ofstream(dir_.path() / "prometheus.yml") << configYaml(targets, options_);
  for (std::size_t i = 0; i < options_.rules.size(); ++i)
    std::ofstream(dir_.path() / ("rules-" + std::to_string(i) + ".yml")) << options_.rules[i];
  std::string why;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt)
    if (startOnce(binary, why)) return;
  throw std::runtime_error("prometheus did not start: " + why + "; log " + logFile().string() + ":\n" + logTail());
}

PrometheusServer::~PrometheusServer() { process_.stop(SIGTERM, options_.stop_timeout); }

bool PrometheusServer::startOnce(const std::string& binary, std::string& why) {
  port_ = freeTcpPort();
  process_ = Process({binary, "--config.file=" + (dir_.path() / "prometheus.yml").string(),
                      "--storage.tsdb.path=" + (dir_.path() / "data").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--storage.tsdb.retention.time=1d",
                      "--log.level=info"},
                     logFile());
  bool exited = false;
  const bool ready = waitUntil(
      [&] {
        if (!process_.running()) {
          exited = true;
          return true;
        }
        auto c = client(port_);
        auto res = c.Get("/-/ready");
        return res && res->status == 200;
      },
      options_.ready_timeout, 100ms);
  if (ready && !exited) return true;
  why = exited ? "it exited (port " + std::to_string(port_) + ")"
               : "not ready after " + std::to_string(options_.ready_timeout.count()) + " ms";
  process_.stop(SIGKILL, options_.stop_timeout);
  return false;
}

std::string PrometheusServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

Result<std::vector<PrometheusSample>> PrometheusServer::query(const std::string& promql) const {
  auto c = client(port_);
  auto res = c.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
  if (!res) return Error(Errc::kUnavailable, "prometheus at " + url() + ": " + httplib::to_string(res.error()));
  const auto doc = nlohmann::json::parse(res->body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error(Errc::kCorrupt, "HTTP " + std::to_string(res->status) + ", not JSON: " + res->body.substr(0, 200));
  if (res->status != 200 || doc.value("status", "") != "success")
    return Error(Errc::kInvalidArgument, "HTTP " + std::to_string(res->status) + ": " + doc.value("error", res->body));
  if (!doc.contains("data") || !doc["data"].is_object()) return Error(Errc::kCorrupt, "no data: " + res->body);
  const auto& data = doc["data"];
  const std::string type = data.value("resultType", "");
  const auto result = data.value("result", nlohmann::json());
  std::vector<PrometheusSample> out;
  if (type == "scalar") {
    auto v = parseValue(result);
    if (!v) return v.error();
    out.push_back({{}, *v});
    return out;
  }
  if (type != "vector" || !result.is_array())
    return Error(Errc::kCorrupt, "result type " + type + " is not an instant vector");
  for (const auto& element : result) {
    PrometheusSample s;
    // A local: items() of the temporary value() returns would outlive it.
    const auto metric = element.value("metric", nlohmann::json::object());
    for (const auto& [k, v] : metric.items())
      if (v.is_string()) s.labels[k] = v.get<std::string>();
    auto v = parseValue(element.value("value", nlohmann::json()));
    if (!v) return v.error();
    s.value = *v;
    out.push_back(std::move(s));
  }
  return out;
}

Result<double> PrometheusServer::queryValue(const std::string& promql) const {
  auto r = query(promql);
  if (!r) return r.error();
  if (r->size() != 1)
    return Error(Errc::kNotFound, std::to_string(r->size()) + " elements (one expected) for " + promql);
  return r->front().value;
}

std::string PrometheusServer::logTail() const {
  std::ifstream in(logFile());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr std::size_t kTail = 2000;
  return text.size() > kTail ? text.substr(text.size() - kTail) : text;
}

}  // namespace flotilla::testing
