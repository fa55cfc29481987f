#include "flotilla/coordinator/freeze_window.h"

#include <catch2/catch.hpp>

#include "support/fake_clock.h"

using flotilla::common::SysTime;
using flotilla::coordinator::FreezeWindow;
using flotilla::coordinator::makeFreezeWindow;
using std::chrono::seconds;

namespace {

// An instant given in UTC: y-m-d h:m[:s]Z.
SysTime utc(int y, unsigned m, unsigned d, int h, int min, int s = 0) {
  return SysTime{date::sys_days{date::year{y} / m / d}} + std::chrono::hours(h) + std::chrono::minutes(min) +
         seconds(s);
}

FreezeWindow window(const char* start, const char* end, const char* zone) {
  auto w = makeFreezeWindow("weekend", start, end, zone);
  INFO((w ? "" : w.error().message));
  REQUIRE(w.ok());
  return *w;
}

std::string makeError(const char* start, const char* end, const char* zone) {
  auto w = makeFreezeWindow("weekend", start, end, zone);
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().code == flotilla::Errc::kInvalidArgument);
  return w.error().message;
}

// The window's edge at `edge`: open (or closed) from `edge` on, the other way one second before.
void checkEdge(const FreezeWindow& w, SysTime edge, bool opens) {
  INFO("edge " << w.formatTime(edge));
  CHECK(w.activeAt(edge - seconds(1)) == !opens);
  CHECK(w.activeAt(edge - std::chrono::milliseconds(1)) == !opens);
  CHECK(w.activeAt(edge) == opens);
  CHECK(w.nextChange(edge - seconds(1)) == edge);
}

}  // namespace

// Europe/Berlin 2026: CET (+1) to CEST (+2) on Sun 29 March at 01:00 UTC, back on Sun 25 October at 01:00 UTC.
TEST_CASE("freeze: a Berlin weekend across the March switch opens at 18:00 CET and closes at 08:00 CEST", "[freeze]") {
  auto w = window("0 18 * * FRI", "0 8 * * MON", "Europe/Berlin");
  checkEdge(w, utc(2026, 3, 27, 17, 0), true);     // Fri 18:00 CET
  checkEdge(w, utc(2026, 3, 30, 6, 0), false);     // Mon 08:00 CEST
  CHECK(w.activeAt(utc(2026, 3, 29, 0, 59, 59)));  // just before the switch
  CHECK(w.activeAt(utc(2026, 3, 29, 1, 0)));
  CHECK(w.nextChange(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 30, 6, 0));
  CHECK(w.nextChange(utc(2026, 3, 30, 6, 0)) == utc(2026, 4, 3, 16, 0));  // next Friday, 18:00 CEST
  CHECK_FALSE(w.activeAt(utc(2026, 4, 1, 12, 0)));
}

TEST_CASE("freeze: a Berlin weekend across the October switch closes at 08:00 CET", "[freeze]") {
  auto w = window("0 18 * * FRI", "0 8 * * MON", "Europe/Berlin");
  checkEdge(w, utc(2026, 10, 23, 16, 0), true);  // Fri 18:00 CEST
  checkEdge(w, utc(2026, 10, 26, 7, 0), false);  // Mon 08:00 CET
  CHECK(w.activeAt(utc(2026, 10, 25, 0, 30)));   // 02:30 CEST, before the clocks go back
  CHECK(w.activeAt(utc(2026, 10, 25, 1, 30)));   // 02:30 CET, after
  CHECK(w.nextChange(utc(2026, 10, 24, 12, 0)) == utc(2026, 10, 26, 7, 0));
  CHECK(w.nextChange(utc(2026, 10, 22, 12, 0)) == utc(2026, 10, 23, 16, 0));
}

// America/New_York 2026: EST (-5) to EDT (-4) on Sun 8 March at 07:00 UTC, back on Sun 1 November at 06:00 UTC.
TEST_CASE("freeze: a New York nightly window is an hour shorter in March and longer in November", "[freeze]") {
  auto w = window("0 22 * * *", "0 6 * * *", "America/New_York");
  checkEdge(w, utc(2026, 3, 8, 3, 0), true);                               // Sat 22:00 EST
  checkEdge(w, utc(2026, 3, 8, 10, 0), false);                             // Sun 06:00 EDT: 7 hours later
  checkEdge(w, utc(2026, 11, 1, 2, 0), true);                              // Sat 22:00 EDT
  checkEdge(w, utc(2026, 11, 1, 11, 0), false);                            // Sun 06:00 EST: 9 hours later
  CHECK(w.nextChange(utc(2026, 11, 1, 11, 0)) == utc(2026, 11, 2, 3, 0));  // Sun 22:00 EST
}

