#include "flotilla/coordinator/event_log.h"

#include <catch2/catch.hpp>
#include <vector>

#include "flotilla/common/duration.h"
#include "support/fake_clock.h"

using namespace flotilla::coordinator;
using flotilla::Errc;
using flotilla::Error;
using flotilla::Result;
using flotilla::testing::FakeClock;
using namespace std::chrono_literals;

TEST_CASE("event log: an event is stamped with now, stored, then published with its number", "[coordinator][events]") {
  FakeClock clock;
  clock.advance(5s);
  std::vector<EventRecord> stored, published;
  EventLog log(
      clock,
      [&](const EventRecord& e) -> Result<std::int64_t> {
        stored.push_back(e);
        return static_cast<std::int64_t>(stored.size()) + 40;
      },
      [&](const EventRecord& e) { published.push_back(e); });
  REQUIRE(log.record("web-1", "order_sent", "h0", 0, "2 (sequence 7)").ok());
  REQUIRE(log.record("web-1", "operator_pause", "", -1, "pause by ann", "ann").ok());
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].at_ms == flotilla::common::toUnixMillis(clock.systemNow()));
  CHECK(stored[0].agent_id == "h0");
  CHECK(stored[0].wave == 0);
  REQUIRE(published.size() == 2);
  CHECK(published[0].seq == 41);
  CHECK(published[1].seq == 42);
  CHECK(published[1].actor == "ann");
  CHECK(published[1].kind == "operator_pause");
}

TEST_CASE("event log: a store failure comes back and nothing is published", "[coordinator][events]") {
  FakeClock clock;
  int published = 0;
  EventLog log(
      clock, [](const EventRecord&) -> Result<std::int64_t> { return Error(Errc::kIo, "disk full"); },
      [&](const EventRecord&) { ++published; });
  auto st = log.record("web-1", "submitted", "", -1, "");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message == "disk full");
  CHECK(published == 0);
}
