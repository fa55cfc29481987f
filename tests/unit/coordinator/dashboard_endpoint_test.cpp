// The dashboard on the HTTP endpoint (docs/dashboard.md): its JSON documents
// from the store and the reactor's feed, access with the token or its cookie,
// read-only methods, security headers, and an event stream that ends when the
// endpoint stops.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "flotilla/coordinator/http_endpoint.h"
#include "flotilla/coordinator/sqlite_store.h"
#include "support/temp_dir.h"

using namespace flotilla::coordinator;
namespace control = flotilla::protocol::control;
using flotilla::testing::TempDir;
using nlohmann::json;

namespace {

const std::string kToken = "0123456789abcdef0123456789abcdef";

RolloutRecord record(const std::string& id, const std::string& state, std::string snapshot) {
  RolloutRecord r;
  r.id = id;
  r.app = "web";
  r.version = id.substr(4);
  r.state = state;
  r.submitted_by = "ann";
  r.submitted_at_ms = 1'000;
  r.started_at_ms = 1'000;
  r.finished_at_ms = state == "running" ? 0 : 3'000;
  r.snapshot = std::move(snapshot);
  return r;
}

struct Fixture {
  TempDir dir;
  std::shared_ptr<DashboardFeed> feed = std::make_shared<DashboardFeed>();
  std::unique_ptr<HttpEndpoint> endpoint;

