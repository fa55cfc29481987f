#include "flotilla/coordinator/cron.h"

#include <catch2/catch.hpp>

using flotilla::coordinator::CronExpr;

namespace {

// A local wall time: date::local_seconds for y-m-d h:m[:s].
date::local_seconds local(int y, unsigned m, unsigned d, int h, int min, int s = 0) {
  return date::local_days{date::year{y} / m / d} + std::chrono::hours(h) + std::chrono::minutes(min) +
         std::chrono::seconds(s);
}

CronExpr cron(const char* text) {
  auto expr = CronExpr::parse(text);
  INFO((expr ? "" : expr.error().message));
  REQUIRE(expr.ok());
  return *expr;
}

std::string parseError(const char* text) {
  auto expr = CronExpr::parse(text);
  REQUIRE_FALSE(expr.ok());
  CHECK(expr.error().code == flotilla::Errc::kInvalidArgument);
  return expr.error().message;
}

}  // namespace

// 2026-11-27 is a Friday, 2026-11-29 a Sunday, 2026-11-30 a Monday, 2026-12-01 a Tuesday.

TEST_CASE("cron matches a minute of a named day", "[cron]") {
  auto expr = cron("0 18 * * FRI");
  CHECK(expr.text() == "0 18 * * FRI");
  CHECK(expr.matches(local(2026, 11, 27, 18, 0)));
  CHECK(expr.matches(local(2026, 11, 27, 18, 0, 59)));  // seconds are ignored
  CHECK_FALSE(expr.matches(local(2026, 11, 27, 18, 1)));
  CHECK_FALSE(expr.matches(local(2026, 11, 27, 17, 0)));
  CHECK_FALSE(expr.matches(local(2026, 11, 26, 18, 0)));
}

TEST_CASE("cron names are case-insensitive, in ranges too", "[cron]") {
  auto expr = cron("0 0 * jan-Mar mon-FRI");
  CHECK(expr.matches(local(2026, 1, 5, 0, 0)));         // Monday in January
  CHECK(expr.matches(local(2026, 3, 27, 0, 0)));        // Friday in March
  CHECK_FALSE(expr.matches(local(2026, 3, 28, 0, 0)));  // Saturday
  CHECK_FALSE(expr.matches(local(2026, 4, 6, 0, 0)));   // Monday in April
}

TEST_CASE("cron day of week 0 and 7 are both Sunday", "[cron]") {
  CHECK(cron("0 0 * * 0").matches(local(2026, 11, 29, 0, 0)));
  CHECK(cron("0 0 * * 7").matches(local(2026, 11, 29, 0, 0)));
  CHECK(cron("0 0 * * SUN").matches(local(2026, 11, 29, 0, 0)));
  auto weekend = cron("0 0 * * 5-7");
  CHECK(weekend.matches(local(2026, 11, 27, 0, 0)));
  CHECK(weekend.matches(local(2026, 11, 28, 0, 0)));
  CHECK(weekend.matches(local(2026, 11, 29, 0, 0)));
  CHECK_FALSE(weekend.matches(local(2026, 11, 30, 0, 0)));
}

TEST_CASE("cron steps and lists", "[cron]") {
  auto quarters = cron("*/15 * * * *");
  for (int m : {0, 15, 30, 45}) CHECK(quarters.matches(local(2026, 11, 30, 9, m)));
  CHECK_FALSE(quarters.matches(local(2026, 11, 30, 9, 10)));

  auto ranged = cron("10-50/20 * * * *");
  for (int m : {10, 30, 50}) CHECK(ranged.matches(local(2026, 11, 30, 9, m)));
  for (int m : {0, 20, 40, 51}) CHECK_FALSE(ranged.matches(local(2026, 11, 30, 9, m)));

  auto list = cron("0 8,12,18-19 * * *");
  for (int h : {8, 12, 18, 19}) CHECK(list.matches(local(2026, 11, 30, h, 0)));
  CHECK_FALSE(list.matches(local(2026, 11, 30, 9, 0)));

  auto even_days = cron("0 0 */2 * *");  // 1, 3, 5...: the step counts from the field's first value
  CHECK(even_days.matches(local(2026, 11, 1, 0, 0)));
  CHECK_FALSE(even_days.matches(local(2026, 11, 2, 0, 0)));
}

TEST_CASE("cron with day of month and day of week both restricted matches either", "[cron]") {
  auto expr = cron("0 0 1 * MON");
  CHECK(expr.matches(local(2026, 12, 1, 0, 0)));        // the 1st, a Tuesday
  CHECK(expr.matches(local(2026, 11, 30, 0, 0)));       // a Monday, the 30th
  CHECK_FALSE(expr.matches(local(2026, 12, 2, 0, 0)));  // neither
  CHECK(cron("0 0 1 * *").matches(local(2026, 12, 1, 0, 0)));
  CHECK_FALSE(cron("0 0 1 * *").matches(local(2026, 11, 30, 0, 0)));
  CHECK_FALSE(cron("0 0 * * MON").matches(local(2026, 12, 1, 0, 0)));
}