TEST_CASE("freeze: a start inside the spring-forward gap has no occurrence that day", "[freeze]") {
  auto w = window("30 2 * * *", "0 4 * * *", "America/New_York");
  checkEdge(w, utc(2026, 3, 7, 7, 30), true);  // Sat 02:30 EST
  checkEdge(w, utc(2026, 3, 7, 9, 0), false);  // Sat 04:00 EST
  // Sunday 02:00-03:00 does not exist in New York: the window stays shut all night.
  for (int h = 5; h <= 10; ++h) CHECK_FALSE(w.activeAt(utc(2026, 3, 8, h, 30)));
  CHECK(w.nextChange(utc(2026, 3, 8, 5, 0)) == utc(2026, 3, 9, 6, 30));  // Mon 02:30 EDT
}

TEST_CASE("freeze: an end inside the spring-forward gap keeps the window shut until the next end", "[freeze]") {
  auto w = window("0 1 * * *", "30 2 * * *", "America/New_York");
  checkEdge(w, utc(2026, 3, 8, 6, 0), true);  // Sun 01:00 EST
  CHECK(w.activeAt(utc(2026, 3, 8, 12, 0)));
  CHECK(w.nextChange(utc(2026, 3, 8, 12, 0)) == utc(2026, 3, 9, 6, 30));  // Mon 02:30 EDT
}

TEST_CASE("freeze: a wall time that happens twice is taken at its first occurrence", "[freeze]") {
  // Sun 1 November 2026, 01:30 in New York is 05:30 UTC (EDT), then again 06:30 UTC (EST).
  auto opens = window("30 1 * * *", "0 3 * * *", "America/New_York");
  checkEdge(opens, utc(2026, 11, 1, 5, 30), true);
  CHECK(opens.activeAt(utc(2026, 11, 1, 6, 30)));
  CHECK(opens.nextChange(utc(2026, 11, 1, 6, 30)) == utc(2026, 11, 1, 8, 0));  // 03:00 EST

  auto closes = window("0 0 * * *", "30 1 * * *", "America/New_York");
  checkEdge(closes, utc(2026, 11, 1, 4, 0), true);        // 00:00 EDT
  checkEdge(closes, utc(2026, 11, 1, 5, 30), false);      // the first 01:30
  CHECK_FALSE(closes.activeAt(utc(2026, 11, 1, 6, 45)));  // the second 01:45 does not reopen it
}

// Australia/Sydney 2026: AEDT (+11) to AEST (+10) on Sun 5 April at 16:00 UTC (4 April),
// back to AEDT on Sun 4 October at 16:00 UTC (3 October).
TEST_CASE("freeze: a Sydney weekend across the April switch (daylight saving ends)", "[freeze]") {
  auto w = window("0 18 * * FRI", "0 8 * * MON", "Australia/Sydney");
  checkEdge(w, utc(2026, 4, 3, 7, 0), true);    // Fri 18:00 AEDT
  checkEdge(w, utc(2026, 4, 5, 22, 0), false);  // Mon 08:00 AEST
  CHECK(w.activeAt(utc(2026, 4, 4, 16, 30)));
}

TEST_CASE("freeze: a Sydney weekend across the October switch (daylight saving starts)", "[freeze]") {
  auto w = window("0 18 * * FRI", "0 8 * * MON", "Australia/Sydney");
  checkEdge(w, utc(2026, 10, 2, 8, 0), true);                              // Fri 18:00 AEST
  checkEdge(w, utc(2026, 10, 4, 21, 0), false);                            // Mon 08:00 AEDT
  CHECK(w.nextChange(utc(2026, 10, 4, 21, 0)) == utc(2026, 10, 9, 7, 0));  // Fri 18:00 AEDT
}

TEST_CASE("freeze: walking a fake clock minute by minute, the window changes exactly when nextChange says",
          "[freeze]") {
  auto w = window("0 18 * * FRI", "0 8 * * MON", "Europe/Berlin");
  flotilla::testing::FakeClock clock;
  clock.setSystem(utc(2026, 3, 26, 0, 0));
  int changes = 0;
  while (clock.systemNow() < utc(2026, 4, 1, 0, 0)) {
    SysTime now = clock.systemNow();
    auto change = w.nextChange(now);
    REQUIRE(change.has_value());
    REQUIRE(*change > now);
    clock.advance(std::chrono::minutes(1));
    bool changed = w.activeAt(now) != w.activeAt(clock.systemNow());
    CHECK(changed == (*change <= clock.systemNow()));
    if (changed) ++changes;
  }
  CHECK(changes == 2);
}

