// EndpointFailover with the fake clock: the order endpoints are tried in, a
// not_leader answer followed, a lost session left for the next endpoint, and
// the backoff with its jitter bounds once the whole list was tried.
#include "flotilla/agent/endpoint_failover.h"

#include <catch2/catch.hpp>

#include "support/fake_clock.h"

using namespace flotilla;
using agent::EndpointFailover;
using common::Millis;
using common::SteadyTime;
using flotilla::testing::FakeClock;

namespace {

// Jitter at its minimum (0) or maximum (max), as the test says.
struct Jitter {
  bool high = false;
  Millis operator()(Millis max) const { return high ? max : Millis(0); }
};

// Advances the clock to the next deadline and returns what onTimer dials.
std::optional<std::string> fire(EndpointFailover& f, FakeClock& clock) {
  REQUIRE(f.nextDeadline() != SteadyTime::max());
  clock.advance(std::chrono::duration_cast<Millis>(f.nextDeadline() - clock.steadyNow()));
  return f.onTimer(clock.steadyNow());
}

Millis untilDeadline(const EndpointFailover& f, const FakeClock& clock) {
  return std::chrono::duration_cast<Millis>(f.nextDeadline() - clock.steadyNow());
}

}  // namespace

TEST_CASE("failover: endpoints that never answer are tried in order, round the list", "[agent][failover]") {
  FakeClock clock;
  EndpointFailover f({"tcp://a:1", "tcp://b:1", "tcp://c:1"}, Jitter{});
  f.start(clock.steadyNow());
  CHECK(f.current() == "tcp://a:1");
  CHECK(untilDeadline(f, clock) == agent::kConnectPatience);
  CHECK(f.onTimer(clock.steadyNow()) == std::nullopt);  // not yet
  CHECK(fire(f, clock) == "tcp://b:1");
  CHECK(fire(f, clock) == "tcp://c:1");
  CHECK(fire(f, clock) == "tcp://a:1");
  CHECK(f.moves() == 3);
}

TEST_CASE("failover: a handshake gives the endpoint time to welcome, a welcome ends the search", "[agent][failover]") {
  FakeClock clock;
  EndpointFailover f({"tcp://a:1", "tcp://b:1"}, Jitter{});
  f.start(clock.steadyNow());
  clock.advance(Millis(1000));
  f.linkUp(clock.steadyNow());
  CHECK(untilDeadline(f, clock) == agent::kWelcomePatience);
  f.welcomed();
  CHECK(f.nextDeadline() == SteadyTime::max());
  CHECK(f.moves() == 0);
}

TEST_CASE("failover: not_leader naming a listed endpoint moves there at once", "[agent][failover]") {
  FakeClock clock;
  EndpointFailover f({"tcp://a:1", "tcp://b:1", "tcp://c:1"}, Jitter{true});
  f.start(clock.steadyNow());
  f.notLeader("tcp://c:1", clock.steadyNow());
  CHECK(f.nextDeadline() == clock.steadyNow());
  CHECK(f.onTimer(clock.steadyNow()) == "tcp://c:1");
  // A second refusal of the same session (hello and heartbeat) moves once.
  f.notLeader("tcp://b:1", clock.steadyNow());
  f.notLeader("tcp://a:1", clock.steadyNow());
  CHECK(f.onTimer(clock.steadyNow()) == "tcp://b:1");
}

TEST_CASE("failover: not_leader with no leader known, or a wildcard, moves to the next endpoint", "[agent][failover]") {
  FakeClock clock;
  EndpointFailover f({"tcp://a:1", "tcp://b:1"}, Jitter{});
  f.start(clock.steadyNow());
  f.notLeader("", clock.steadyNow());
  CHECK(f.onTimer(clock.steadyNow()) == "tcp://b:1");
  f.notLeader("tcp://*:7700", clock.steadyNow());
  CHECK(f.onTimer(clock.steadyNow()) == "tcp://a:1");
}

TEST_CASE("failover: a leader named off the list is followed, and left for the list when it does not answer",
          "[agent][failover]") {
  FakeClock clock;
  EndpointFailover f({"tcp://a:1"}, Jitter{});
  f.start(clock.steadyNow());
  CHECK(f.nextDeadline() == SteadyTime::max());  // one endpoint: nowhere else to go
  f.notLeader("tcp://10.0.0.9:7700", clock.steadyNow());
  CHECK(f.onTimer(clock.steadyNow()) == "tcp://10.0.0.9:7700");
  // The list was tried once round already (it has one endpoint): the backoff begins.
  CHECK(untilDeadline(f, clock) == agent::kConnectPatience + agent::kSwitchBackoffMin);
  CHECK(fire(f, clock) == "tcp://a:1");
  CHECK(f.nextDeadline() == SteadyTime::max());
}

TEST_CASE("failover: a lost session waits for its endpoint to come back, with jitter, then moves on",
          "[agent][failover]") {
  for (bool high : {false, true}) {
    FakeClock clock;
    EndpointFailover f({"tcp://a:1", "tcp://b:1"}, Jitter{high});
    f.start(clock.steadyNow());
    f.welcomed();
    f.lost(clock.steadyNow());
    CHECK(untilDeadline(f, clock) == agent::kLostPatience + (high ? agent::kLostJitter : Millis(0)));
    // The same endpoint back (a restart) before then: no move.
    clock.advance(Millis(1000));
    f.linkUp(clock.steadyNow());
    f.welcomed();
    CHECK(f.nextDeadline() == SteadyTime::max());
    f.lost(clock.steadyNow());
    CHECK(fire(f, clock) == "tcp://b:1");
  }
}