TEST_CASE("cron with a field starting with * counts it as unrestricted (Vixie): both must match", "[cron]") {
  auto expr = cron("0 0 */2 * MON");
  CHECK(expr.matches(local(2026, 11, 23, 0, 0)));        // Monday, odd day
  CHECK_FALSE(expr.matches(local(2026, 11, 30, 0, 0)));  // Monday, even day
  CHECK_FALSE(expr.matches(local(2026, 11, 25, 0, 0)));  // odd day, Wednesday
}

TEST_CASE("cron next is strictly after, previous at or before", "[cron]") {
  auto expr = cron("0 18 * * FRI");
  CHECK(expr.next(local(2026, 11, 27, 17, 59, 30)) == local(2026, 11, 27, 18, 0));
  CHECK(expr.next(local(2026, 11, 27, 18, 0)) == local(2026, 12, 4, 18, 0));
  CHECK(expr.next(local(2026, 12, 31, 23, 59)) == local(2027, 1, 1, 18, 0));
  CHECK(expr.previous(local(2026, 11, 27, 18, 0, 30)) == local(2026, 11, 27, 18, 0));
  CHECK(expr.previous(local(2026, 11, 27, 17, 59, 59)) == local(2026, 11, 20, 18, 0));
  CHECK(expr.previous(local(2026, 11, 30, 3, 0)) == local(2026, 11, 27, 18, 0));

  auto every_minute = cron("* * * * *");
  CHECK(every_minute.next(local(2026, 11, 30, 23, 59, 59)) == local(2026, 12, 1, 0, 0));
  CHECK(every_minute.previous(local(2026, 12, 1, 0, 0)) == local(2026, 12, 1, 0, 0));
}

TEST_CASE("cron finds a leap day years away and gives up on a day that never comes", "[cron]") {
  auto leap = cron("0 0 29 2 *");
  CHECK(leap.next(local(2026, 3, 1, 0, 0)) == local(2028, 2, 29, 0, 0));
  CHECK(leap.previous(local(2026, 3, 1, 0, 0)) == local(2024, 2, 29, 0, 0));
  auto never = cron("0 0 30 2 *");
  CHECK_FALSE(never.next(local(2026, 3, 1, 0, 0)).has_value());
  CHECK_FALSE(never.previous(local(2026, 3, 1, 0, 0)).has_value());
}

TEST_CASE("cron errors say what and where", "[cron]") {
  CHECK(parseError("0 18 * * FRX") == "cron \"0 18 * * FRX\": field 5 (day of week): unknown name FRX");
  CHECK(parseError("0 18 * *") ==
        "cron \"0 18 * *\": expected 5 fields (minute hour day-of-month month day-of-week), found 4");
  CHECK(parseError("") == "cron \"\": expected 5 fields (minute hour day-of-month month day-of-week), found 0");
  CHECK(parseError("60 * * * *") == "cron \"60 * * * *\": field 1 (minute): 60 is out of range 0-59");
  CHECK(parseError("0 24 * * *") == "cron \"0 24 * * *\": field 2 (hour): 24 is out of range 0-23");
  CHECK(parseError("0 0 0 * *") == "cron \"0 0 0 * *\": field 3 (day of month): 0 is out of range 1-31");
  CHECK(parseError("0 0 * 13 *") == "cron \"0 0 * 13 *\": field 4 (month): 13 is out of range 1-12");
  CHECK(parseError("0 0 * * 8") == "cron \"0 0 * * 8\": field 5 (day of week): 8 is out of range 0-7");
  CHECK(parseError("99999999999 * * * *") ==
        "cron \"99999999999 * * * *\": field 1 (minute): 99999999999 is out of range 0-59");
  CHECK(parseError("0 0 * MON *") == "cron \"0 0 * MON *\": field 4 (month): unknown name MON");
  CHECK(parseError("x * * * *") == "cron \"x * * * *\": field 1 (minute): \"x\" is not a number");
  CHECK(parseError("1x * * * *") == "cron \"1x * * * *\": field 1 (minute): \"1x\" is not a number");
  CHECK(parseError("0 5-3 * * *") == "cron \"0 5-3 * * *\": field 2 (hour): range 5-3 goes backwards");
  CHECK(parseError("0 0 * * FRI-MON") ==
        "cron \"0 0 * * FRI-MON\": field 5 (day of week): range FRI-MON goes backwards");
  CHECK(parseError("*/0 * * * *") == "cron \"*/0 * * * *\": field 1 (minute): step 0 must be at least 1");
  CHECK(parseError("*/x * * * *") == "cron \"*/x * * * *\": field 1 (minute): step \"x\" is not a number");
  CHECK(parseError("5/10 * * * *") ==
        "cron \"5/10 * * * *\": field 1 (minute): a step needs a range or * before it (\"5/10\")");
  CHECK(parseError("1,,2 * * * *") == "cron \"1,,2 * * * *\": field 1 (minute): empty item in the list");
  CHECK(parseError("1- * * * *") == "cron \"1- * * * *\": field 1 (minute): missing number");
  CHECK(parseError("0 0 * * * *") ==
        "cron \"0 0 * * * *\": expected 5 fields (minute hour day-of-month month day-of-week), found 6");
}
