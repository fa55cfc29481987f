// The sampler thread against a real HTTP server on loopback (cpp-httplib,
// port picked at run time): samples arrive, failed scrapes are counted and
// sampling goes on, foreign hosts are refused, requests are replaced and
// stopped, and stop() is bounded by one scrape timeout.

#include "flotilla/agent/sampler.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "flotilla/agent/http_get.h"

using namespace std::chrono_literals;
using flotilla::agent::isLoopbackHost;
using flotilla::agent::Sampler;
using flotilla::agent::SamplerOptions;
using flotilla::common::RealClock;
using flotilla::protocol::SampleRequest;
using flotilla::protocol::Samples;
using flotilla::protocol::ScrapeMetric;
using Clock = std::chrono::steady_clock;

namespace {

// An app with /metrics (a counter that grows by 10 per scrape), /500, /slow
// (answers after `slow` unless the server stops), /garbage and /huge.
class App {
 public:
  App() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      const int n = ++scrapes_;
      res.set_content("# TYPE req_total counter\nreq_total{code=\"200\"} " + std::to_string(10 * n) + "\ninflight 4\n",
                      "text/plain; version=0.0.4");
    });
    server_.Get("/500", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("req_total 1\n", "text/plain");
    });
    server_.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      ++slow_started_;
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, slow, [this] { return stopping_; });
      res.set_content("req_total 1\n", "text/plain");
    });
    server_.Get("/garbage", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("<html>this is { not metrics</html>\n", "text/html");
    });
    server_.Get("/huge", [](const httplib::Request&, httplib::Response& res) {
      std::string body;
      while (body.size() < (256u << 10)) body += "pad_total{i=\"" + std::to_string(body.size()) + "\"} 1\n";
      res.set_content(body, "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~App() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  int scrapes() const { return scrapes_; }
  int slowStarted() const { return slow_started_; }
  std::chrono::milliseconds slow{5000};

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> scrapes_{0};
  std::atomic<int> slow_started_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

// Collects the batches the sampler hands out.
class Batches {
 public:
  Sampler::SinkFactory factory() {
    return [this] { return [this](Samples s) { add(std::move(s)); }; };
  }
  void add(Samples s) {
    std::lock_guard lock(mu_);
    all_.push_back(std::move(s));
    cv_.notify_all();
  }
  // Waits up to `limit` for `pred` over the batches so far.
  bool waitFor(const std::function<bool(const std::vector<Samples>&)>& pred, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return pred(all_); });
  }
  std::vector<Samples> all() {
    std::lock_guard lock(mu_);
    return all_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Samples> all_;
};

std::size_t samplesOf(const std::vector<Samples>& batches, const std::string& metric, const std::string& rollout = "") {
  std::size_t n = 0;
  for (const auto& b : batches)
    if (rollout.empty() || b.rollout_id == rollout)
      for (const auto& s : b.samples) n += s.metric == metric;
  return n;
}

std::uint32_t failedSoFar(const std::vector<Samples>& batches) {
  return batches.empty() ? 0 : batches.back().failed_scrapes;
}

ScrapeMetric metric(const std::string& name, const std::string& path, std::uint8_t kind = 0,
                    const std::string& series = "req_total") {
  ScrapeMetric m;
  m.name = name;
  m.url = "http://127.0.0.1:${PORT}" + path;
  m.kind = kind;
  m.series = series;
  return m;
}

SampleRequest request(std::vector<ScrapeMetric> metrics, std::int64_t interval_ms = 100,
                      std::int64_t duration_ms = 60000, const std::string& rollout = "r1") {
  SampleRequest r;
  r.rollout_id = rollout;
  r.app = "web";
  r.wave = 2;
  r.role = "canary";
  r.interval_ms = interval_ms;
  r.duration_ms = duration_ms;
  r.metrics = std::move(metrics);
  return r;
}

// A loopback port with nothing listening on it.
int closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  const auto until = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace

TEST_CASE("loopback hosts are 127/8, ::1 and localhost", "[agent][sampler]") {
  CHECK(isLoopbackHost("127.0.0.1"));
  CHECK(isLoopbackHost("127.8.9.10"));
  CHECK(isLoopbackHost("::1"));
  CHECK(isLoopbackHost("LocalHost"));
  CHECK_FALSE(isLoopbackHost("128.0.0.1"));
  CHECK_FALSE(isLoopbackHost("10.0.0.1"));
  CHECK_FALSE(isLoopbackHost("::2"));
  CHECK_FALSE(isLoopbackHost("localhost.example.com"));
  CHECK_FALSE(isLoopbackHost("127.0.0.1.example.com"));
}

TEST_CASE("sampler: rates and gauges of a real /metrics arrive in batches", "[agent][sampler]") {
  App app;
  Batches batches;
  Sampler sampler({{"PORT", std::to_string(app.port())}}, RealClock::instance());
  sampler.start(batches.factory());
  sampler.request(request({metric("rps", "/metrics"), metric("inflight", "/metrics", 1, "inflight")}));
  REQUIRE(batches.waitFor([](const auto& b) { return samplesOf(b, "rps") >= 3; }));
  auto all = batches.all();
  CHECK(all[0].rollout_id == "r1");
  CHECK(all[0].app == "web");
  CHECK(all[0].wave == 2);
  CHECK(all[0].role == "canary");
  CHECK(failedSoFar(all) == 0);
  for (const auto& b : all)
    for (const auto& s : b.samples) {
      if (s.metric == "inflight") CHECK(s.value == 4);
      if (s.metric != "rps") continue;
      // Each scrape adds 10 (one scrape per tick, shared by both metrics).
      CHECK(s.num == 10);
      CHECK(s.value > 0);
      CHECK(s.at_ms > 0);
    }
  CHECK(samplesOf(all, "inflight") >= samplesOf(all, "rps"));
  CHECK(sampler.activeApps() == std::vector<std::string>{"web"});
}

TEST_CASE("sampler: failed scrapes are counted and sampling goes on", "[agent][sampler]") {
  App app;
  app.slow = 3000ms;
  const int closed = closedPort();
  SamplerOptions options;
  options.max_body_bytes = 64u << 10;
  Batches batches;
  Sampler sampler({{"PORT", std::to_string(app.port())}, {"CLOSED", std::to_string(closed)}}, RealClock::instance(),
                  options);
  sampler.start(batches.factory());
  auto refused = metric("refused", "/metrics");
  refused.url = "http://127.0.0.1:${CLOSED}/metrics";
  sampler.request(request({metric("ok", "/metrics"), metric("e500", "/500"), metric("slow", "/slow"),
                           metric("huge", "/huge"), refused, metric("garbage", "/garbage")},
                          200));
  // Per tick: 500, slow (timeout 200 ms), huge (over 64 KiB), refused, unparsable: 5 failures.
  REQUIRE(batches.waitFor([](const auto& b) { return samplesOf(b, "ok") >= 3 && failedSoFar(b) >= 15; }, 20s));
  auto all = batches.all();
  for (const char* failing : {"e500", "slow", "huge", "refused", "garbage"}) CHECK(samplesOf(all, failing) == 0);
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i].failed_scrapes >= all[i - 1].failed_scrapes);
}

