#include "flotilla/coordinator/agent_registry.h"

#include <catch2/catch.hpp>

#include "support/fake_clock.h"

using flotilla::Errc;
using flotilla::coordinator::Agent;
using flotilla::coordinator::AgentRecord;
using flotilla::coordinator::AgentRegistry;
using flotilla::coordinator::AgentState;
using flotilla::protocol::Hello;
using flotilla::protocol::RefusalCode;
using flotilla::testing::FakeClock;
using namespace std::chrono_literals;

namespace {

Hello hello(const std::string& id, const std::string& token = "") {
  Hello h;
  h.agent_id = id;
  h.join_token = token;
  h.labels = {{"role", "web"}};
  h.releases = {{"web", "1"}};
  return h;
}

auto tokens(std::string valid) {
  return [valid](const std::string& t) { return !valid.empty() && t == valid; };
}

AgentRecord stored(const std::string& id, const std::string& key, const std::string& state) {
  AgentRecord r;
  r.id = id;
  r.curve_key = key;
  r.state = state;
  return r;
}

}  // namespace

TEST_CASE("registry: a new agent without a token is pending and routed", "[coordinator][registry]") {
  AgentRegistry reg;
  FakeClock clock;
  auto a = reg.hello("rid1", "key1", hello("h0"), 1000, clock.steadyNow(), tokens(""));
  REQUIRE(a);
  CHECK(a.agent->state == AgentState::kPending);
  CHECK(a.agent->record.state == "pending");
  CHECK(a.agent->record.first_seen_ms == 1000);
  CHECK(a.agent->record.labels.at("role") == "web");
  CHECK(reg.byRouting("rid1") == a.agent);
  auto s = reg.session("rid1", "key1");
  REQUIRE_FALSE(s);
  CHECK(s.refusal.code == RefusalCode::kPending);
  CHECK(s.refusal.detail == "waiting for an operator to accept this agent");
}

TEST_CASE("registry: a valid join token enrols at hello, an invalid one leaves it pending", "[coordinator][registry]") {
  AgentRegistry reg;
  FakeClock clock;
  auto bad = reg.hello("rid1", "key1", hello("h0", "wrong"), 1, clock.steadyNow(), tokens("good"));
  REQUIRE(bad);
  CHECK(bad.agent->state == AgentState::kPending);
  auto good = reg.hello("rid2", "key1", hello("h0", "good"), 2, clock.steadyNow(), tokens("good"));
  REQUIRE(good);
  CHECK(good.agent->state == AgentState::kAccepted);
  // The new connection replaced the old one.
  CHECK(reg.byRouting("rid1") == nullptr);
  CHECK(reg.session("rid2", "key1"));
  CHECK_FALSE(reg.session("rid2", "other-key"));
}

TEST_CASE("registry: hellos that are refused", "[coordinator][registry]") {
  AgentRegistry reg;
  FakeClock clock;
  reg.load({stored("h0", "key0", "accepted"), stored("bad", "keyb", "revoked")});
  auto empty = reg.hello("r", "k", hello(""), 1, clock.steadyNow(), tokens(""));
  REQUIRE_FALSE(empty);
  CHECK(empty.refusal.code == RefusalCode::kInvalidAgentId);
  CHECK_FALSE(reg.hello("r", "k", hello(std::string(129, 'x')), 1, clock.steadyNow(), tokens("")));
  auto stolen = reg.hello("r", "other", hello("h0"), 1, clock.steadyNow(), tokens(""));
  REQUIRE_FALSE(stolen);
  CHECK(stolen.refusal.code == RefusalCode::kIdTaken);
  CHECK(stolen.refusal.detail == "agent id 'h0' is enrolled with another key");
  auto revoked = reg.hello("r", "keyb", hello("bad"), 1, clock.steadyNow(), tokens(""));
  REQUIRE_FALSE(revoked);
  CHECK(revoked.refusal.code == RefusalCode::kRevoked);
  CHECK(revoked.refusal.detail == "agent 'bad' is revoked");
  CHECK(reg.deniedKey("keyb"));
  CHECK_FALSE(reg.deniedKey("key0"));
}

TEST_CASE("registry: a message before hello is not enrolled", "[coordinator][registry]") {
  AgentRegistry reg;
  auto s = reg.session("nobody", "k");
  REQUIRE_FALSE(s);
  CHECK(s.refusal.code == RefusalCode::kNotEnrolled);
}

