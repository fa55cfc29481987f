// OFREP over a live flag set (ofrep.h): the shapes and statuses of single and
// bulk evaluations, `$flotilla` in the context, the freshness metadata, ETags;
// and the server (ofrep_server.h) on loopback: routes by app, the body bound,
// /metrics, and the FlagStore's sense of how long the coordinator is silent.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/agent/flag_store.h"
#include "flotilla/agent/ofrep.h"
#include "flotilla/agent/ofrep_server.h"
#include "support/fake_clock.h"

namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using flotilla::agent::evaluateAll;
using flotilla::agent::evaluateOne;
using flotilla::agent::FlagStore;
using flotilla::agent::LiveFlagSet;
using flotilla::agent::OfrepHost;
using flotilla::agent::OfrepNow;

constexpr const char* kSet = R"({
  "metadata": {"flagSetId": "shop"},
  "flags": {
    "new-ui": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
               "targeting": {"if": [{"==": [{"var": "$flotilla.labels.zone"}, "eu"]}, "on", null]},
               "metadata": {"owner": "web-team"}},
    "color": {"state": "ENABLED", "variants": {"red": "red", "blue": "blue"}, "defaultVariant": "red",
              "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "blue", null]}},
    "dark": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"},
    "broken": {"state": "ENABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a",
               "targeting": {"var": "pick"}}
  }
})";

std::shared_ptr<const LiveFlagSet> liveSet(const std::string& version = "f-1") {
  auto set = flotilla::flags::FlagSet::parse(kSet);
  REQUIRE(set.ok());
  return std::make_shared<const LiveFlagSet>(LiveFlagSet{"web", version, std::move(*set), {}});
}

OfrepHost host(const std::string& zone = "eu") { return OfrepHost{"h1", {{"zone", zone}, {"role", "web"}}}; }

OfrepNow now() {
  OfrepNow n;
  n.unix_seconds = 1764547200;
  n.set_age_seconds = 42;
  n.coordinator_silent_s = 7;
  return n;
}

Json parsed(const std::string& body) { return Json::parse(body); }

}  // namespace

TEST_CASE("OFREP single evaluation: value, variant, reason and metadata with freshness", "[agent][flags][ofrep]") {
  auto set = liveSet();
  auto r = evaluateOne(set.get(), "web", "color", R"({"context":{"targetingKey":"u1","plan":"pro"}})", host(), now());
  REQUIRE(r.status == 200);
  auto j = parsed(r.body);
  CHECK(j["key"] == "color");
  CHECK(j["value"] == "blue");
  CHECK(j["variant"] == "blue");
  CHECK(j["reason"] == "TARGETING_MATCH");
  CHECK(j["metadata"]["flagSetId"] == "shop");
  CHECK(j["metadata"]["flotillaFlagSetVersion"] == "f-1");
  CHECK(j["metadata"]["flotillaFlagSetAgeSeconds"] == 42);
  CHECK(j["metadata"]["flotillaCoordinatorSilentSeconds"] == 7);
  CHECK(r.evaluations == 1);

  auto plain = parsed(evaluateOne(set.get(), "web", "color", R"({"context":{}})", host(), now()).body);
  CHECK(plain["value"] == "red");
  CHECK(plain["reason"] == "DEFAULT");
}

TEST_CASE("OFREP targeting sees this host's labels as $flotilla, whatever the request says", "[agent][flags][ofrep]") {
  auto set = liveSet();
  auto eu =
      parsed(evaluateOne(set.get(), "web", "new-ui", R"({"context":{"targetingKey":"u1"}})", host("eu"), now()).body);
  CHECK(eu["value"] == true);
  CHECK(eu["metadata"]["owner"] == "web-team");
  auto us =
      parsed(evaluateOne(set.get(), "web", "new-ui", R"({"context":{"targetingKey":"u1"}})", host("us"), now()).body);
  CHECK(us["value"] == false);
  auto forged = parsed(evaluateOne(set.get(), "web", "new-ui", R"({"context":{"$flotilla":{"labels":{"zone":"eu"}}}})",
                                   host("us"), now())
                           .body);
  CHECK(forged["value"] == false);
}

TEST_CASE("OFREP errors: unknown flag 404, no set 404, bad body 400, failing rule 400", "[agent][flags][ofrep]") {
  auto set = liveSet();
  auto missing = evaluateOne(set.get(), "web", "nope", "{}", host(), now());
  CHECK(missing.status == 404);
  CHECK(parsed(missing.body)["errorCode"] == "FLAG_NOT_FOUND");
  CHECK(parsed(missing.body)["key"] == "nope");

  auto no_set = evaluateOne(nullptr, "api", "new-ui", "{}", host(), now());
  CHECK(no_set.status == 404);
  CHECK(parsed(no_set.body)["errorCode"] == "FLAG_NOT_FOUND");
  CHECK(parsed(no_set.body)["metadata"]["flotillaFlagSetVersion"] == "");

  for (const char* body : {"not json", "[1]", R"({"context": 3})"}) {
    auto bad = evaluateOne(set.get(), "web", "new-ui", body, host(), now());
    INFO(body);
    CHECK(bad.status == 400);
    CHECK(parsed(bad.body)["errorCode"] == "INVALID_CONTEXT");
  }
  auto failing = evaluateOne(set.get(), "web", "broken", R"({"context":{"pick":"c"}})", host(), now());
  CHECK(failing.status == 400);
  CHECK(parsed(failing.body)["errorCode"] == "GENERAL");
  CHECK_FALSE(parsed(failing.body)["errorDetails"].get<std::string>().empty());

  auto disabled = parsed(evaluateOne(set.get(), "web", "dark", "", host(), now()).body);
  CHECK(disabled["reason"] == "DISABLED");
  CHECK_FALSE(disabled.contains("value"));
}

