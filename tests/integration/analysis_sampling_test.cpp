// A real agent samples an app's /metrics when a (fake) coordinator sends a
// SampleRequest, and its Samples come back over the session; a request with
// duration 0 stops it. The app is a cpp-httplib server on loopback.
#include <httplib.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "flotilla/protocol/messages.h"
#include "support/cluster.h"
#include "support/fake_coordinator.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
namespace proto = flotilla::protocol;

namespace {

// /metrics: a request counter that grows by 50 per scrape, 5 of them errors.
class MetricsApp {
 public:
  MetricsApp() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      const int n = ++scrapes_;
      res.set_content("# TYPE req_total counter\nreq_total{code=\"200\"} " + std::to_string(45 * n) +
                          "\nreq_total{code=\"500\"} " + std::to_string(5 * n) + "\n",
                      "text/plain; version=0.0.4");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~MetricsApp() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/metrics"; }
  int scrapes() const { return scrapes_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> scrapes_{0};
};

proto::SampleRequest errorRatioRequest(const std::string& url, std::int64_t duration_ms) {
  proto::SampleRequest r;
  r.rollout_id = "web-7";
  r.app = "web";
  r.wave = 1;
  r.role = "canary";
  r.interval_ms = 200;
  r.duration_ms = duration_ms;
  proto::ScrapeMetric m;
  m.name = "error_ratio";
  m.url = url;
  m.kind = 0;
  m.series = R"(req_total{code=~"5.."})";
  m.per = "req_total";
  r.metrics = {m};
  return r;
}

std::size_t sampleCount(const FakeCoordinator& fake) {
  std::size_t n = 0;
  for (const auto& b : fake.samples) n += b.samples.size();
  return n;
}

}  // namespace

TEST_CASE("analysis: a real agent samples /metrics on request and sends the samples", "[integration][analysis]") {
  MetricsApp app;
  FakeSetup s;
  s.fake->sendRaw(proto::encode(errorRatioRequest(app.url(), 60000)));
  REQUIRE(s.fake->pumpUntil([&] { return sampleCount(*s.fake) >= 3; }, 15s));
  for (const auto& b : s.fake->samples) {
    CHECK(b.rollout_id == "web-7");
    CHECK(b.role == "canary");
    CHECK(b.failed_scrapes == 0);
    for (const auto& x : b.samples) {
      CHECK(x.metric == "error_ratio");
      CHECK(x.value == Approx(0.1));
      CHECK(x.den == 50);
    }
  }
  s.fake->sendRaw(proto::encode(errorRatioRequest(app.url(), 0)));
  // Once stopped, scrapes stop: wait until two intervals pass with none.
  int seen = app.scrapes();
  auto quiet_since = std::chrono::steady_clock::now();
  REQUIRE(s.fake->pumpUntil(
      [&] {
        if (app.scrapes() != seen) {
          seen = app.scrapes();
          quiet_since = std::chrono::steady_clock::now();
        }
        return std::chrono::steady_clock::now() - quiet_since > 600ms;
      },
      10s));
  CHECK(s.fake->stillHeartbeats());
}
