#include "flotilla/coordinator/http_endpoint.h"

#include <httplib.h>

#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "flotilla/common/clock.h"
#include "flotilla/common/duration.h"
#include "flotilla/coordinator/metrics.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {
namespace {

// Bucket bounds in seconds: from a quick canary to a long staged rollout.
const std::vector<double> kDurationBuckets = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600};

std::string escapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

struct Histogram {
  std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(kDurationBuckets.size(), 0);
  std::uint64_t total = 0;
  double sum = 0;
  void observe(double v) {
    for (std::size_t i = 0; i < kDurationBuckets.size(); ++i)
      if (v <= kDurationBuckets[i]) ++counts[i];
    ++total;
    sum += v;
  }
};

void renderHistogram(std::ostringstream& os, const std::string& name, const std::string& help,
                     const std::map<std::string, Histogram>& by_app) {
  os << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
  for (const auto& [app, h] : by_app) {
    const std::string label = "app=\"" + escapeLabel(app) + "\"";
    for (std::size_t i = 0; i < kDurationBuckets.size(); ++i)
      os << name << "_bucket{" << label << ",le=\"" << kDurationBuckets[i] << "\"} " << h.counts[i] << "\n";
    os << name << "_bucket{" << label << ",le=\"+Inf\"} " << h.total << "\n";
    os << name << "_sum{" << label << "} " << h.sum << "\n";
    os << name << "_count{" << label << "} " << h.total << "\n";
  }
}

}  // namespace

HttpEndpoint::HttpEndpoint(std::string store_file, std::shared_ptr<LiveGauges> gauges)
    : store_file_(std::move(store_file)), gauges_(std::move(gauges)) {}

HttpEndpoint::~HttpEndpoint() { stop(); }

Status HttpEndpoint::start(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return Error(Errc::kInvalidArgument, "http.listen '" + listen + "': expected HOST:PORT");
  std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    return Error(Errc::kInvalidArgument, "http.listen '" + listen + "': bad port");
  }
  server_ = std::make_unique<httplib::Server>();
  server_->Get("/healthz",
               [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(renderMetrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
  } else {
    port_ = server_->bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) return Error(Errc::kUnavailable, "http.listen " + listen + ": cannot bind");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  spdlog::info("metrics on http://{}:{}/metrics", host, port_);
  return {};
}

void HttpEndpoint::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
  std::lock_guard<std::mutex> lock(render_mu_);
  store_.reset();
}

std::string HttpEndpoint::renderMetrics() {
  std::lock_guard<std::mutex> lock(render_mu_);
  std::ostringstream os;
  os << gauges_->read();
  if (!store_) {
    auto opened = openStore({.file = store_file_, .read_only = true});
    if (!opened) {
      os << "# store unavailable: " << opened.error().message << "\n";
      return os.str();
    }
    store_ = std::move(*opened);
  }
  auto rollouts = store_->rollouts("", 1000000);
  if (!rollouts) {
    os << "# store unavailable: " << rollouts.error().message << "\n";
    store_.reset();  // opened afresh by the next scrape
    return os.str();
  }

  std::map<std::pair<std::string, std::string>, std::uint64_t> outcomes;
  std::map<std::string, Histogram> rollout_durations;
  std::map<std::string, std::string> app_of;
  for (const auto& r : *rollouts) {
    app_of[r.id] = r.app;
    if (r.finished_at_ms <= 0) continue;
    ++outcomes[{r.app, r.state}];
    rollout_durations[r.app].observe(static_cast<double>(r.finished_at_ms - r.submitted_at_ms) / 1000.0);
  }
  os << "# HELP flotilla_rollouts_total Finished rollouts by app and outcome.\n"
     << "# TYPE flotilla_rollouts_total counter\n";
  for (const auto& [k, n] : outcomes)
    os << "flotilla_rollouts_total{app=\"" << escapeLabel(k.first) << "\",outcome=\"" << k.second << "\"} " << n
       << "\n";
  renderHistogram(os, "flotilla_rollout_duration_seconds", "Submission to finish of each finished rollout.",
                  rollout_durations);
  std::map<std::string, Histogram> wave_durations;
  if (auto waves = store_->waveDurations(); waves.ok())
    for (const auto& w : *waves) wave_durations[app_of[w.rollout_id]].observe(w.seconds);
  renderHistogram(os, "flotilla_wave_duration_seconds", "Start to end of each wave (including bake).", wave_durations);

  MetricsQuery q;
  q.now_ms = common::toUnixMillis(std::chrono::system_clock::now());
  if (auto dora = computeDora(*rollouts, q); dora.ok()) os << toPrometheus(*dora);
  return os.str();
}

}  // namespace flotilla::coordinator
