#include "flotilla/common/duration.h"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using flotilla::common::formatDuration;
using flotilla::common::formatRfc3339;
using flotilla::common::fromUnixMillis;
using flotilla::common::fromUnixSeconds;
using flotilla::common::Millis;
using flotilla::common::parseDuration;
using flotilla::common::parseRfc3339;
using flotilla::common::SysTime;
using flotilla::common::toUnixMillis;
using flotilla::common::toUnixSeconds;

namespace {

Millis durationOf(std::string_view text) {
  auto r = parseDuration(text);
  INFO(text << ": " << (r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

std::string durationError(std::string_view text) {
  auto r = parseDuration(text);
  INFO(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == flotilla::Errc::kInvalidArgument);
  return r.error().message;
}

SysTime timeOf(std::string_view text) {
  auto r = parseRfc3339(text);
  INFO(text << ": " << (r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

std::string timeError(std::string_view text) {
  auto r = parseRfc3339(text);
  INFO(text);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

// 2026-11-26T09:12:00Z
const SysTime kExample = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26} + 9h + 12min;

}  // namespace

TEST_CASE("parseDuration reads each unit", "[common][duration]") {
  CHECK(durationOf("250ms") == 250ms);
  CHECK(durationOf("30s") == 30s);
  CHECK(durationOf("10m") == 10min);
  CHECK(durationOf("2h") == 2h);
  CHECK(durationOf("3d") == 72h);
  CHECK(durationOf("0s") == 0ms);
}

TEST_CASE("parseDuration adds up combined groups", "[common][duration]") {
  CHECK(durationOf("1h30m") == 90min);
  CHECK(durationOf("1m30s") == 90s);
  CHECK(durationOf("1s500ms") == 1500ms);
  CHECK(durationOf("1d2h3m4s5ms") == 24h + 2h + 3min + 4s + 5ms);
  CHECK(durationOf("007s") == 7s);
}

TEST_CASE("parseDuration rejects empty input", "[common][duration]") {
  CHECK_THAT(durationError(""), Catch::Contains("empty"));
}

TEST_CASE("parseDuration rejects an unknown unit", "[common][duration]") {
  CHECK_THAT(durationError("3x"), Catch::Contains("unknown unit 'x' in \"3x\""));
  CHECK_THAT(durationError("5sec"), Catch::Contains("unknown unit 'sec'"));
  CHECK_THAT(durationError("1S"), Catch::Contains("unknown unit 'S'"));
}

TEST_CASE("parseDuration rejects a missing unit", "[common][duration]") {
  CHECK_THAT(durationError("30"), Catch::Contains("missing unit"));
  CHECK_THAT(durationError("1m30"), Catch::Contains("missing unit"));
}

TEST_CASE("parseDuration rejects a missing number", "[common][duration]") {
  CHECK_THAT(durationError("s"), Catch::Contains("expected a number"));
  CHECK_THAT(durationError("1hm"), Catch::Contains("unknown unit 'hm'"));
}

TEST_CASE("parseDuration rejects signs, spaces and fractions", "[common][duration]") {
  CHECK_THAT(durationError("-5s"), Catch::Contains("no sign"));
  CHECK_THAT(durationError("+5s"), Catch::Contains("no sign"));
  CHECK_THAT(durationError("5 s"), Catch::Contains("space"));
  CHECK_THAT(durationError("1h 30m"), Catch::Contains("space"));
  CHECK_THAT(durationError(" 5s"), Catch::Contains("space"));
  CHECK_THAT(durationError("1.5s"), Catch::Contains("fractions"));
}

TEST_CASE("parseDuration rejects overflow", "[common][duration]") {
  CHECK_THAT(durationError("99999999999999999999s"), Catch::Contains("too large"));
  CHECK_THAT(durationError("9223372036854775807d"), Catch::Contains("too large"));
  CHECK_THAT(durationError("9223372036854775807ms1ms"), Catch::Contains("too large"));
}

TEST_CASE("formatDuration is the inverse of parseDuration", "[common][duration]") {
  CHECK(formatDuration(0ms) == "0s");
  CHECK(formatDuration(250ms) == "250ms");
  CHECK(formatDuration(30s) == "30s");
  CHECK(formatDuration(90min) == "1h30m");
  CHECK(formatDuration(1500ms) == "1s500ms");
  CHECK(formatDuration(24h + 1h + 1min + 1s + 1ms) == "1d1h1m1s1ms");
  CHECK(formatDuration(-30s) == "-30s");
  CHECK_FALSE(formatDuration(Millis::min()).empty());
  for (const char* text : {"250ms", "30s", "10m", "1h30m", "2d", "1d1h1m1s1ms"}) {
    CHECK(formatDuration(durationOf(text)) == text);
  }
}

TEST_CASE("formatRfc3339 prints UTC seconds", "[common][time]") {
  CHECK(formatRfc3339(kExample) == "2026-11-26T09:12:00Z");
  CHECK(formatRfc3339(kExample + 999ms) == "2026-11-26T09:12:00Z");
  CHECK(formatRfc3339(SysTime{}) == "1970-01-01T00:00:00Z");
  CHECK(formatRfc3339(SysTime{} - 1s) == "1969-12-31T23:59:59Z");
  CHECK(formatRfc3339(SysTime{} - 1ms) == "1969-12-31T23:59:59Z");
}

TEST_CASE("parseRfc3339 and formatRfc3339 round trip", "[common][time]") {
  CHECK(timeOf("2026-11-26T09:12:00Z") == kExample);
  for (const char* text : {"2026-11-26T09:12:00Z", "1970-01-01T00:00:00Z", "2000-02-29T23:59:59Z",
                           "1969-07-20T20:17:40Z", "2099-12-31T00:00:01Z"}) {
    CHECK(formatRfc3339(timeOf(text)) == text);
  }
  SysTime now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  CHECK(timeOf(formatRfc3339(now)) == now);
}

TEST_CASE("parseRfc3339 applies UTC offsets", "[common][time]") {
  CHECK(timeOf("2026-11-26T10:12:00+01:00") == kExample);
  CHECK(timeOf("2026-11-26T03:42:00-05:30") == kExample);
  CHECK(timeOf("2026-11-27T00:12:00+15:00") == kExample);
  CHECK(timeOf("2026-11-26T09:12:00+00:00") == kExample);
  CHECK(timeOf("2026-11-26T09:12:00-00:00") == kExample);
  CHECK(timeOf("2026-11-26t09:12:00z") == kExample);
  CHECK(timeOf("2026-11-26 09:12:00Z") == kExample);
}

TEST_CASE("parseRfc3339 keeps fractional seconds", "[common][time]") {
  CHECK(timeOf("2026-11-26T09:12:00.5Z") == kExample + 500ms);
  CHECK(timeOf("2026-11-26T09:12:00.250+01:00") == kExample - 1h + 250ms);
  CHECK(timeOf("2026-11-26T09:12:00.000000001Z") - kExample == std::chrono::nanoseconds(1));
  CHECK(timeOf("2026-11-26T09:12:00.1234567891234Z") - kExample == std::chrono::nanoseconds(123456789));
}

TEST_CASE("parseRfc3339 rejects a missing offset", "[common][time]") {
  CHECK_THAT(timeError("2026-11-26T09:12:00"), Catch::Contains("missing UTC offset"));
  CHECK_THAT(timeError("2026-11-26T09:12:00.5"), Catch::Contains("missing UTC offset"));
}

TEST_CASE("parseRfc3339 rejects malformed text", "[common][time]") {
  CHECK_THAT(timeError(""), Catch::Contains("malformed date"));
  CHECK_THAT(timeError("2026-11-26"), Catch::Contains("missing 'T'"));
  CHECK_THAT(timeError("26-11-26T09:12:00Z"), Catch::Contains("malformed date"));
  CHECK_THAT(timeError("2026-11-26T9:12:00Z"), Catch::Contains("malformed time"));
  CHECK_THAT(timeError("2026-11-26T09:12Z"), Catch::Contains("malformed time"));
  CHECK_THAT(timeError("2026-11-26T09:12:00.Z"), Catch::Contains("missing digits"));
  CHECK_THAT(timeError("2026-11-26T09:12:00+0100"), Catch::Contains("malformed UTC offset"));
  CHECK_THAT(timeError("2026-11-26T09:12:00+01"), Catch::Contains("malformed UTC offset"));
  CHECK_THAT(timeError("2026-11-26T09:12:00X"), Catch::Contains("UTC offset"));
  CHECK_THAT(timeError("2026-11-26T09:12:00Zjunk"), Catch::Contains("unexpected text"));
}

TEST_CASE("parseRfc3339 rejects out-of-range fields", "[common][time]") {
  CHECK_THAT(timeError("2026-13-01T00:00:00Z"), Catch::Contains("no such date"));
  CHECK_THAT(timeError("2026-02-29T00:00:00Z"), Catch::Contains("no such date"));
  CHECK_THAT(timeError("2026-11-00T00:00:00Z"), Catch::Contains("no such date"));
  CHECK_THAT(timeError("2026-11-26T24:00:00Z"), Catch::Contains("hour"));
  CHECK_THAT(timeError("2026-11-26T09:60:00Z"), Catch::Contains("minute"));
  CHECK_THAT(timeError("2026-11-26T09:12:61Z"), Catch::Contains("second"));
  CHECK_THAT(timeError("2026-11-26T09:12:00+24:00"), Catch::Contains("out of range"));
  CHECK_THAT(timeError("2026-11-26T09:12:00+01:60"), Catch::Contains("out of range"));
}

TEST_CASE("unix seconds and milliseconds convert both ways", "[common][time]") {
  CHECK(toUnixSeconds(kExample) == 1795684320);
  CHECK(fromUnixSeconds(1795684320) == kExample);
  CHECK(toUnixMillis(kExample + 250ms) == 1795684320250);
  CHECK(fromUnixMillis(1795684320250) == kExample + 250ms);
  CHECK(toUnixSeconds(SysTime{} - 1ms) == -1);
  CHECK(toUnixMillis(SysTime{} - std::chrono::microseconds(1)) == -1);
  CHECK(toUnixSeconds(fromUnixSeconds(-86400)) == -86400);
}
