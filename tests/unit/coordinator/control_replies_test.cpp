// The coordinator's reply documents read back through the console's structs
// (protocol/control.h) to the same bytes: what the console prints with
// --json is exactly what the coordinator sent.

#include <catch2/catch.hpp>

#include "flotilla/coordinator/control_docs.h"
#include "flotilla/coordinator/metrics.h"
#include "flotilla/protocol/control.h"

using namespace flotilla;
using namespace flotilla::coordinator;
namespace control = flotilla::protocol::control;
using nlohmann::json;

namespace {

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kNow = 1'796'126'400'000;  // 2026-12-01T12:00:00Z

RolloutRecord finished(const std::string& id, const std::string& app, const std::string& state, std::int64_t at) {
  RolloutRecord r;
  r.id = id;
  r.app = app;
  r.version = id;
  r.state = state;
  r.submitted_by = "alice@box (local)";
  r.submitted_at_ms = at - 90'000;
  r.started_at_ms = at - 89'000;
  r.finished_at_ms = at;
  return r;
}

// Parses `sent` as T and writes it back: the bytes must not change.
template <typename T>
void roundTrips(const json& sent) {
  const json wire = json::parse(sent.dump());  // as the console receives it
  auto parsed = control::parseReply<T>(wire);
  INFO(sent.dump());
  REQUIRE(parsed.ok());
  CHECK(json(*parsed).dump() == wire.dump());
}

}  // namespace

TEST_CASE("control replies: the metrics report reads back to the same bytes", "[coordinator][control]") {
  std::vector<RolloutRecord> records{finished("web-1", "web", "failed", kNow - 3 * kDay),
                                     finished("web-2", "web", "succeeded", kNow - 2 * kDay),
                                     finished("db-1", "db", "aborted", kNow - kDay)};
  records[1].committed_at_ms = kNow - 4 * kDay;
  for (const std::string app : {"", "web", "api"}) {
    auto report = computeDora(records, MetricsQuery{app, 30, kNow});
    REQUIRE(report.ok());
    json sent = toJson(*report);
    sent["ok"] = true;
    roundTrips<control::MetricsReply>(sent);
  }
}

TEST_CASE("control replies: history, events and finished statuses read back to the same bytes",
          "[coordinator][control]") {
  RolloutRecord done = finished("web-2", "web", "succeeded", kNow);
  done.commit = "abc123";
  done.committed_at_ms = kNow - kDay;
  RolloutRecord running = finished("web-3", "web", "running", 0);
  running.finished_at_ms = 0;
  control::HistoryReply history{{historyEntry(done), historyEntry(running)}};
  roundTrips<control::HistoryReply>(history);

  EventRecord e;
  e.seq = 7;
  e.rollout_id = "web-2";
  e.at_ms = kNow;
  e.kind = "host_failed";
  e.agent_id = "h1";
  e.wave = 0;
  e.message = "healthz 500";
  EventRecord op = e;
  op.seq = 8;
  op.agent_id.clear();
  op.wave = -1;
  op.actor = "alice@box (local)";
  roundTrips<control::EventsReply>(control::EventsReply{{eventDoc(e), eventDoc(op)}});

  control::RolloutStatus s;
  s.id = "web-2";
  s.waves.push_back({0, 3, 3, 3, 0, 0, 1, 0, "succeeded"});
  done.snapshot = json(s).dump();
  roundTrips<control::RolloutReply>(control::RolloutReply{finishedStatusDoc(done)});
}

TEST_CASE("control replies: a stored snapshot without newer fields still reads", "[coordinator][control]") {
  RolloutRecord old = finished("web-1", "web", "failed", kNow);
  old.snapshot = R"({"id":"web-1","app":"web","version":"1","waves":[{"index":0,"hosts":2}]})";
  const auto s = finishedStatusDoc(old);
  CHECK(s.app == "web");
  REQUIRE(s.waves.size() == 1);
  CHECK(s.waves[0].hosts == 2);
  CHECK(s.waves[0].done == 0);
  roundTrips<control::RolloutStatus>(s);
}
