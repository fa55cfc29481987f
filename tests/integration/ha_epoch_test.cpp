// The agent's side of leadership epochs (docs/ha.md) against a fake
// coordinator that holds the fleet's keys: an order signed in a lower epoch
// than the agent has seen (from an order or a welcome) is refused as
// stale_epoch, also after the agent restarts.
#include <catch2/catch.hpp>

#include "flotilla/protocol/messages.h"
#include "support/cluster.h"
#include "support/fake_coordinator.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
namespace proto = flotilla::protocol;

namespace {

std::string epochFile(FakeSetup& s) { return readFile(s.f.agentDir("h0") / "state/epoch"); }

void restartAgent(FakeSetup& s) {
  const int before = s.fake->hellos;
  s.f.stopAgent("h0");
  s.f.startAgent({"h0"});
  REQUIRE(s.fake->pumpUntil([&] { return s.fake->hellos > before; }, 15s));
}

}  // namespace

TEST_CASE("ha: an order replayed from an old epoch is refused, also after the agent restarts",
          "[integration][ha][epoch]") {
  FakeSetup s;
  s.deployGood();  // epoch 0: a coordinator without a lease
  auto b2 = s.fake->body("2", 2);
  b2.epoch = 3;
  s.fake->send(s.fake->sign(b2));
  auto r = s.fake->terminal(b2.order_id, 20s);
  REQUIRE(r);
  INFO(r->message);
  REQUIRE(r->phase == proto::Phase::kHealthy);
  CHECK(epochFile(s) == "3\n");

  // An order the old leader (epoch 2) signed: refused, nothing changes.
  auto old = s.fake->body("1", 3);
  old.epoch = 2;
  s.expectRefused(s.fake->sign(old), old.order_id, "stale_epoch:", "2");

  restartAgent(s);
  auto again = s.fake->body("1", 4);
  again.epoch = 2;
  s.expectRefused(s.fake->sign(again), again.order_id, "stale_epoch:", "2");
}

TEST_CASE("ha: the epoch of a welcome is recorded before any order, and lower orders are refused",
          "[integration][ha][epoch]") {
  FakeSetup s;
  s.fake->welcome_epoch = 9;
  restartAgent(s);
  REQUIRE(waitUntil([&] { return epochFile(s) == "9\n"; }, 10s));
  auto b = s.fake->body("1", 1);
  b.epoch = 8;
  s.expectRefused(s.fake->sign(b), b.order_id, "stale_epoch:", "");
  b = s.fake->body("1", 2);
  b.epoch = 9;
  s.fake->send(s.fake->sign(b));
  auto r = s.fake->terminal(b.order_id, 20s);
  REQUIRE(r);
  CHECK(r->phase == proto::Phase::kHealthy);
}