TEST_CASE("freeze: a one-off window in RFC 3339 times", "[freeze]") {
  auto w = window("2026-12-24T00:00:00+01:00", "2026-12-27T00:00:00+01:00", "Europe/Berlin");
  CHECK(w.oneOff());
  checkEdge(w, utc(2026, 12, 23, 23, 0), true);
  checkEdge(w, utc(2026, 12, 26, 23, 0), false);
  CHECK(w.nextChange(utc(2026, 12, 1, 0, 0)) == utc(2026, 12, 23, 23, 0));
  CHECK(w.nextChange(utc(2026, 12, 25, 0, 0)) == utc(2026, 12, 26, 23, 0));
  CHECK_FALSE(w.nextChange(utc(2026, 12, 26, 23, 0)).has_value());
}

TEST_CASE("freeze: times for people in the window's zone and in UTC", "[freeze]") {
  auto berlin = window("0 18 * * FRI", "0 8 * * MON", "Europe/Berlin");
  CHECK(berlin.formatTime(utc(2026, 11, 30, 7, 0)) == "Mon 2026-11-30 08:00 CET (07:00 UTC)");
  CHECK(berlin.formatTime(utc(2026, 3, 30, 6, 0)) == "Mon 2026-03-30 08:00 CEST (06:00 UTC)");
  CHECK(berlin.formatTime(utc(2026, 11, 30, 7, 0, 30)) == "Mon 2026-11-30 08:00:30 CET (07:00:30 UTC)");
  auto sydney = window("0 18 * * FRI", "0 8 * * MON", "Australia/Sydney");
  CHECK(sydney.formatTime(utc(2026, 11, 29, 21, 0)) == "Mon 2026-11-30 08:00 AEDT (Sun 2026-11-29 21:00 UTC)");
  auto new_york = window("0 18 * * FRI", "0 8 * * MON", "America/New_York");
  CHECK(new_york.formatTime(utc(2026, 11, 30, 13, 0)) == "Mon 2026-11-30 08:00 EST (13:00 UTC)");
}

TEST_CASE("freeze: an unknown time zone is refused by name", "[freeze]") {
  CHECK(makeError("0 18 * * FRI", "0 8 * * MON", "Mars/Olympus_Mons") ==
        "freeze \"weekend\": unknown time zone \"Mars/Olympus_Mons\" (expected an IANA name like "
        "\"Europe/Berlin\" from /usr/share/zoneinfo)");
  CHECK(makeError("0 18 * * FRI", "0 8 * * MON", "").find("unknown time zone \"\"") != std::string::npos);
}

TEST_CASE("freeze: bad ends are refused with the window's name and the end's", "[freeze]") {
  CHECK(makeError("0 18 * * FRX", "0 8 * * MON", "Europe/Berlin") ==
        "freeze \"weekend\": start: cron \"0 18 * * FRX\": field 5 (day of week): unknown name FRX");
  CHECK(makeError("0 18 * * FRI", "0 0 31 4 *", "Europe/Berlin") ==
        "freeze \"weekend\": end: cron \"0 0 31 4 *\" matches no day of any year");
  CHECK(makeError("2026-12-24T00:00:00Z", "0 8 * * MON", "Europe/Berlin") ==
        "freeze \"weekend\": start is an RFC 3339 time but end is a cron expression: a one-off window needs "
        "RFC 3339 times at both ends, a recurring one cron at both");
  CHECK(makeError("2026-12-24T00:00:00Z", "2026-12-24T00:00:00+01:00", "Europe/Berlin") ==
        "freeze \"weekend\": end 2026-12-24T00:00:00+01:00 is not after start 2026-12-24T00:00:00Z");
  CHECK(makeError("2026-12-24T00:00:00", "2026-12-27T00:00:00Z", "Europe/Berlin")
            .starts_with("freeze \"weekend\": start: missing UTC offset"));
  CHECK(makeError("2026-12-24", "2026-12-27T00:00:00Z", "Europe/Berlin")
            .starts_with("freeze \"weekend\": start: missing 'T' between date and time"));
}
