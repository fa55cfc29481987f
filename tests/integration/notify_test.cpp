// [[notify]] webhooks from a real coordinator with real agents to a real HTTP
// receiver the test runs (cpp-httplib on loopback): signed events in order, a
// receiver that is down gets every event once when it is back (across a
// coordinator restart too), and a rollout never waits for it.
#include <httplib.h>
#include <sodium.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "flotilla/common/crypto.h"
#include "support/cluster.h"
#include "support/http_get.h"
#include "support/prometheus.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;

namespace {

const std::string kSecret = "a-webhook-secret-of-some-length";

struct Delivery {
  std::string path, id, timestamp, signature, body;
  nlohmann::json doc;
};

// Takes POSTs on any path; while down, answers 503 to every one.
class WebhookReceiver {
 public:
  WebhookReceiver() {
    server_.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      ++attempts_;
      if (down_) {
        res.status = 503;
        return;
      }
      Delivery d{req.path,
                 req.get_header_value("X-Flotilla-Event-Id"),
                 req.get_header_value("X-Flotilla-Timestamp"),
                 req.get_header_value("X-Flotilla-Signature"),
                 req.body,
                 nlohmann::json::parse(req.body, nullptr, false)};
      delivered_.push_back(std::move(d));
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~WebhookReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  void setDown(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  int attempts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_;
  }
  std::vector<Delivery> delivered(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Delivery> out;
    for (const auto& d : delivered_)
      if (d.path == path) out.push_back(d);
    return out;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;  // guards what follows
  bool down_ = false;
  int attempts_ = 0;
  std::vector<Delivery> delivered_;
};

// The signature a receiver expects, computed here from the documented recipe.
std::string expectedSignature(const Delivery& d) {
  const std::string signed_bytes = d.timestamp + "." + d.id + "." + d.body;
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(kSecret.data()), kSecret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(signed_bytes.data()), signed_bytes.size());
  crypto_auth_hmacsha256_final(&st, mac);
  char hex[2 * sizeof mac + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return std::string("sha256=") + hex;
}

// Adds [[notify]] tables (and the secret file) to the fleet's coordinator.toml.
void configureNotify(Fleet& f, const std::string& tables) {
  const auto dir = f.dir() / "coord";
  REQUIRE(flotilla::common::writeSecretFile(dir / "notify.secret", kSecret + "\n").ok());
  std::ofstream(dir / "coordinator.toml", std::ios::app) << "\n" << tables;
}

std::string hookTable(const WebhookReceiver& r) {
  return "[[notify]]\nname = \"hook\"\nurl = \"" + r.url("/hook") +
         "\"\nevents = [\"submitted\", \"wave_succeeded\", \"wave_failed\", \"paused\", \"finished\"]\n"
         "secret_file = \"notify.secret\"\ntimeout = \"2s\"\n";
}

// kind:wave:outcome of each delivery, e.g. "wave_succeeded:0:succeeded".
std::vector<std::string> summary(const std::vector<Delivery>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) {
    const auto& j = d.doc;
    out.push_back(j.value("kind", "?") + ":" + (j["wave"].is_null() ? "-" : std::to_string(j["wave"].get<int>())) +
                  ":" + (j["outcome"].is_null() ? "-" : j["outcome"].get<std::string>()));
  }
  return out;
}

// Each delivery once, ids in increasing event order, each signed as documented.
void checkOnceInOrderSigned(const std::vector<Delivery>& ds) {
  std::set<std::string> ids;
  long long last = 0;
  for (const auto& d : ds) {
    INFO(d.body);
    CHECK(ids.insert(d.id).second);
    CHECK(std::stoll(d.id) > last);
    last = std::stoll(d.id);
    CHECK(d.doc.value("id", "") == d.id);
    CHECK(d.signature == expectedSignature(d));
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(std::abs(now - std::stoll(d.timestamp)) < 600);
  }
}

bool hasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("notify: a rollout's events reach the receiver signed and in order, Slack's format too",
          "[integration][notify]") {
  WebhookReceiver receiver;
  Fleet f;
  configureNotify(f, hookTable(receiver) + "\n[[notify]]\nname = \"slack\"\nurl = \"" + receiver.url("/slack") +
                         "\"\nevents = [\"finished\"]\nformat = \"slack\"\n\n[[notify]]\nname = \"other-app\"\n"
                         "url = \"" +
                         receiver.url("/other") + "\"\nevents = [\"submitted\"]\napps = [\"api\"]\n");
  const int http_port = freeTcpPort();
  f.startCoordinator({"http = \"127.0.0.1:" + std::to_string(http_port) + "\""});
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));

