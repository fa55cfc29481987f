#include "flotilla/coordinator/http_endpoint.h"

#include <httplib.h>

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

#include "flotilla/common/clock.h"
#include "flotilla/common/duration.h"
#include "flotilla/coordinator/dashboard_assets.h"
#include "flotilla/coordinator/metrics.h"
#include "flotilla/coordinator/prometheus_writer.h"
#include "flotilla/coordinator/store.h"
#include "http_config.h"

namespace flotilla::coordinator {
namespace {

// The page loads its script and style from itself only and nothing else: no
// inline script or style, no frames, no other origin.
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
// Event streams open at once; each holds a server thread while it lasts.
constexpr int kMaxStreams = 8;
constexpr std::size_t kServerThreads = 16;
// A stream sends a comment this often when nothing changed, so a departed client is noticed.
constexpr auto kKeepAlive = std::chrono::seconds(15);
constexpr auto kStreamPoll = std::chrono::milliseconds(500);
constexpr int kDefaultDeliveryDays = 30;
constexpr int kMaxDeliveryDays = 365;

// The host of a Host header: "127.0.0.1:7780" -> "127.0.0.1", "[::1]:7780" -> "[::1]".
std::string hostOf(const std::string& header) {
  if (!header.empty() && header.front() == '[') return header.substr(0, header.find(']') + 1);
  return header.substr(0, header.rfind(':'));
}

void sendJson(httplib::Response& res, const Result<nlohmann::json>& doc) {
  if (doc) {
    // Agents' labels and hosts' messages are whatever bytes they sent: a byte that is not
    // UTF-8 becomes U+FFFD instead of an exception (a 500 for everyone's view).
    res.set_content(doc->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    return;
  }
  res.status = doc.error().code == Errc::kNotFound ? 404 : 503;
  res.set_content(
      nlohmann::json{{"error", {{"code", errcName(doc.error().code)}, {"message", doc.error().message}}}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace),
      "application/json");
}

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

HttpEndpoint::HttpEndpoint(StoreOptions store, std::shared_ptr<LiveGauges> gauges, std::shared_ptr<DashboardFeed> feed,
                           HttpConfig http)
    : store_options_(std::move(store)),
      gauges_(std::move(gauges)),
      feed_(std::move(feed)),
      http_(std::move(http)),
      auth_(http_.token) {
  if (feed_ && http_.dashboard) api_ = std::make_unique<DashboardApi>(store_options_, feed_);
}

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
  stopping_ = false;
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  // On every response, also those the server makes before any handler runs (400, 414).
  server_->set_default_headers({{"Content-Security-Policy", kCsp},
                                {"X-Content-Type-Options", "nosniff"},
                                {"Referrer-Policy", "no-referrer"},
                                {"X-Frame-Options", "DENY"}});
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return screen(req, res) ? httplib::Server::HandlerResponse::Handled : httplib::Server::HandlerResponse::Unhandled;
  });
  if (api_) routeDashboard();
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(health_ ? health_->read() : std::string("ok\n"), "text/plain");
  });
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
  if (api_)
    spdlog::info("dashboard on http://{}:{}/{}", host, port_, auth_.required() ? " (login: /login#token=...)" : "");
  return {};
}