TEST_CASE("registry: operators accept and reject pending agents, and revoke any", "[coordinator][registry]") {
  AgentRegistry reg;
  FakeClock clock;
  REQUIRE(reg.hello("r0", "k0", hello("h0"), 1, clock.steadyNow(), tokens("")));
  REQUIRE(reg.hello("r1", "k1", hello("h1"), 1, clock.steadyNow(), tokens("")));
  CHECK(reg.decide("nope", AgentState::kAccepted).error().code == Errc::kNotFound);
  REQUIRE(reg.decide("h0", AgentState::kAccepted).ok());
  CHECK(reg.session("r0", "k0"));
  auto again = reg.decide("h0", AgentState::kAccepted);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == Errc::kConflict);
  CHECK(again.error().message == "agent 'h0' is accepted, not pending");
  auto reject = reg.decide("h0", AgentState::kRejected);
  REQUIRE_FALSE(reject.ok());
  CHECK(reject.error().message == "agent 'h0' is accepted; only pending agents can be rejected (use revoke)");
  auto revoked = reg.decide("h0", AgentState::kRevoked);
  REQUIRE(revoked.ok());
  CHECK((*revoked)->routing_id.empty());
  CHECK(reg.byRouting("r0") == nullptr);
  CHECK(reg.deniedKey("k0"));
  REQUIRE(reg.decide("h1", AgentState::kRejected).ok());
  CHECK(reg.deniedKey("k1"));
}

TEST_CASE("registry: the sweep finds online agents silent for longer than the expiry", "[coordinator][registry]") {
  AgentRegistry reg;
  FakeClock clock;
  reg.load({stored("h0", "k0", "accepted"), stored("h1", "k1", "accepted")});
  for (auto [rid, key, id] : {std::tuple{"r0", "k0", "h0"}, std::tuple{"r1", "k1", "h1"}}) {
    auto a = reg.hello(rid, key, hello(id), 1, clock.steadyNow(), tokens(""));
    REQUIRE(a);
    a.agent->online = true;
  }
  clock.advance(10s);
  reg.find("h1")->last_seen = clock.steadyNow();
  CHECK(reg.silentSince(clock.steadyNow(), 10s).empty());
  clock.advance(1ms);
  auto lost = reg.silentSince(clock.steadyNow(), 10s);
  REQUIRE(lost.size() == 1);
  CHECK(lost[0]->record.id == "h0");
  lost[0]->online = false;
  clock.advance(1h);
  CHECK(reg.silentSince(clock.steadyNow(), 10s).size() == 1);
}

TEST_CASE("registry: listings and counts by state", "[coordinator][registry]") {
  AgentRegistry reg;
  reg.load({stored("c", "k2", "accepted"), stored("a", "k0", "pending"), stored("b", "k1", "revoked"),
            stored("d", "k3", "something-new")});
  reg.find("c")->online = true;
  reg.find("c")->record.labels = {{"role", "web"}};
  auto all = reg.sorted();
  REQUIRE(all.size() == 4);
  CHECK(all[0]->record.id == "a");
  CHECK(all[3]->record.id == "d");
  CHECK(reg.find("d")->state == AgentState::kPending);
  auto counts = reg.countByState();
  CHECK(counts.at("online") == 1);
  CHECK(counts.at("pending") == 2);
  CHECK(counts.at("revoked") == 1);
  CHECK(counts.at("lost") == 0);
  CHECK(counts.at("rejected") == 0);
  CHECK(reg.accepted({{"role", "web"}}).size() == 1);
  CHECK(reg.accepted({{"role", "db"}}).empty());
}

TEST_CASE("registry: an agent handing over to a new binary is not lost before its handover deadline",
          "[coordinator][registry]") {
  AgentRegistry reg;
  FakeClock clock;
  reg.load({stored("h0", "k0", "accepted")});
  auto a = reg.hello("r0", "k0", hello("h0"), 1, clock.steadyNow(), tokens(""));
  REQUIRE(a);
  a.agent->online = true;
  a.agent->handover_until = clock.steadyNow() + 30s;
  clock.advance(20s);
  CHECK(reg.silentSince(clock.steadyNow(), 10s).empty());
  clock.advance(10s);
  CHECK(reg.silentSince(clock.steadyNow(), 10s).size() == 1);

  // The new agent's hello ends the handover: silence counts again from then.
  a = reg.hello("r1", "k0", hello("h0"), 2, clock.steadyNow(), tokens(""));
  REQUIRE(a);
  CHECK(a.agent->handover_until == flotilla::common::SteadyTime{});
  clock.advance(10s + 1ms);
  CHECK(reg.silentSince(clock.steadyNow(), 10s).size() == 1);
}