  const auto id = f.submit(f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"50%\", \"100%\"]"));
  REQUIRE(f.waitFinished(id)["state"] == "succeeded");
  const std::vector<std::string> expected{"submitted:-:-", "wave_succeeded:0:succeeded", "wave_succeeded:1:succeeded",
                                          "finished:-:succeeded"};
  REQUIRE(waitUntil([&] { return receiver.delivered("/hook").size() >= 4; }, 20s));
  REQUIRE(waitUntil([&] { return receiver.delivered("/slack").size() >= 1; }, 20s));
  const auto hook = receiver.delivered("/hook");
  CHECK(summary(hook) == expected);
  checkOnceInOrderSigned(hook);
  for (const auto& d : hook) {
    CHECK(d.doc["rollout"] == id);
    CHECK(d.doc["app"] == "web");
    CHECK(d.doc["version"] == "1");
  }

  const auto slack = receiver.delivered("/slack");
  REQUIRE(slack.size() == 1);
  CHECK(slack[0].signature.empty());  // no secret_file: unsigned
  CHECK(slack[0].doc["text"].get<std::string>().find("web 1 (rollout " + id + ") finished: succeeded") !=
        std::string::npos);
  CHECK(receiver.delivered("/other").empty());  // apps = ["api"]

  std::string metrics;
  REQUIRE(waitUntil(
      [&] {
        metrics = httpGet("http://127.0.0.1:" + std::to_string(http_port) + "/metrics").body;
        return hasLine(metrics, "flotilla_notify_delivered_total{target=\"hook\"} 4");
      },
      10s, 200ms));
  INFO(metrics);
  CHECK(hasLine(metrics, "flotilla_notify_delivered_total{target=\"slack\"} 1"));
  CHECK(hasLine(metrics, "flotilla_notify_delivered_total{target=\"other-app\"} 0"));
  CHECK(hasLine(metrics, "flotilla_notify_failed_attempts_total{target=\"hook\"} 0"));
  CHECK(hasLine(metrics, "flotilla_notify_dropped_total{target=\"hook\"} 0"));
  CHECK(hasLine(metrics, "flotilla_notify_queue_depth{target=\"hook\"} 0"));
  const auto exposition = f.dir() / "metrics.txt";
  std::ofstream(exposition) << metrics;
  if (const auto complaints = promtoolComplaints(exposition); !complaints)
    WARN("promtool not found (Debian package prometheus): exposition not linted");
  else
    CHECK(*complaints == "");
}

TEST_CASE(
    "notify: a receiver that is down gets every event once, in order, when it is back, and rollouts do not wait for it",
    "[integration][notify]") {
  WebhookReceiver receiver;
  receiver.setDown(true);
  Fleet f;
  configureNotify(f, hookTable(receiver));
  const int http_port = freeTcpPort();
  f.startCoordinator({"http = \"127.0.0.1:" + std::to_string(http_port) + "\""});
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));

  // Down for a whole rollout: it finishes all the same.
  const auto first = f.submit(f.writePlan("web", "1", f.makeRelease("1", true), kOneWaveAllAtOnce));
  REQUIRE(f.waitFinished(first, 60s)["state"] == "succeeded");
  REQUIRE(waitUntil([&] { return receiver.attempts() >= 2; }, 10s));
  CHECK(receiver.delivered("/hook").empty());
  std::string metrics;
  REQUIRE(waitUntil(
      [&] {
        metrics = httpGet("http://127.0.0.1:" + std::to_string(http_port) + "/metrics").body;
        return hasLine(metrics, "flotilla_notify_queue_depth{target=\"hook\"} 3");
      },
      10s, 200ms));
  CHECK_FALSE(hasLine(metrics, "flotilla_notify_failed_attempts_total{target=\"hook\"} 0"));

  // Back: the three events come, once each, in order.
  receiver.setDown(false);
  REQUIRE(waitUntil([&] { return receiver.delivered("/hook").size() >= 3; }, 70s, 100ms));

  // Down again, for a failed rollout and a coordinator restart: the events
  // recorded meanwhile are delivered by the restarted coordinator.
  receiver.setDown(true);
  const auto second = f.submit(f.writePlan("web", "2", f.makeRelease("2", false), kOneWaveAllAtOnce));
  const auto st = f.waitFinished(second, 60s)["state"];
  CHECK(st != "succeeded");
  f.stopCoordinator();
  receiver.setDown(false);
  f.startCoordinator();
  REQUIRE(waitUntil([&] { return receiver.delivered("/hook").size() >= 6; }, 30s, 100ms));
  // Nothing more comes (no event twice).
  CHECK_FALSE(waitUntil([&] { return receiver.delivered("/hook").size() > 6; }, 2s, 100ms));

  const auto all = receiver.delivered("/hook");
  CHECK(summary(all) == std::vector<std::string>{"submitted:-:-", "wave_succeeded:0:succeeded", "finished:-:succeeded",
                                                 "submitted:-:-", "wave_failed:0:failed",
                                                 "finished:-:" + st.get<std::string>()});
  checkOnceInOrderSigned(all);
  CHECK(all[0].doc["rollout"] == first);
  CHECK(all[3].doc["rollout"] == second);
}