TEST_CASE("OFREP bulk evaluation: every flag, an ETag per set and context, 304 when it matches",
          "[agent][flags][ofrep]") {
  auto set = liveSet();
  const std::string body = R"({"context":{"targetingKey":"u1","plan":"pro","pick":"c"}})";
  auto r = evaluateAll(set.get(), "web", body, "", host(), now());
  REQUIRE(r.status == 200);
  auto j = parsed(r.body);
  REQUIRE(j["flags"].size() == 4);
  CHECK(r.evaluations == 4);
  CHECK(j["metadata"]["flotillaFlagSetVersion"] == "f-1");
  bool saw_error = false;
  for (const auto& f : j["flags"]) {
    if (f["key"] == "color") CHECK(f["value"] == "blue");
    if (f["key"] == "broken") saw_error = f.contains("errorCode");
  }
  CHECK(saw_error);
  REQUIRE(r.etag.size() > 2);

  auto again = evaluateAll(set.get(), "web", body, r.etag, host(), now());
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(evaluateAll(set.get(), "web", body, "\"x\", W/" + r.etag, host(), now()).status == 304);
  CHECK(evaluateAll(set.get(), "web", R"({"context":{"plan":"free"}})", r.etag, host(), now()).status == 200);
  auto next = liveSet("f-2");
  CHECK(evaluateAll(next.get(), "web", body, r.etag, host(), now()).status == 200);

  auto bad = evaluateAll(set.get(), "web", "nope", "", host(), now());
  CHECK(bad.status == 400);
  CHECK(parsed(bad.body)["errorCode"] == "INVALID_CONTEXT");
  CHECK(parsed(evaluateAll(nullptr, "api", "{}", "", host(), now()).body)["flags"].empty());
}

TEST_CASE("FlagStore: coordinator silence counts from the lost session, zero while in one", "[agent][flags]") {
  flotilla::testing::FakeClock clock;
  FlagStore store(clock.steadyNow());
  clock.advance(3s);
  CHECK(store.coordinatorSilence(clock.steadyNow()) == 3s);
  store.sessionChanged(true, clock.steadyNow());
  clock.advance(10s);
  CHECK(store.coordinatorSilence(clock.steadyNow()) == 0s);
  store.sessionChanged(false, clock.steadyNow());
  clock.advance(5s);
  store.sessionChanged(false, clock.steadyNow());  // still silent: counted from the loss
  clock.advance(2s);
  CHECK(store.coordinatorSilence(clock.steadyNow()) == 7s);
}

TEST_CASE("OFREP server on loopback: routes by app, bounds the body, serves /metrics", "[agent][flags][ofrep]") {
  flotilla::testing::FakeClock clock;
  FlagStore store(clock.steadyNow());
  auto set = flotilla::flags::FlagSet::parse(kSet);
  REQUIRE(set.ok());
  store.publish(std::make_shared<const LiveFlagSet>(LiveFlagSet{"web", "f-1", std::move(*set), clock.systemNow()}));
  clock.advance(90s);
  flotilla::agent::OfrepServer server(store, host(), clock);
  REQUIRE(server.start("127.0.0.1", 0).ok());
  httplib::Client client("127.0.0.1", server.port());

  auto one =
      client.Post("/apps/web/ofrep/v1/evaluate/flags/color", R"({"context":{"plan":"pro"}})", "application/json");
  REQUIRE(one);
  CHECK(one->status == 200);
  CHECK(one->get_header_value("Content-Type").find("application/json") == 0);
  CHECK(parsed(one->body)["value"] == "blue");
  CHECK(parsed(one->body)["metadata"]["flotillaFlagSetAgeSeconds"] == 90);
  CHECK(parsed(one->body)["metadata"]["flotillaCoordinatorSilentSeconds"] == 90);

  auto other = client.Post("/apps/api/ofrep/v1/evaluate/flags/color", "{}", "application/json");
  REQUIRE(other);
  CHECK(other->status == 404);

  auto bulk = client.Post("/apps/web/ofrep/v1/evaluate/flags", "{}", "application/json");
  REQUIRE(bulk);
  CHECK(bulk->status == 200);
  httplib::Headers conditional{{"If-None-Match", bulk->get_header_value("ETag")}};
  auto unchanged = client.Post("/apps/web/ofrep/v1/evaluate/flags", conditional, "{}", "application/json");
  REQUIRE(unchanged);
  CHECK(unchanged->status == 304);

  const std::string huge = R"({"context":{"pad":")" + std::string(flotilla::agent::kMaxOfrepBody, 'x') + "\"}}";
  auto too_big = client.Post("/apps/web/ofrep/v1/evaluate/flags/color", huge, "application/json");
  REQUIRE(too_big);
  CHECK(too_big->status == 413);

  store.countRefused();
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK_THAT(metrics->body, Catch::Contains("flotilla_agent_flag_set_age_seconds{app=\"web\"} 90\n"));
  CHECK_THAT(metrics->body, Catch::Contains("flotilla_agent_coordinator_silent_seconds 90\n"));
  CHECK_THAT(metrics->body, Catch::Contains("flotilla_agent_flag_sets_refused_total 1\n"));
  CHECK_THAT(metrics->body, Catch::Contains("flotilla_agent_ofrep_evaluations_total 5\n"));
  server.stop();
}