TEST_CASE("failover: a single endpoint never moves on its own after a lost session", "[agent][failover]") {
  FakeClock clock;
  EndpointFailover f({"tcp://a:1"}, Jitter{});
  f.start(clock.steadyNow());
  f.welcomed();
  f.lost(clock.steadyNow());
  CHECK(f.nextDeadline() == SteadyTime::max());
}

TEST_CASE("failover: after a round of the list each move waits longer, within the jitter bounds, up to the cap",
          "[agent][failover]") {
  for (bool high : {false, true}) {
    FakeClock clock;
    EndpointFailover f({"tcp://a:1", "tcp://b:1"}, Jitter{high});
    f.start(clock.steadyNow());
    std::vector<Millis> waits;
    for (int i = 0; i < 8; ++i) {
      waits.push_back(untilDeadline(f, clock));
      REQUIRE(fire(f, clock));
    }
    // The first round: the patience alone.
    CHECK(waits[0] == agent::kConnectPatience);
    CHECK(waits[1] == agent::kConnectPatience);
    // Then 0.5 s, 1 s, 2 s, 4 s, 5 s, 5 s more, each plus up to half of it.
    const long extra[] = {0, 500, 1000, 2000, 4000, 5000, 5000};
    for (int i = 2; i < 8; ++i) {
      const Millis base(extra[i - 1]);
      INFO("move " << i);
      CHECK(waits[i] == agent::kConnectPatience + base + (high ? base / 2 : Millis(0)));
    }
  }
}

TEST_CASE("failover: redirects from standbys back off too, and a welcome resets the backoff", "[agent][failover]") {
  FakeClock clock;
  EndpointFailover f({"tcp://a:1", "tcp://b:1"}, Jitter{true});
  f.start(clock.steadyNow());
  // Two standbys that name each other (no leader yet): immediate during the first round...
  f.notLeader("tcp://b:1", clock.steadyNow());
  CHECK(untilDeadline(f, clock) == Millis(0));
  CHECK(f.onTimer(clock.steadyNow()) == "tcp://b:1");
  f.notLeader("tcp://a:1", clock.steadyNow());
  CHECK(untilDeadline(f, clock) == Millis(0));
  CHECK(f.onTimer(clock.steadyNow()) == "tcp://a:1");
  // ...then spaced out.
  f.notLeader("tcp://b:1", clock.steadyNow());
  CHECK(untilDeadline(f, clock) == agent::kSwitchBackoffMin + agent::kSwitchBackoffMin / 2);
  CHECK(fire(f, clock) == "tcp://b:1");
  f.welcomed();
  f.notLeader("tcp://a:1", clock.steadyNow());
  CHECK(untilDeadline(f, clock) == Millis(0));
}

TEST_CASE("failover: a not_leader naming a leader that did not answer keeps the agent at the standby, for a while",
          "[agent][failover]") {
  FakeClock clock;
  EndpointFailover f({"tcp://dead:1", "tcp://standby:1"}, Jitter{});
  f.start(clock.steadyNow());
  // The dead leader gives no handshake: on to the standby.
  CHECK(fire(f, clock) == "tcp://standby:1");
  const auto left_dead = clock.steadyNow();
  f.linkUp(clock.steadyNow());
  // The standby still names the dead leader (its lease has not expired yet):
  // the agent dials the standby again rather than the dead leader.
  f.notLeader("tcp://dead:1", clock.steadyNow());
  CHECK(fire(f, clock) == "tcp://standby:1");
  f.linkUp(clock.steadyNow());
  f.notLeader("tcp://dead:1", clock.steadyNow());
  CHECK(fire(f, clock) == "tcp://standby:1");
  // Once kUnreachableFor has passed, the named leader is worth a try again
  // (it may have restarted and kept its lease).
  clock.advance(agent::kUnreachableFor - std::chrono::duration_cast<Millis>(clock.steadyNow() - left_dead));
  f.linkUp(clock.steadyNow());
  f.notLeader("tcp://dead:1", clock.steadyNow());
  CHECK(fire(f, clock) == "tcp://dead:1");
  // The standby takes the lease and welcomes: the search ends.
  CHECK(fire(f, clock) == "tcp://standby:1");
  f.welcomed();
  CHECK(f.nextDeadline() == SteadyTime::max());
  CHECK(f.moves() == 0);
}

TEST_CASE("failover: with every endpoint unreachable the round starts again", "[agent][failover]") {
  FakeClock clock;
  EndpointFailover f({"tcp://a:1", "tcp://b:1"}, Jitter{});
  f.start(clock.steadyNow());
  CHECK(fire(f, clock) == "tcp://b:1");
  CHECK(fire(f, clock) == "tcp://a:1");  // b marked, a marked: both forgotten, round again
  CHECK(fire(f, clock) == "tcp://b:1");
}