void HttpEndpoint::stop() {
  stopping_ = true;  // streams end at their next poll (kStreamPoll)
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
    auto opened = openStore(asReadOnly(store_options_));
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

bool HttpEndpoint::screen(const httplib::Request& req, httplib::Response& res) const {
  if (req.method != "GET" && req.method != "HEAD") {
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_content("read-only: only GET and HEAD\n", "text/plain");
    return true;
  }
  // /login and its script are how a browser without the cookie gets it.
  if (req.path == "/healthz" || req.path == "/login" || req.path == "/login.js") return false;
  if (req.path == "/metrics" && http_.metrics_public) return false;
  if (!auth_.required() && api_ && req.path != "/metrics" && !isLoopbackHost(hostOf(req.get_header_value("Host")))) {
    // Without a token the dashboard is for this machine only: a page elsewhere that points
    // its own name at 127.0.0.1 (DNS rebinding) must not read it.
    res.status = 403;
    res.set_content("403: without http.token_file the dashboard answers only to localhost or 127.0.0.1\n",
                    "text/plain");
    return true;
  }
  if (auth_.allows(req.get_header_value("Authorization"), req.get_header_value("Cookie"))) return false;
  res.status = 401;
  res.set_header("WWW-Authenticate", "Bearer realm=\"flotilla\"");
  res.set_content(
      "401: this needs the dashboard token: send 'Authorization: Bearer TOKEN', or open /login#token=TOKEN "
      "once in a browser (http.token_file in coordinator.toml)\n",
      "text/plain");
  return true;
}

void HttpEndpoint::routeDashboard() {
  auto asset = [](const httplib::Request& req, httplib::Response& res) {
    const DashboardAsset* a = findDashboardAsset(req.path);
    if (!a) {
      res.status = 404;
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(a->body), std::string(a->content_type));
  };
  for (const auto& a : dashboardAssets()) server_->Get(std::string(a.path), asset);
  server_->Get("/", asset);
  // /login#token=TOKEN: the page (login.js) sends the fragment's token as a bearer token and
  // gets the cookie (204); /login?token=TOKEN, the older form, puts the token in the URL.
  server_->Get("/login", [this](const httplib::Request& req, httplib::Response& res) {
    if (!auth_.required()) {
      res.set_redirect("/", 303);
      return;
    }
    res.set_header("Cache-Control", "no-store");
    const std::string authorization = req.get_header_value("Authorization");
    if (!req.has_param("token") && authorization.empty()) {
      const DashboardAsset* page = findDashboardAsset("/login.html");
      res.set_content(std::string(page->body), std::string(page->content_type));
      return;
    }
    const bool ok = req.has_param("token") ? auth_.matches(req.get_param_value("token"))
                                           : auth_.matches(bearerToken(authorization));
    if (!ok) {
      res.status = 401;
      res.set_content("401: wrong or missing token\n", "text/plain");
      return;
    }
    res.set_header("Set-Cookie", auth_.sessionCookie());
    if (req.has_param("token")) {
      res.set_redirect("/", 303);
    } else {
      res.status = 204;
    }
  });
  server_->Get("/api/rollouts",
               [this](const httplib::Request&, httplib::Response& res) { sendJson(res, api_->rollouts()); });
  server_->Get(R"(/api/rollouts/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    sendJson(res, api_->rollout(req.matches[1]));
  });
  server_->Get("/api/fleet", [this](const httplib::Request&, httplib::Response& res) { sendJson(res, api_->fleet()); });
  server_->Get(R"(/api/apps/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    sendJson(res, api_->app(req.matches[1]));
  });
  server_->Get("/api/delivery", [this](const httplib::Request& req, httplib::Response& res) {
    int days = kDefaultDeliveryDays;
    try {
      if (req.has_param("days")) days = std::clamp(std::stoi(req.get_param_value("days")), 1, kMaxDeliveryDays);
    } catch (const std::exception&) {
      days = kDefaultDeliveryDays;
    }
    sendJson(res, api_->delivery(days, common::toUnixMillis(std::chrono::system_clock::now())));
  });
  server_->Get("/api/stream", [this](const httplib::Request&, httplib::Response& res) { stream(res); });
}

// Server-Sent Events: "change" with the feed's versions ({"version", "rollouts", "agents",
// "set"}: dashboard_feed.h) at once, then whenever they grow;
// a comment every kKeepAlive otherwise. Ends when the endpoint stops or the client is gone.
void HttpEndpoint::stream(httplib::Response& res) {
  if (++streams_ > kMaxStreams) {
    --streams_;
    res.status = 503;
    res.set_header("Retry-After", "5");
    res.set_content("too many event streams\n", "text/plain");
    return;
  }
  res.set_header("Cache-Control", "no-store");
  struct State {
    std::uint64_t sent = 0;
    bool first = true;
    std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
  };
  auto state = std::make_shared<State>();
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, state](std::size_t, httplib::DataSink& sink) {
        if (stopping_ || feed_->closed()) {
          sink.done();
          return true;
        }
        const auto version = state->first ? feed_->read().version : feed_->waitChange(state->sent, kStreamPoll);
        std::string out;
        if (state->first || version > state->sent) {
          const auto now = feed_->read();
          const nlohmann::json change{{"version", now.version},
                                      {"rollouts", now.rollouts_version},
                                      {"agents", now.agents_version},
                                      {"set", now.set_version}};
          out = (state->first ? std::string("retry: 1000\n") : std::string()) +
                "event: change\ndata: " + change.dump() + "\n\n";
          state->sent = now.version;
          state->first = false;
        } else if (std::chrono::steady_clock::now() - state->last_write >= kKeepAlive) {
          out = ": keep-alive\n\n";
        } else {
          return true;
        }
        state->last_write = std::chrono::steady_clock::now();
        return sink.write(out.data(), out.size());
      },
      [this](bool) { --streams_; });
}

}  // namespace flotilla::coordinator