TEST_CASE("OFREP refuses a context nested past the evaluator's limit without recursing into it",
          "[agent][flags][ofrep]") {
  auto set = liveSet();
  // As deep as a body within kMaxOfrepBody can nest.
  const std::size_t depth = flotilla::agent::kMaxOfrepBody / 2 - 16;
  const std::string body = R"({"context":{"a":)" + std::string(depth, '[') + std::string(depth, ']') + "}}";
  auto bulk = evaluateAll(set.get(), "web", body, "", host(), now());
  CHECK(bulk.status == 400);
  CHECK(parsed(bulk.body)["errorCode"] == "INVALID_CONTEXT");
  auto one = evaluateOne(set.get(), "web", "new-ui", body, host(), now());
  CHECK(one.status == 400);
  CHECK(parsed(one.body)["errorCode"] == "INVALID_CONTEXT");
  const std::string nested = R"({"context":{"a":)" + std::string(20, '[') + std::string(20, ']') + "}}";
  CHECK(evaluateOne(set.get(), "web", "new-ui", nested, host(), now()).status == 200);
}

namespace {

std::size_t openFds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// A connection the kernel completed within 300 ms (-1 when it did not: the
// server's backlog is full because it stopped accepting).
int connectTo(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof err;
  if (::poll(&p, 1, 300) != 1 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

TEST_CASE("OFREP server: idle connections cannot make the agent hold a descriptor each", "[agent][flags][ofrep]") {
  flotilla::testing::FakeClock clock;
  FlagStore store(clock.steadyNow());
  flotilla::agent::OfrepServer server(store, host(), clock);
  REQUIRE(server.start("127.0.0.1", 0).ok());
  const std::size_t before = openFds();
  // Connections that send nothing, until the kernel completes no more (the
  // server stopped accepting) or there are 200.
  std::vector<int> idle;
  for (int misses = 0; idle.size() < 200 && misses < 3;) {
    const int fd = connectTo(server.port());
    if (fd < 0)
      ++misses;
    else
      idle.push_back(fd);
  }
  // The server holds at most its threads, a short queue of accepted
  // connections and the one its listener waits with; the rest wait in the kernel.
  const auto server_held = [&] { return openFds() - before - idle.size(); };
  const std::size_t bound = 40;
  std::size_t most = 0;
  const auto deadline = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < deadline && most <= bound) {
    most = std::max(most, server_held());
    std::this_thread::sleep_for(20ms);
  }
  INFO(idle.size() << " connections, the server held " << most << " descriptors");
  CHECK(most <= bound);
  for (int fd : idle) ::close(fd);
  // Once they are gone it answers again.
  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(1s);
  client.set_read_timeout(2s);
  bool answered = false;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!answered && std::chrono::steady_clock::now() < until) {
    auto r = client.Get("/metrics");
    answered = r && r->status == 200;
  }
  CHECK(answered);
  server.stop();
}

TEST_CASE("OFREP server at the agent's start answers from the sets on disk, not from an empty store",
          "[agent][flags][ofrep]") {
  flotilla::testing::FakeClock clock;
  FlagStore store(clock.steadyNow(), false);  // the worker has not recovered yet
  flotilla::agent::OfrepServer server(store, host(), clock);
  REQUIRE(server.start("127.0.0.1", 0).ok());
  std::thread worker([&] {
    std::this_thread::sleep_for(300ms);  // the worker's recovery, reading the journal
    auto set = flotilla::flags::FlagSet::parse(kSet);
    store.publish(std::make_shared<const LiveFlagSet>(LiveFlagSet{"web", "f-1", std::move(*set), clock.systemNow()}));
    store.markLoaded();
  });
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(30s);
  auto bulk = client.Post("/apps/web/ofrep/v1/evaluate/flags", "{}", "application/json");
  auto one = client.Post("/apps/web/ofrep/v1/evaluate/flags/color", "{}", "application/json");
  worker.join();
  REQUIRE(bulk);
  CHECK(parsed(bulk->body)["flags"].size() == 4);
  REQUIRE(one);
  CHECK(one->status == 200);
  server.stop();
}
