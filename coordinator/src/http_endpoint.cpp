#include "flotilla/coordinator/http_endpoint.h"

#include <httplib.h>

#include <map>

#include <spdlog/spdlog.h>

#include "flotilla/common/clock.h"
#include "flotilla/common/duration.h"
#include "flotilla/coordinator/metrics.h"
#include "flotilla/coordinator/prometheus_writer.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {
namespace {

// Bucket bounds in seconds: from a quick canary to a long staged rollout.
const std::vector<double> kDurationBuckets = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600};

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

void renderHistogram(PrometheusWriter& out, const std::string& name, const std::string& help,
                     const std::map<std::string, Histogram>& by_app) {
  out.family(name, "histogram", help);
  for (const auto& [app, h] : by_app) out.histogram(name, {{"app", app}}, kDurationBuckets, h.counts, h.sum, h.total);
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
  std::string text = gauges_->read();
  if (!store_) {
    auto opened = openStore({.file = store_file_, .read_only = true});
    if (!opened) return text + "# store unavailable: " + opened.error().message + "\n";
    store_ = std::move(*opened);
  }
  auto rollouts = store_->rollouts("", 1000000);
  if (!rollouts) {
    store_.reset();  // opened afresh by the next scrape
    return text + "# store unavailable: " + rollouts.error().message + "\n";
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
  PrometheusWriter out;
  out.family("flotilla_rollouts_total", "counter", "Finished rollouts by app and outcome.");
  for (const auto& [k, n] : outcomes)
    out.sample("flotilla_rollouts_total", {{"app", k.first}, {"outcome", k.second}}, n);
  renderHistogram(out, "flotilla_rollout_duration_seconds", "Submission to finish of each finished rollout.",
                  rollout_durations);
  std::map<std::string, Histogram> wave_durations;
  if (auto waves = store_->waveDurations(); waves.ok())
    for (const auto& w : *waves) wave_durations[app_of[w.rollout_id]].observe(w.seconds);
  renderHistogram(out, "flotilla_wave_duration_seconds", "Start to end of each wave (including bake).", wave_durations);

  MetricsQuery q;
  q.now_ms = common::toUnixMillis(std::chrono::system_clock::now());
  text += out.take();
  if (auto dora = computeDora(*rollouts, q); dora.ok()) text += toPrometheus(*dora);
  return text;
}

}  // namespace flotilla::coordinator