TEST_CASE("sampler: a URL that is not loopback after expansion is refused", "[agent][sampler]") {
  App app;
  Batches batches;
  Sampler sampler({{"PORT", std::to_string(app.port())}, {"HOST", "10.1.2.3"}}, RealClock::instance());
  sampler.start(batches.factory());
  auto foreign = metric("foreign", "/metrics");
  foreign.url = "http://${HOST}:${PORT}/metrics";
  auto unknown = metric("unknown", "/metrics");
  unknown.url = "http://127.0.0.1:${NOPE}/metrics";
  sampler.request(request({foreign, unknown}));
  REQUIRE(batches.waitFor([](const auto& b) { return failedSoFar(b) >= 4; }));
  CHECK(samplesOf(batches.all(), "foreign") == 0);
  CHECK(app.scrapes() == 0);
}

TEST_CASE("sampler: a new request for the app replaces the old one", "[agent][sampler]") {
  App app;
  Batches batches;
  Sampler sampler({{"PORT", std::to_string(app.port())}}, RealClock::instance());
  sampler.start(batches.factory());
  sampler.request(request({metric("rps", "/metrics")}, 100, 60000, "r1"));
  REQUIRE(batches.waitFor([](const auto& b) { return samplesOf(b, "rps", "r1") >= 1; }));
  sampler.request(request({metric("rps", "/metrics")}, 100, 60000, "r2"));
  REQUIRE(batches.waitFor([](const auto& b) { return samplesOf(b, "rps", "r2") >= 3; }));
  auto all = batches.all();
  bool replaced = false;
  for (const auto& b : all) {
    if (b.rollout_id == "r2") replaced = true;
    if (replaced) CHECK(b.rollout_id == "r2");
  }
}

TEST_CASE("sampler: duration 0 stops sampling, and a request ends by itself", "[agent][sampler]") {
  App app;
  Batches batches;
  Sampler sampler({{"PORT", std::to_string(app.port())}}, RealClock::instance());
  sampler.start(batches.factory());
  SECTION("duration 0") {
    sampler.request(request({metric("rps", "/metrics")}));
    REQUIRE(batches.waitFor([](const auto& b) { return samplesOf(b, "rps") >= 2; }));
    sampler.request(request({}, 100, 0));
  }
  SECTION("the duration passes") { sampler.request(request({metric("rps", "/metrics")}, 100, 500)); }
  REQUIRE(eventually([&] { return app.scrapes() > 0 && sampler.activeApps().empty(); }));
  const int scrapes = app.scrapes();
  // No tick may scrape again: give it several intervals to (wrongly) do so.
  CHECK_FALSE(eventually([&] { return app.scrapes() != scrapes; }, 500ms));
}

TEST_CASE("sampler: stop() returns within one scrape timeout of a hanging /metrics", "[agent][sampler]") {
  App app;
  app.slow = 30s;
  Batches batches;
  Sampler sampler({{"PORT", std::to_string(app.port())}}, RealClock::instance());
  sampler.start(batches.factory());
  sampler.request(request({metric("slow", "/slow")}, 2000));
  REQUIRE(eventually([&] { return app.slowStarted() > 0; }));
  const auto before = Clock::now();
  sampler.stop();
  CHECK(Clock::now() - before < 3s);
}