  explicit Fixture(bool metrics_public = false, std::string token = kToken) {
    auto store = SqliteStore::open(dir.path() / "coordinator.db");
    REQUIRE(store.ok());
    REQUIRE((*store)->insertRollout(record("web-1", "succeeded", R"({"waves":[{"index":0,"hosts":2}]})")).ok());
    // A malformed snapshot is shown as empty, never an error.
    REQUIRE((*store)->insertRollout(record("web-2", "failed", R"({"waves": 7, "current_wave": "x"})")).ok());
    REQUIRE((*store)->insertRollout(record("web-3", "running", "")).ok());
    control::RolloutStatus live;
    live.id = "web-3";
    live.app = "web";
    live.version = "3";
    live.state = "running";
    live.hosts = std::vector<control::HostDoc>{{"<b>evil</b>", 0, "deploying", "fetching", "2", ""}};
    control::AgentDoc agent;
    agent.id = "<b>evil</b>";
    agent.state = "online";
    feed->publish({live}, {agent});
    HttpConfig http{"127.0.0.1:0", true, "", std::move(token), metrics_public};
    endpoint = std::make_unique<HttpEndpoint>(StoreOptions{.file = dir.path() / "coordinator.db"},
                                              std::make_shared<LiveGauges>(), feed, http);
    REQUIRE(endpoint->start("127.0.0.1:0").ok());
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", endpoint->port()); }
  httplib::Headers bearer() const { return {{"Authorization", "Bearer " + kToken}}; }
};

json body(const httplib::Result& r) {
  REQUIRE(r);
  INFO(r->body);
  return json::parse(r->body);
}

}  // namespace

TEST_CASE("dashboard: documents from the store and the feed", "[coordinator][dashboard][http]") {
  Fixture f;
  auto cli = f.client();
  auto r = cli.Get("/api/rollouts", f.bearer());
  REQUIRE(r);
  CHECK(r->status == 200);
  const json list = body(r);
  REQUIRE(list["rollouts"].size() == 1);
  CHECK(list["rollouts"][0]["id"] == "web-3");
  CHECK_FALSE(list["rollouts"][0].contains("hosts"));  // the list leaves hosts out
  CHECK(list["history"].size() == 3);
  CHECK(list["finished"].size() == 2);

  const json live = body(cli.Get("/api/rollouts/web-3", f.bearer()));
  CHECK(live["rollout"]["hosts"][0]["id"] == "<b>evil</b>");
  CHECK(live["analysis"].is_null());
  const json done = body(cli.Get("/api/rollouts/web-1", f.bearer()));
  CHECK(done["rollout"]["state"] == "succeeded");
  CHECK(done["rollout"]["waves"][0]["hosts"] == 2);
  const json broken = body(cli.Get("/api/rollouts/web-2", f.bearer()));
  CHECK(broken["rollout"]["state"] == "failed");
  CHECK(cli.Get("/api/rollouts/nope", f.bearer())->status == 404);

  const json fleet = body(cli.Get("/api/fleet", f.bearer()));
  CHECK(fleet["agents"][0]["id"] == "<b>evil</b>");
  const json app = body(cli.Get("/api/apps/web", f.bearer()));
  CHECK(app["history"].size() == 3);
  const json delivery = body(cli.Get("/api/delivery?days=7", f.bearer()));
  CHECK(delivery["days"].size() == 7);
  CHECK(delivery["metrics"]["window_days"] == 7);
}

TEST_CASE("dashboard: the token or its cookie, except /healthz", "[coordinator][dashboard][http]") {
  Fixture f;
  auto cli = f.client();
  CHECK(cli.Get("/api/rollouts")->status == 401);
  CHECK(cli.Get("/")->status == 401);
  CHECK(cli.Get("/metrics")->status == 401);
  CHECK(cli.Get("/healthz")->status == 200);
  CHECK(cli.Get("/login?token=wrong")->status == 401);
  auto login = cli.Get("/login?token=" + kToken);
  REQUIRE(login);
  CHECK(login->status == 303);
  const std::string cookie = login->get_header_value("Set-Cookie");
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  auto page = cli.Get("/", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type").find("text/html") == 0);
  CHECK(page->get_header_value("Content-Security-Policy").find("default-src 'none'") == 0);
  CHECK(page->get_header_value("X-Content-Type-Options") == "nosniff");
  CHECK(cli.Get("/app.js", f.bearer())->get_header_value("Content-Type").find("text/javascript") == 0);

  Fixture open_metrics(true);
  CHECK(open_metrics.client().Get("/metrics")->status == 200);
  CHECK(open_metrics.client().Get("/api/fleet")->status == 401);
}

TEST_CASE("dashboard: without a token, only for names of this machine", "[coordinator][dashboard][http]") {
  Fixture f(false, "");
  auto cli = f.client();
  CHECK(cli.Get("/api/fleet")->status == 200);  // Host: 127.0.0.1:PORT
  CHECK(cli.Get("/", {{"Host", "localhost:7780"}})->status == 200);
  CHECK(cli.Get("/api/fleet", {{"Host", "rebound.example:7780"}})->status == 403);
  CHECK(cli.Get("/metrics", {{"Host", "rebound.example:7780"}})->status == 200);
  CHECK(cli.Get("/healthz", {{"Host", "rebound.example:7780"}})->status == 200);
}

TEST_CASE("dashboard: only GET and HEAD", "[coordinator][dashboard][http]") {
  Fixture f;
  auto cli = f.client();
  auto refused = [](const httplib::Result& r) {
    REQUIRE(r);
    CHECK(r->status == 405);
    CHECK(r->get_header_value("Allow") == "GET, HEAD");
  };
  refused(cli.Post("/api/rollouts", f.bearer(), "", "text/plain"));
  refused(cli.Put("/", f.bearer(), "", "text/plain"));
  refused(cli.Delete("/api/fleet", f.bearer()));
  refused(cli.Post("/healthz"));
  auto head = cli.Head("/api/fleet", f.bearer());
  REQUIRE(head);
  CHECK(head->status == 200);
}

TEST_CASE("dashboard: the event stream tells of changes and ends when the endpoint stops",
          "[coordinator][dashboard][http]") {
  Fixture f;
  std::promise<void> first, second;
  auto reader = std::async(std::launch::async, [&] {
    auto cli = f.client();
    std::string seen;
    int changes = 0;
    cli.Get("/api/stream", f.bearer(), [&](const char* data, std::size_t n) {
      seen.append(data, n);
      std::size_t at = 0;
      int count = 0;
      while ((at = seen.find("event: change", at)) != std::string::npos) ++count, ++at;
      if (count > changes) {
        if (changes == 0) first.set_value();
        if (changes <= 1 && count >= 2) second.set_value();
        changes = count;
      }
      return true;  // reads until the server ends the stream
    });
    return seen;
  });
  REQUIRE(first.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  control::AgentDoc lost;
  lost.id = "<b>evil</b>";
  lost.state = "lost";
  f.feed->publish({}, {lost});
  REQUIRE(second.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  f.endpoint->stop();  // returns with the stream open: the stream ends itself
  REQUIRE(reader.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(reader.get().find("retry: 1000") == 0);
}

TEST_CASE("dashboard: a host name that only starts like 127. is not this machine", "[coordinator][dashboard][http]") {
  Fixture f(false, "");
  auto cli = f.client();
  CHECK(cli.Get("/api/fleet", {{"Host", "127.0.0.2:7780"}})->status == 200);
  CHECK(cli.Get("/api/fleet", {{"Host", "[::1]:7780"}})->status == 200);
  // A name the attacker owns, pointed at 127.0.0.1 (DNS rebinding).
  CHECK(cli.Get("/api/fleet", {{"Host", "127.rebound.example:7780"}})->status == 403);
  CHECK(cli.Get("/api/fleet", {{"Host", "127.0.0.1.rebound.example"}})->status == 403);
  CHECK(cli.Get("/api/fleet", {{"Host", "localhost.rebound.example"}})->status == 403);
}

TEST_CASE("dashboard: the security headers on every answer, errors included", "[coordinator][dashboard][http]") {
  Fixture f;
  auto cli = f.client();
  auto guarded = [](const httplib::Result& r, int status) {
    REQUIRE(r);
    CHECK(r->status == status);
    CHECK(r->get_header_value("Content-Security-Policy").find("default-src 'none'") == 0);
    CHECK(r->get_header_value("X-Frame-Options") == "DENY");
    CHECK(r->get_header_value("Referrer-Policy") == "no-referrer");
  };
  for (const char* method : {"OPTIONS", "TRACE", "PATCH"}) {
    INFO(method);
    httplib::Request req;
    req.method = method;
    req.path = "/api/fleet";
    guarded(cli.send(req), 405);
  }
  guarded(cli.Get("/api/fleet"), 401);
  guarded(cli.Get("/nope", f.bearer()), 404);
  guarded(cli.Get("/" + std::string(20000, 'a'), f.bearer()), 414);  // refused before any handler
  // HEAD of the stream answers at once and holds no stream's place.
  for (int i = 0; i < 12; ++i) {
    INFO(i);
    guarded(cli.Head("/api/stream", f.bearer()), 200);
  }
  auto login = cli.Get("/login?token=" + kToken);
  guarded(login, 303);
  CHECK(login->get_header_value("Location") == "/");
  CHECK(login->get_header_value("Cache-Control") == "no-store");
}

TEST_CASE("dashboard: a rollout's document carries a bounded tail of its host events",
          "[coordinator][dashboard][http]") {
  Fixture f;
  {
    auto store = SqliteStore::open(f.dir.path() / "coordinator.db");
    REQUIRE(store.ok());
    auto add = [&](const std::string& kind, const std::string& agent, const std::string& message) {
      EventRecord e;
      e.rollout_id = "web-1";
      e.at_ms = 2'000;
      e.kind = kind;
      e.agent_id = agent;
      e.wave = 0;
      e.message = message;
      REQUIRE((*store)->appendEvent(e).ok());
    };
    add("submitted", "", "");
    add("host_failed", "h-first", "the first failure");
    for (int i = 0; i < 3000; ++i) add("host_phase", "h-" + std::to_string(i), "phase " + std::to_string(i));
    add("wave_failed", "", "budget spent");
  }
  const json doc = body(f.client().Get("/api/rollouts/web-1", f.bearer()));
  CHECK(doc["events_total"] == 3003);
  const auto& events = doc["events"];
  CHECK(events.size() <= 600);
  CHECK(events[0]["kind"] == "submitted");
  CHECK(events[1]["agent"] == "h-first");    // the first failure, which the page names
  CHECK(events[2]["message"] == "phase 0");  // the first of its kind
  CHECK(events[events.size() - 2]["message"] == "phase 2999");
  CHECK(events.back()["kind"] == "wave_failed");
}

TEST_CASE("dashboard: /login#token= signs in without the token in any URL", "[coordinator][dashboard][http]") {
  Fixture f;
  auto cli = f.client();
  auto page = cli.Get("/login");  // what a browser asks for /login#token=...: the fragment stays behind
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type").find("text/html") == 0);
  CHECK(page->get_header_value("Cache-Control") == "no-store");
  CHECK(page->body.find("/login.js") != std::string::npos);
  auto script = cli.Get("/login.js");  // needs no token: it is how a browser gets the cookie
  REQUIRE(script);
  CHECK(script->status == 200);
  CHECK(script->body.find("replaceState") != std::string::npos);
  CHECK(cli.Get("/login", {{"Authorization", "Bearer " + kToken + "x"}})->status == 401);
  auto signed_in = cli.Get("/login", f.bearer());
  REQUIRE(signed_in);
  CHECK(signed_in->status == 204);
  const std::string cookie = signed_in->get_header_value("Set-Cookie");
  CHECK(cli.Get("/api/fleet", {{"Cookie", cookie.substr(0, cookie.find(';'))}})->status == 200);
  CHECK(cli.Get("/app.js")->status == 401);  // the dashboard's own files still need it
}

TEST_CASE("dashboard: text that is not UTF-8 is shown replaced, not a 500", "[coordinator][dashboard][http]") {
  Fixture f;
  control::AgentDoc agent;
  agent.id = "latin1";
  agent.state = "online";
  agent.labels = {{"note", "caf\xe9"}};
  control::RolloutStatus live;
  live.id = "web-3";
  live.app = "web";
  live.state = "running";
  live.hosts = std::vector<control::HostDoc>{{"latin1", 0, "failed", "probe", "2", "probe said \xff\xfe"}};
  f.feed->publish({live}, {agent});
  auto cli = f.client();
  const json fleet = body(cli.Get("/api/fleet", f.bearer()));
  CHECK(fleet["agents"][0]["labels"]["note"] == "caf\xef\xbf\xbd");  // U+FFFD
  const json rollout = body(cli.Get("/api/rollouts/web-3", f.bearer()));
  CHECK(rollout["rollout"]["hosts"][0]["message"] == "probe said \xef\xbf\xbd\xef\xbf\xbd");
  auto unknown = cli.Get("/api/rollouts/%FF", f.bearer());  // the id is echoed in the error
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  CHECK(body(unknown)["error"]["code"] == "not_found");
}
