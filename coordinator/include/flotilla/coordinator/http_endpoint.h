#pragma once
// The coordinator's HTTP endpoint (`http.listen` in coordinator.toml): GET
// /metrics in Prometheus text format and GET /healthz. It runs on its own
// threads (cpp-httplib) and never touches the reactor's state: figures derived
// from the record come from its own store, opened read-only (no schema work, no
// write, nothing created) at the first scrape and kept for the next ones, and
// live figures (agents, hosts, refusals) from text the reactor publishes about
// once a second through LiveGauges.

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/store.h"

namespace httplib {
class Server;
}

namespace flotilla::coordinator {

// Thread-safe hand-over of the reactor's live gauges, already rendered.
class LiveGauges {
 public:
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
  HttpEndpoint(std::string store_file, std::shared_ptr<LiveGauges> gauges);
  ~HttpEndpoint();

  // Binds "HOST:PORT" (loopback unless you mean otherwise) and serves in the background.
  Status start(const std::string& listen);
  void stop();
  int port() const { return port_; }

  // The whole /metrics document; public for tests.
  std::string renderMetrics();

 private:
  std::string store_file_;
  std::shared_ptr<LiveGauges> gauges_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex render_mu_;          // one render at a time; guards store_
  std::unique_ptr<Store> store_;  // read-only; null until a scrape opens it, or after a failed read
  int port_ = 0;
};

}  // namespace flotilla::coordinator
