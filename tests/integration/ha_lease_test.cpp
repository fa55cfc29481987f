// Two real coordinators on one PostgreSQL under the leadership lease
// (docs/ha.md), with real agents on the leader: the standby answers
// not_leader; a leader paused past its lease is replaced and, woken, orders
// nothing and becomes a standby; a leader whose lease backend is terminated
// stops at once and never overlaps with the next leader in the logs.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "support/cluster.h"
#include "support/http_get.h"
#include "support/postgres.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr auto kTtl = 2s;

std::string databaseOf(const std::string& url) { return url.substr(url.rfind('/') + 1); }

void replaceLine(std::string& text, const std::string& prefix, const std::string& line) {
  const auto at = text.find("\n" + prefix);
  REQUIRE(at != std::string::npos);
  const auto end = text.find('\n', at + 1);
  text.replace(at + 1, end - at - 1, line);
}

// A leader "a" (the fleet's coordinator directory) and a standby "b" (a copy
// of it: same keys and store URL, its own ports), both with a 2 s lease.
struct HaFleet {
  PostgresServer* pg = testPostgres();
  Fleet f;
  std::string url;
  int http_a = freeTcpPort(), http_b = freeTcpPort();
  std::string agents_b = "tcp://127.0.0.1:" + std::to_string(freeTcpPort());
  Process a, b;

  HaFleet() {
    if (!pg) return;
    url = pg->createDatabase();
    const auto cfg_a = f.dir() / "coord/coordinator.toml";
    std::string text = readFile(cfg_a);
    replaceLine(text, "file = ", "url = \"" + url + "\"\nfile = \"flotilla.db\"");
    text += "\n[leadership]\nlease_ttl = \"2s\"\n";
    std::string text_a = text;
    replaceLine(text_a, "http = ", "http = \"127.0.0.1:" + std::to_string(http_a) + "\"");
    std::ofstream(cfg_a) << text_a;
    fs::copy(f.dir() / "coord", f.dir() / "coord-b", fs::copy_options::recursive);
    std::string text_b = text;
    replaceLine(text_b, "http = ", "http = \"127.0.0.1:" + std::to_string(http_b) + "\"");
    replaceLine(text_b, "listen = ", "listen = \"" + agents_b + "\"");
    replaceLine(text_b, "endpoint = ", "endpoint = \"" + controlB() + "\"");
    std::ofstream(f.dir() / "coord-b/coordinator.toml") << text_b;
  }
  ~HaFleet() {
    for (Process* p : {&a, &b})
      if (p->pid() > 0) {
        p->signal(SIGCONT);
        p->stop(SIGTERM, 20s);
      }
  }

