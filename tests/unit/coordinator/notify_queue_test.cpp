// One webhook target's queue: order, head-of-line retries with backoff on the
// fake clock, the bound and the cursor a restart resumes from.
#include "flotilla/coordinator/notify_queue.h"

#include <catch2/catch.hpp>

#include "support/fake_clock.h"

using namespace flotilla;
using namespace flotilla::coordinator;
using namespace std::chrono_literals;

namespace {

NotifyQueue::Item item(std::int64_t seq) {
  NotifyQueue::Item it;
  it.seq = seq;
  it.notification.id = std::to_string(seq);
  return it;
}

}  // namespace

TEST_CASE("notify backoff: doubles from 500 ms up to the 60 s cap, jittered into its upper half",
          "[coordinator][notify]") {
  CHECK(backoffDelay(1, 0.0) == 250ms);
  CHECK(backoffDelay(1, 0.999999) == 499ms);
  CHECK(backoffDelay(2, 0.0) == 500ms);
  CHECK(backoffDelay(3, 0.5) == 1500ms);
  CHECK(backoffDelay(7, 0.0) == 16000ms);
  CHECK(backoffDelay(8, 0.0) == 30000ms);  // 64 s capped at 60 s
  CHECK(backoffDelay(9, 1.0) == 60000ms);
  CHECK(backoffDelay(1000, 1.0) == 60000ms);
}

TEST_CASE("notify queue: the head is retried on the backoff schedule and the rest wait behind it",
          "[coordinator][notify]") {
  testing::FakeClock clock;
  NotifyQueue q(10, 0);
  CHECK_FALSE(q.nextAttempt());
  q.push(item(3));
  q.push(item(5));
  REQUIRE(q.due(clock.steadyNow()));
  CHECK(q.due(clock.steadyNow())->seq == 3);

  q.failed(clock.steadyNow(), 0.0);  // 250 ms
  CHECK(q.failures() == 1);
  CHECK(q.due(clock.steadyNow()) == nullptr);
  clock.advance(249ms);
  CHECK(q.due(clock.steadyNow()) == nullptr);
  clock.advance(1ms);
  REQUIRE(q.due(clock.steadyNow()));
  q.failed(clock.steadyNow(), 0.0);  // 500 ms
  CHECK(*q.nextAttempt() == clock.steadyNow() + 500ms);
  clock.advance(500ms);
  REQUIRE(q.due(clock.steadyNow()));
  CHECK(q.due(clock.steadyNow())->seq == 3);  // still the head: events stay in order

  q.pop();  // delivered: the next one goes at once, with a fresh schedule
  CHECK(q.failures() == 0);
  REQUIRE(q.due(clock.steadyNow()));
  CHECK(q.due(clock.steadyNow())->seq == 5);
  q.pop();
  CHECK(q.size() == 0);
  CHECK(q.due(clock.steadyNow()) == nullptr);
}

TEST_CASE("notify queue: a full queue drops its oldest notification", "[coordinator][notify]") {
  testing::FakeClock clock;
  NotifyQueue q(3, 0);
  CHECK_FALSE(q.push(item(1)));
  q.failed(clock.steadyNow(), 0.5);
  CHECK_FALSE(q.push(item(2)));
  CHECK_FALSE(q.push(item(3)));
  CHECK(q.push(item(4)));  // 1 goes, and with it its retry schedule
  CHECK(q.size() == 3);
  CHECK(q.failures() == 0);
  REQUIRE(q.due(clock.steadyNow()));
  CHECK(q.due(clock.steadyNow())->seq == 2);
  CHECK(q.push(item(5)));
  CHECK(q.due(clock.steadyNow())->seq == 3);
}

TEST_CASE("notify queue: the cursor stops before the first event not yet delivered", "[coordinator][notify]") {
  NotifyQueue q(10, 40);
  CHECK(q.cursor() == 40);
  q.scanned(44);  // events not for this target move the cursor on
  CHECK(q.cursor() == 44);
  q.push(item(47));
  q.scanned(50);
  CHECK(q.lastScanned() == 50);
  CHECK(q.cursor() == 46);  // a restart reads 47 again
  q.pop();
  CHECK(q.cursor() == 50);
  q.scanned(45);  // never backwards
  CHECK(q.cursor() == 50);
}
