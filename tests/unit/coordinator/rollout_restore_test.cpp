#include "flotilla/coordinator/rollout_restore.h"

#include <catch2/catch.hpp>

#include "flotilla/coordinator/host_record.h"
#include "support/fake_clock.h"

using namespace flotilla::coordinator;
using flotilla::Errc;
using flotilla::Error;
using flotilla::Result;
using flotilla::testing::FakeClock;
using namespace std::chrono_literals;

namespace {

const std::string kPlan = R"(app = "web"
version = "2"
artifact.file = "web.tar.gz"
[target]
labels = { role = "web" }
[waves]
sizes = [1, "100%"]
deadline = "1m"
)";

flotilla::protocol::Plan plan() {
  auto p = flotilla::protocol::parsePlan(kPlan, "p.toml", "");
  REQUIRE(p.ok());
  return *p;
}

ReleaseRecord release() { return ReleaseRecord{"web", "2", std::string(64, 'd'), 42, "spec-bytes", kPlan, ""}; }

// A running rollout of h0..h2 as a coordinator would have stored it.
struct Stored {
  FakeClock clock;
  RolloutRecord rec;
  std::vector<RolloutHostRecord> rows;
  std::int64_t sys_ms = 1'800'000'000'000;

  Stored() {
    auto engine = std::make_unique<Rollout>(engineConfig("web-1", plan()), orderHosts("web-1", {"h0", "h1", "h2"}),
                                            std::map<std::string, std::string>{{"h0", "1"}});
    engine->start(clock.steadyNow());
    const std::string first = engine->hosts()[0].agent_id;
    engine->setOrder(first, "web-1/" + first + "/5", 5);
    rec = newRolloutRecord("web-1", plan(), "p.toml", kPlan, "ops (local)", "rollout", sys_ms);
    rec.state = toString(engine->state());
    const auto now = clock.steadyNow();
    auto to_wall = [&](flotilla::common::SteadyTime t) {
      return sys_ms + std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count();
    };
    rec.engine = nlohmann::json{{"engine", engine->saveState(to_wall)}, {"kind", "rollout"}}.dump();
    for (std::size_t i = 0; i < engine->hosts().size(); ++i) rows.push_back(toHostRecord(i, engine->hosts()[i]));
  }

  Result<RestoreOutcome> restore(std::optional<ReleaseRecord> rel = release()) {
    auto releases = [rel](const std::string&, const std::string&) -> Result<std::optional<ReleaseRecord>> {
      return rel;
    };
    auto hosts = [this](const std::string&) -> Result<std::vector<RolloutHostRecord>> { return rows; };
    return restoreRollout(rec, releases, hosts, clock.steadyNow(), sys_ms, 20s);
  }
};

}  // namespace

TEST_CASE("host record: a host maps to its store row and back unchanged", "[coordinator][restore]") {
  HostSlot h;
  h.agent_id = "h7";
  h.wave = 2;
  h.state = HostState::kRollingBack;
  h.phase = "switching";
  h.previous_version = "1.9";
  h.message = "failed health";
  h.moved = true;
  h.reverted_itself = true;
  h.order_id = "web-1/h7/9";
  h.sequence = 9;
  auto row = toHostRecord(4, h);
  CHECK(row.idx == 4);
  CHECK(row.state == "rolling_back");
  CHECK(row.wave == 2);
  auto back = fromHostRecord(row);
  REQUIRE(back.has_value());
  CHECK(back->agent_id == h.agent_id);
  CHECK(back->wave == h.wave);
  CHECK(back->state == h.state);
  CHECK(back->phase == h.phase);
  CHECK(back->previous_version == h.previous_version);
  CHECK(back->message == h.message);
  CHECK(back->moved == h.moved);
  CHECK(back->reverted_itself == h.reverted_itself);
  CHECK(back->order_id == h.order_id);
  CHECK(back->sequence == h.sequence);
  row.state = "bogus";
  CHECK_FALSE(fromHostRecord(row).has_value());
}

TEST_CASE("engine config: a rollback deadline is the wave deadline, at least two minutes", "[coordinator][restore]") {
  auto p = plan();
  CHECK(engineConfig("web-1", p).rollback_deadline == std::chrono::minutes(2));
  p.waves.deadline = 10min;
  CHECK(engineConfig("web-1", p).rollback_deadline == 10min);
  CHECK(engineConfig("web-1", p).id == "web-1");
}

TEST_CASE("restore: a stored running rollout resumes with its hosts, release and order in hand",
          "[coordinator][restore]") {
  Stored s;
  auto out = s.restore();
  REQUIRE(out.ok());
  REQUIRE(out->rollout != nullptr);
  const ActiveRollout& r = *out->rollout;
  CHECK(r.record.id == "web-1");
  CHECK(r.kind == "rollout");
  CHECK(r.plan.app == "web");
  CHECK(*r.spec == "spec-bytes");
  CHECK(r.artifact_size == 42);
  CHECK(r.engine->state() == RolloutState::kRunning);
  CHECK(r.engine->hosts().size() == 3);
  // Agents get time to reconnect before a deadline passes.
  REQUIRE(r.engine->nextDeadline().has_value());
  CHECK(*r.engine->nextDeadline() >= s.clock.steadyNow() + 20s);
  auto orders = ordersInHand(r);
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].second == "web-1/" + orders[0].first.agent_id + "/5");
  CHECK(orders[0].first.sequence == 5);
  CHECK(orders[0].first.version == "2");
  CHECK_FALSE(orders[0].first.rollback);
}

TEST_CASE("restore: what cannot resume says why, a store failure is an error", "[coordinator][restore]") {
  Stored s;
  SECTION("its release is gone") {
    auto out = s.restore(std::nullopt);
    REQUIRE(out.ok());
    CHECK(out->rollout == nullptr);
    CHECK(out->why_not == "release web 2 is not in the store");
  }
  SECTION("no engine state") {
    s.rec.engine.clear();
    auto out = s.restore();
    REQUIRE(out.ok());
    CHECK(out->why_not == "no stored engine state");
  }
  SECTION("hosts out of order") {
    std::swap(s.rows[0], s.rows[1]);
    auto out = s.restore();
    REQUIRE(out.ok());
    CHECK(out->why_not == "its stored hosts are inconsistent");
  }
  SECTION("the store fails") {
    auto failing = [](const std::string&, const std::string&) -> Result<std::optional<ReleaseRecord>> {
      return Error(Errc::kIo, "disk gone");
    };
    auto hosts = [&](const std::string&) -> Result<std::vector<RolloutHostRecord>> { return s.rows; };
    auto out = restoreRollout(s.rec, failing, hosts, s.clock.steadyNow(), s.sys_ms, 20s);
    REQUIRE_FALSE(out.ok());
    CHECK(out.error().message == "disk gone");
  }
}