  // False after a WARN when PostgreSQL is not installed (the test skips).
  bool available() const {
    if (!pg) WARN("skipped: " << postgresUnavailableReason());
    return pg != nullptr;
  }
  std::string controlB() const { return "ipc://" + (f.dir() / "coord-b/control.sock").string(); }
  Process start(const std::string& dir, const std::string& log) {
    return Process({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config",
                    (f.dir() / dir / "coordinator.toml").string(), "--log-level", "debug"},
                   f.dir() / log);
  }
  std::string health(int port) { return httpGet("http://127.0.0.1:" + std::to_string(port) + "/healthz").body; }
  std::string lease(const std::string& column) {
    return pg->query(databaseOf(url), "SELECT " + column + " FROM leadership_lease");
  }
  CommandResult consoleB(const std::vector<std::string>& args) {
    std::vector<std::string> argv{(binDir() / "coordinator/flotilla").string(), "--control", controlB(), "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, 30s);
  }
  // What the clients' failover does (built apart): the agent now dials b.
  void moveAgentToB(const std::string& id) {
    f.stopAgent(id);
    setTomlLine(f.agentDir(id) / "agent.toml", "endpoint", "endpoint = \"" + agents_b + "\"");
    f.startAgent({id});
  }
  std::string logA() { return readFile(f.dir() / "coordinator-a.log"); }
  std::string logB() { return readFile(f.dir() / "coordinator-b.log"); }

  // A leads with agents h0 and h1 on release 1; b stands by.
  void leadWithAgents() {
    a = start("coord", "coordinator-a.log");
    REQUIRE(waitUntil([&] { return health(http_a).rfind("ok: leader, epoch 1", 0) == 0; }, 30s));
    for (const char* id : {"h0", "h1"}) {
      f.startAgent({id});
      REQUIRE(waitUntil([&] { return f.console({"agents", "accept", id}).exit_code == 0; }, 20s));
    }
    REQUIRE(f.waitOnline(2));
    f.baseline("1");
    b = start("coord-b", "coordinator-b.log");
    REQUIRE(waitUntil([&] { return health(http_b).rfind("ok: standby", 0) == 0; }, 30s));
  }
};

// "leadership taken at epoch N" .. "leadership lost at epoch N" spans of one
// log, by their timestamps (ISO 8601, one time zone: they sort as text).
struct Span {
  std::string from, to;  // to = "~" while it lasts
  std::string who;
};
// One control request on a socket of its own, without the console's
// following of not_leader: what that coordinator itself answers.
nlohmann::json rawControl(const std::string& endpoint, const nlohmann::json& request) {
  zmq::context_t ctx;
  zmq::socket_t sock(ctx, zmq::socket_type::dealer);
  sock.set(zmq::sockopt::linger, 0);
  sock.connect(endpoint);
  sock.send(zmq::buffer(request.dump()), zmq::send_flags::none);
  zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(10000));
  zmq::message_t reply;
  if (!(item.revents & ZMQ_POLLIN) || !sock.recv(reply, zmq::recv_flags::dontwait)) return nlohmann::json();
  return nlohmann::json::parse(reply.to_string_view(), nullptr, false);
}

std::vector<Span> leadershipSpans(const std::string& log, const std::string& who) {
  std::vector<Span> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    const std::string at = line.substr(0, line.find(' '));
    if (line.find("leadership taken at epoch") != std::string::npos) out.push_back({at, "~", who});
    if (line.find("leadership lost at epoch") != std::string::npos && !out.empty() && out.back().to == "~")
      out.back().to = at;
  }
  return out;
}

}  // namespace

TEST_CASE("ha: a standby answers agents and consoles that it is not the leader", "[integration][ha][postgres]") {
  HaFleet h;
  if (!h.available()) return;
  h.leadWithAgents();
  const auto raw = rawControl(h.controlB(), {{"cmd", "agents"}, {"req", 1}, {"operator", "test"}});
  INFO(raw.dump());
  REQUIRE(raw.is_object());
  CHECK(raw.value("ok", true) == false);
  CHECK(raw["error"].value("code", "") == "not_leader");
  CHECK_FALSE(raw["error"].value("leader", "").empty());
  // The console follows that answer to the leader (docs/ha.md "Consoles").
  auto answer =
      runCommand({(binDir() / "coordinator/flotilla").string(), "--control", h.controlB(), "--json", "agents"}, 20s);
  INFO(answer.out << answer.err);
  CHECK(answer.exit_code == 0);
  CHECK(answer.out.find("\"h0\"") != std::string::npos);
  auto metrics = httpGet("http://127.0.0.1:" + std::to_string(h.http_b) + "/metrics").body;
  CHECK(metrics.find("flotilla_coordinator_leader 0") != std::string::npos);
  CHECK(metrics.find("flotilla_coordinator_epoch 1") != std::string::npos);
  auto leader = httpGet("http://127.0.0.1:" + std::to_string(h.http_a) + "/metrics").body;
  CHECK(leader.find("flotilla_coordinator_leader 1") != std::string::npos);
}

