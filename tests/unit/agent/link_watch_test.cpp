// LinkWatch with the fake clock: what a batch of socket monitor events means
// for the session (hello again, reconnect check) and for the failover (a link
// up waits for a welcome; the drop of the connection in use is a lost session,
// the drop of one left by a redial is not).
#include "flotilla/agent/link_watch.h"

#include <zmq.h>

#include <catch2/catch.hpp>

#include "support/fake_clock.h"

using namespace flotilla;
using agent::EndpointFailover;
using agent::LinkWatch;
using common::Millis;
using common::SteadyTime;
using flotilla::testing::FakeClock;

namespace {

EndpointFailover twoEndpoints() {
  return EndpointFailover({"tcp://a:1", "tcp://b:1"}, [](Millis) { return Millis(0); });
}

Millis untilDeadline(const EndpointFailover& f, const FakeClock& clock) {
  return std::chrono::duration_cast<Millis>(f.nextDeadline() - clock.steadyNow());
}

}  // namespace

TEST_CASE("link watch: a handshake is a link up and a hello", "[agent][link]") {
  FakeClock clock;
  auto f = twoEndpoints();
  f.start(clock.steadyNow());
  LinkWatch w;
  LinkWatch::Outcome batch;
  w.onEvent(ZMQ_EVENT_HANDSHAKE_SUCCEEDED, f, clock.steadyNow(), batch);
  CHECK(w.up());
  CHECK(batch.connected);
  CHECK_FALSE(batch.dropped_first);
  CHECK_FALSE(batch.dropped_after);
  CHECK(untilDeadline(f, clock) == agent::kWelcomePatience);
}

TEST_CASE("link watch: the connection in use dropping after a welcome is a lost session", "[agent][link]") {
  FakeClock clock;
  auto f = twoEndpoints();
  f.start(clock.steadyNow());
  LinkWatch w;
  LinkWatch::Outcome first;
  w.onEvent(ZMQ_EVENT_HANDSHAKE_SUCCEEDED, f, clock.steadyNow(), first);
  f.welcomed();
  REQUIRE(f.nextDeadline() == SteadyTime::max());

  LinkWatch::Outcome batch;
  w.onEvent(ZMQ_EVENT_DISCONNECTED, f, clock.steadyNow(), batch);
  CHECK_FALSE(w.up());
  CHECK(batch.dropped_first);
  CHECK_FALSE(batch.connected);
  CHECK(untilDeadline(f, clock) == agent::kLostPatience);  // jitter 0
  CHECK(f.onTimer(clock.steadyNow() + agent::kLostPatience) == "tcp://b:1");
}

TEST_CASE("link watch: a drop of the connection left by a redial is not a lost session", "[agent][link]") {
  FakeClock clock;
  auto f = twoEndpoints();
  f.start(clock.steadyNow());
  LinkWatch w;
  LinkWatch::Outcome first;
  w.onEvent(ZMQ_EVENT_HANDSHAKE_SUCCEEDED, f, clock.steadyNow(), first);
  f.welcomed();
  w.redialled();
  LinkWatch::Outcome batch;
  w.onEvent(ZMQ_EVENT_DISCONNECTED, f, clock.steadyNow(), batch);
  CHECK(batch.dropped_first);                    // the session still hears of it
  CHECK(f.nextDeadline() == SteadyTime::max());  // the failover does not
}

TEST_CASE("link watch: a drop after the batch's handshake is told after the hello", "[agent][link]") {
  FakeClock clock;
  auto f = twoEndpoints();
  f.start(clock.steadyNow());
  LinkWatch w;
  LinkWatch::Outcome batch;
  w.onEvent(ZMQ_EVENT_DISCONNECTED, f, clock.steadyNow(), batch);
  w.onEvent(ZMQ_EVENT_HANDSHAKE_SUCCEEDED, f, clock.steadyNow(), batch);
  w.onEvent(ZMQ_EVENT_DISCONNECTED, f, clock.steadyNow(), batch);
  CHECK(batch.dropped_first);
  CHECK(batch.connected);
  CHECK(batch.dropped_after);
  CHECK_FALSE(w.up());

  LinkWatch::Outcome again;
  w.onEvent(ZMQ_EVENT_HANDSHAKE_SUCCEEDED, f, clock.steadyNow(), again);
  w.onEvent(ZMQ_EVENT_CONNECTED, f, clock.steadyNow(), again);  // not watched: ignored
  CHECK(again.connected);
  CHECK_FALSE(again.dropped_after);
  CHECK(w.up());
}

TEST_CASE("link watch: ZMTP heartbeats notice a silent connection within the link timeout", "[agent][link]") {
  using agent::zmtpHeartbeat;
  // Defaults: one endpoint keeps the quiet 10 s PINGs; a list notices a silent leader within 10 s.
  const auto one = zmtpHeartbeat(std::nullopt, 1);
  CHECK(one.interval_ms == 10000);
  CHECK(one.timeout_ms == 30000);
  const auto several = zmtpHeartbeat(std::nullopt, 2);
  CHECK(several.interval_ms == 5000);
  CHECK(several.timeout_ms == 5000);
  // Set: interval + timeout is the link timeout, the interval at most 10 s.
  for (const long ms : {2000L, 7000L, 20000L, 60000L, 600000L}) {
    INFO(ms);
    const auto b = zmtpHeartbeat(Millis(ms), 3);
    CHECK(b.interval_ms + b.timeout_ms == ms);
    CHECK(b.interval_ms <= 10000);
    CHECK(b.interval_ms <= b.timeout_ms);
    CHECK(b.interval_ms > 0);
  }
  CHECK(zmtpHeartbeat(Millis(6000), 1).interval_ms == 3000);
}
