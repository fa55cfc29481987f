// Two real coordinators on one PostgreSQL under the leadership lease
// (docs/ha.md), with real agents on the leader: the standby answers
// not_leader; a leader paused past its lease is replaced and, woken, orders
// nothing and becomes a standby; a leader whose lease backend is terminated
// stops at once and never overlaps with the next leader in the logs. The
// failovers seen end to end by agents and consoles are in ha_failover_test.cpp.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "support/cluster.h"
#include "support/ha_fleet.h"
#include "support/http_get.h"
#include "support/postgres.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;

namespace {

constexpr auto kTtl = HaFleet::kTtl;

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

TEST_CASE("ha: a leader paused for three lease TTLs is replaced and, woken, orders nothing and stands by",
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
  CHECK(h.pg->query(h.database(), "SELECT count(*) FROM rollouts WHERE version = '2'") ==
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

TEST_CASE("ha: a leader whose lease backend is terminated stops at once, and two leaders never overlap",
          "[integration][ha][postgres]") {
  HaFleet h;
  if (!h.available()) return;
  h.leadWithAgents();
  const auto killed = std::chrono::steady_clock::now();
  REQUIRE(h.pg->query(h.database(), "SELECT count(pg_terminate_backend(holder_backend)) FROM leadership_lease") == "1");
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