TEST_CASE("ha: a leader paused for three lease TTLs is replaced; woken, it orders nothing and stands by",
          "[integration][ha][postgres]") {
  HaFleet h;
  if (!h.available()) return;
  h.leadWithAgents();
  const auto holder_a = h.lease("holder");
  const auto restarts_h0 = h.f.restarts("h0").size(), restarts_h1 = h.f.restarts("h1").size();

  const auto paused = std::chrono::steady_clock::now();
  h.a.signal(SIGSTOP);
  REQUIRE(waitUntil([&] { return h.lease("epoch") == "2"; }, kTtl + 10s, 20ms));
  const auto took_over = std::chrono::steady_clock::now() - paused;
  WARN("standby took over " << std::chrono::duration_cast<std::chrono::milliseconds>(took_over).count()
                            << " ms after the leader was paused (lease TTL 2000 ms)");
  CHECK(took_over >=
        kTtl - 700ms);  // not before the lease could have expired (its last renewal was at most 666 ms before)
  CHECK(took_over <= kTtl + 3s);
  CHECK(h.lease("holder") != holder_a);
  REQUIRE(waitUntil([&] { return h.health(h.http_b).rfind("ok: leader, epoch 2", 0) == 0; }, 30s));
  // Paused for three TTLs in all.
  REQUIRE(waitUntil([&] { return std::chrono::steady_clock::now() - paused >= 3 * kTtl; }, 4 * kTtl));

  // A rollout asked of the paused leader: it is read when the leader wakes, if
  // the leader reads anything before it stops; its writes must not land.
  const auto plan = h.f.writePlan("web", "2", h.f.makeRelease("2", true), kOneWaveAllAtOnce);
  CommandResult asked;
  std::thread console([&] { asked = h.f.console({"rollout", plan.string()}, 60s); });
  h.a.signal(SIGCONT);
  REQUIRE(waitUntil([&] { return h.health(h.http_a).rfind("ok: standby", 0) == 0; }, 30s));
  console.join();
  INFO(asked.out << asked.err);
  // The woken leader wrote nothing: the console, answered not_leader, may
  // have followed to the new leader, which alone may have taken the rollout.
  CHECK(h.logA().find("[web-2] submitted") == std::string::npos);
  CHECK(h.pg->query(databaseOf(h.url), "SELECT count(*) FROM rollouts WHERE version = '2'") ==
        (h.logB().find("[web-2] submitted") != std::string::npos ? "1" : "0"));
  CHECK(h.lease("epoch") == "2");
  CHECK(h.lease("holder") != holder_a);
  CHECK(h.logA().find("leadership lost at epoch 1") != std::string::npos);
  // Nothing deployed anywhere since, and the hosts still run release 1.
  CHECK(h.f.restarts("h0").size() == restarts_h0);
  CHECK(h.f.restarts("h1").size() == restarts_h1);
  CHECK(h.f.liveRelease("h0", "web") == "1");
  CHECK(h.f.liveRelease("h1", "web") == "1");
}

TEST_CASE("ha: a leader whose lease backend is terminated stops at once; two leaders never overlap",
          "[integration][ha][postgres]") {
  HaFleet h;
  if (!h.available()) return;
  h.leadWithAgents();
  const auto killed = std::chrono::steady_clock::now();
  REQUIRE(h.pg->query(databaseOf(h.url), "SELECT count(pg_terminate_backend(holder_backend)) FROM leadership_lease") ==
          "1");
  REQUIRE(waitUntil([&] { return h.logA().find("leadership lost at epoch 1") != std::string::npos; }, 10s, 10ms));
  const auto stopped = std::chrono::steady_clock::now() - killed;
  WARN("the leader gave up " << std::chrono::duration_cast<std::chrono::milliseconds>(stopped).count()
                             << " ms after its lease backend was terminated (renew interval 666 ms)");
  CHECK(stopped <= 666ms + 500ms);
  // Someone leads again (the old leader, restarted as a standby, may win the race).
  REQUIRE(waitUntil([&] { return h.lease("epoch") == "2"; }, 15s));
  REQUIRE(waitUntil(
      [&] {
        return h.health(h.http_a).rfind("ok: leader, epoch 2", 0) == 0 ||
               h.health(h.http_b).rfind("ok: leader, epoch 2", 0) == 0;
      },
      30s));
  auto spans = leadershipSpans(h.logA(), "a");
  auto b_spans = leadershipSpans(h.logB(), "b");
  spans.insert(spans.end(), b_spans.begin(), b_spans.end());
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.from < y.from; });
  REQUIRE(spans.size() == 2);
  for (std::size_t i = 1; i < spans.size(); ++i) {
    INFO(spans[i - 1].who << " led " << spans[i - 1].from << " .. " << spans[i - 1].to << "; " << spans[i].who
                          << " from " << spans[i].from);
    CHECK(spans[i - 1].to <= spans[i].from);
  }
}

