#pragma once
// The coordinator's HTTP endpoint (`http.listen` in coordinator.toml): GET
// /metrics in Prometheus text format, GET /healthz and, when http.dashboard is
// on, the read-only dashboard (docs/dashboard.md): its files, its JSON under
// /api/ (DashboardApi) and a Server-Sent Events stream of changes at
// /api/stream. Only GET and HEAD are served (anything else is 405); with
// http.token_file every path but /healthz (and /metrics when
// http.metrics_public) needs the token or its session cookie (HttpAuth). Every
// response carries a strict Content-Security-Policy. It runs on its own
// threads (cpp-httplib) and never touches the reactor's state: figures derived
// from the record come from its own store, opened read-only (no schema work, no
// write, nothing created) at the first scrape and kept for the next ones, and
// live figures (agents, hosts, refusals) from text the reactor publishes about
// once a second through LiveGauges.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/config.h"
#include "flotilla/coordinator/dashboard_api.h"
#include "flotilla/coordinator/dashboard_feed.h"
#include "flotilla/coordinator/http_auth.h"
#include "flotilla/coordinator/store.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace flotilla::coordinator {

// Thread-safe hand-over of the reactor's live gauges, already rendered.
class LiveGauges {
 public:
  LiveGauges() = default;
  explicit LiveGauges(std::string text) : text_(std::move(text)) {}
  void publish(std::string text) {
    std::lock_guard<std::mutex> lock(mu_);
    text_ = std::move(text);
  }
  std::string read() const {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }

 private:
  mutable std::mutex mu_;  // guards text_
  std::string text_;
};

class HttpEndpoint {
 public:
  // Without a feed (or with http.dashboard off) only /metrics and /healthz are served.
  // `store` (storeOptions(config)) is only ever opened read-only.
  HttpEndpoint(StoreOptions store, std::shared_ptr<LiveGauges> gauges, std::shared_ptr<DashboardFeed> feed = nullptr,
               HttpConfig http = {});
  ~HttpEndpoint();

  // What /healthz answers instead of "ok" (a leader or a standby says which,
  // docs/ha.md); call before start().
  void setHealth(std::shared_ptr<LiveGauges> health) { health_ = std::move(health); }
  // Binds "HOST:PORT" (loopback unless you mean otherwise) and serves in the background.
  Status start(const std::string& listen);
  // Ends every event stream, then joins the server's threads.
  void stop();
  int port() const { return port_; }

  // The whole /metrics document; public for tests.
  std::string renderMetrics();

 private:
  void routeDashboard();
  // Method, access and headers of every request, before its route (pre-routing).
  bool screen(const httplib::Request& req, httplib::Response& res) const;
  void stream(httplib::Response& res);

  StoreOptions store_options_;
  std::shared_ptr<LiveGauges> gauges_;
  std::shared_ptr<LiveGauges> health_;  // /healthz's text; nullptr = "ok"
  std::shared_ptr<DashboardFeed> feed_;
  HttpConfig http_;
  HttpAuth auth_;
  std::unique_ptr<DashboardApi> api_;  // null without the dashboard
  std::atomic<bool> stopping_{false};
  std::atomic<int> streams_{0};  // open /api/stream responses
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex render_mu_;          // one render at a time; guards store_
  std::unique_ptr<Store> store_;  // read-only; null until a scrape opens it, or after a failed read
  int port_ = 0;
};

}  // namespace flotilla::coordinator