TEST_CASE("ha: the leader killed mid-rollout is replaced within TTL + 5 s and the rollout succeeds, no host twice",
          "[integration][ha][postgres]") {
  HaFleet h;
  if (!h.available()) return;
  h.leadWithAgents();
  const std::string id =
      h.f.submit(h.f.writePlan("web", "2", h.f.makeRelease("2", true), "sizes = [1, \"100%\"]\nbake = \"4s\""));
  // Wave 1 is done and baking: kill the leader.
  REQUIRE(waitUntil([&] { return h.f.liveRelease("h0", "web") == "2" || h.f.liveRelease("h1", "web") == "2"; }, 60s));
  const auto killed = std::chrono::steady_clock::now();
  h.a.signal(SIGKILL);
  REQUIRE(waitUntil([&] { return h.health(h.http_b).rfind("ok: leader, epoch 2", 0) == 0; }, kTtl + 5s, 20ms));
  const auto led = std::chrono::steady_clock::now() - killed;
  WARN("the standby led " << std::chrono::duration_cast<std::chrono::milliseconds>(led).count()
                          << " ms after the leader was killed (lease TTL 2000 ms)");
  for (const char* agent : {"h0", "h1"}) h.moveAgentToB(agent);
  REQUIRE(waitUntil(
      [&] {
        const auto st = h.consoleB({"status", id}).json;
        return st.is_object() && st.value("state", "") == "succeeded";
      },
      90s, 200ms));
  for (const char* agent : {"h0", "h1"}) {
    CHECK(h.f.liveRelease(agent, "web") == "2");
    auto restarts = h.f.restarts(agent);
    CHECK(std::count(restarts.begin(), restarts.end(), "2") == 1);
  }
  // The hosts met the new leader: they now refuse anything from epoch 1.
  CHECK(readFile(h.f.agentDir("h0") / "state/epoch") == "2\n");
  CHECK(readFile(h.f.agentDir("h1") / "state/epoch") == "2\n");
}

TEST_CASE("ha: PostgreSQL restarted: the leader stops, and one coordinator leads again by itself",
          "[integration][ha][postgres]") {
  HaFleet h;
  if (!h.available()) return;
  h.leadWithAgents();
  h.pg->stop();
  const bool gave_up =
      waitUntil([&] { return h.logA().find("leadership lost at epoch 1") != std::string::npos; }, 10s, 20ms);
  h.pg->start();
  REQUIRE(gave_up);
  REQUIRE(waitUntil([&] { return h.lease("epoch") == "2"; }, 30s, 100ms));
  const auto leads = [&](int port) { return h.health(port).rfind("ok: leader, epoch 2", 0) == 0; };
  REQUIRE(waitUntil([&] { return leads(h.http_a) || leads(h.http_b); }, 30s));
  CHECK(leads(h.http_a) != leads(h.http_b));
  // The agents kept their release meanwhile.
  CHECK(h.f.liveRelease("h0", "web") == "1");
  CHECK(h.f.liveRelease("h1", "web") == "1");
}
