#include "flotilla/common/duration.h"
#include <algorithm>

#include <cstdint>
#include <cstdio>
#include <limits>

namespace flotilla::common {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::int64_t kMsPerSecond = 1000;
constexpr std::int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr std::int64_t kMsPerHour = 60 * kMsPerMinute;
constexpr std::int64_t kMsPerDay = 24 * kMsPerHour;

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string quote(std::string_view text) {
  std::string out = "\"";
  out.append(text);
  out += '"';
  return out;
}

Error invalid(std::string message) { return Error(Errc::kInvalidArgument, std::move(message)); }

// Milliseconds per unit, or 0 if `unit` is not one.
std::int64_t unitMillis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return kMsPerSecond;
  if (unit == "m") return kMsPerMinute;
  if (unit == "h") return kMsPerHour;
  if (unit == "d") return kMsPerDay;
  return 0;
}

// Reads exactly `n` digits at `pos`; false if any is missing.
bool fixedDigits(std::string_view text, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > text.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (!isDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

}  // namespace

Result<Millis> parseDuration(std::string_view text) {
  if (text.empty()) return invalid("empty duration (expected something like \"30s\" or \"1h30m\")");
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    char c = text[pos];
    if (!isDigit(c)) {
      if (c == '-' || c == '+') return invalid("durations have no sign: " + quote(text));
      if (c == ' ' || c == '\t') return invalid("unexpected space in " + quote(text));
      return invalid("expected a number at '" + std::string(1, c) + "' in " + quote(text));
    }
    std::int64_t number = 0;
    while (pos < text.size() && isDigit(text[pos])) {
      int digit = text[pos] - '0';
      if (number > (kMax - digit) / 10) return invalid("duration too large: " + quote(text));
      number = number * 10 + digit;
      ++pos;
    }
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
      return invalid("fractions are not supported in " + quote(text) + " (use a smaller unit, e.g. 1500ms)");
    }
    std::size_t unit_start = pos;
    while (pos < text.size() && isLetter(text[pos])) ++pos;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    if (unit.empty()) {
      if (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) {
        return invalid("unexpected space in " + quote(text));
      }
      return invalid("missing unit after " + std::to_string(number) + " in " + quote(text) + " (use ms, s, m, h or d)");
    }
    std::int64_t scale = unitMillis(unit);
    if (scale == 0) {
      return invalid("unknown unit '" + std::string(unit) + "' in " + quote(text) + " (use ms, s, m, h or d)");
    }
    if (number > kMax / scale) return invalid("duration too large: " + quote(text));
    std::int64_t part = number * scale;
    if (total > kMax - part) return invalid("duration too large: " + quote(text));
    total += part;
  }
  return Millis(total);
}

std::string formatDuration(Millis d) {
  std::int64_t count = d.count();
  if (count == 0) return "0s";
  std::string out;
  // Work in unsigned so that the most negative value has a magnitude too.
  std::uint64_t rest = static_cast<std::uint64_t>(count);
  if (count < 0) {
    out = "-";
    rest = ~rest + 1;
  }
  struct Unit {
    std::uint64_t ms;
    const char* name;
  };
  static constexpr Unit kUnits[] = {
      {kMsPerDay, "d"}, {kMsPerHour, "h"}, {kMsPerMinute, "m"}, {kMsPerSecond, "s"}, {1, "ms"}};
  for (const Unit& unit : kUnits) {
    std::uint64_t n = rest / unit.ms;
    rest %= unit.ms;
    if (n != 0) {
      out += std::to_string(n);
      out += unit.name;
    }
  }
  return out;
}

std::string formatRfc3339(SysTime t) {
  auto secs = std::chrono::floor<seconds>(t);
  auto day = std::chrono::floor<days>(secs);
  std::chrono::year_month_day ymd{day};
  std::chrono::hh_mm_ss<seconds> hms{secs - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

namespace {

// The fraction of a second (".123") at `pos`, if there is one; moves `pos`
// past it. Returns why it is malformed, or "".
std::string readFraction(std::string_view text, std::size_t& pos, std::chrono::nanoseconds& fraction) {
  if (pos >= text.size() || text[pos] != '.') return "";
  ++pos;
  std::size_t start = pos;
  std::int64_t nanos = 0;
  while (pos < text.size() && isDigit(text[pos])) {
    // Digits past nanoseconds are below what a time_point holds; drop them.
    if (pos - start < 9) nanos = nanos * 10 + (text[pos] - '0');
    ++pos;
  }
  if (pos == start) return "missing digits after '.'";
  for (std::size_t n = pos - start; n < 9; ++n) nanos *= 10;
  fraction = std::chrono::nanoseconds(nanos);
  return "";
}

// The UTC offset at `pos` (Z, +HH:MM or -HH:MM); moves `pos` past it.
// Returns why it is missing or malformed, or "".
std::string readUtcOffset(std::string_view text, std::size_t& pos, minutes& offset) {
  if (pos >= text.size()) return "missing UTC offset (Z or +HH:MM)";
  char zone = text[pos];
  if (zone == 'Z' || zone == 'z') {
    ++pos;
    return "";
  }
  if (zone != '+' && zone != '-') return "unexpected '" + std::string(1, zone) + "' where the UTC offset belongs";
  int off_h = 0, off_m = 0;
  if (!fixedDigits(text, pos + 1, 2, off_h) || text.size() < pos + 4 || text[pos + 3] != ':' ||
      !fixedDigits(text, pos + 4, 2, off_m)) {
    return "malformed UTC offset";
  }
  if (off_h > 23 || off_m > 59) return "UTC offset out of range";
  offset = minutes(off_h * 60 + off_m);
  if (zone == '-') offset = -offset;
  pos += 6;
  return "";
}

}  // namespace

Result<SysTime> parseRfc3339(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return invalid(why + " in " + quote(text) + " (expected an RFC 3339 timestamp like \"2026-11-26T09:12:00Z\")");
  };
  // YYYY-MM-DDTHH:MM:SS is fixed width: 19 characters.
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!fixedDigits(text, 0, 4, year) || text.size() < 5 || text[4] != '-' || !fixedDigits(text, 5, 2, month) ||
      text.size() < 8 || text[7] != '-' || !fixedDigits(text, 8, 2, day)) {
    return bad("malformed date");
  }
  if (text.size() < 11 || (text[10] != 'T' && text[10] != 't' && text[10] != ' ')) {
    return bad("missing 'T' between date and time");
  }
  if (!fixedDigits(text, 11, 2, hour) || text.size() < 14 || text[13] != ':' || !fixedDigits(text, 14, 2, minute) ||
      text.size() < 17 || text[16] != ':' || !fixedDigits(text, 17, 2, second)) {
    return bad("malformed time");
  }
  std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                  std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return bad("no such date");
  if (hour > 23) return bad("hour out of range");
  if (minute > 59) return bad("minute out of range");
  if (second > 59) return bad("second out of range");

  std::size_t pos = 19;
  std::chrono::nanoseconds fraction{0};
  if (std::string why = readFraction(text, pos, fraction); !why.empty()) return bad(why);
  minutes offset{0};
  if (std::string why = readUtcOffset(text, pos, offset); !why.empty()) return bad(why);
  if (pos != text.size()) return bad("unexpected text after the timestamp");

  // SysTime counts nanoseconds in 64 bits: it holds 1678..2261. Refuse what it
  // cannot hold instead of overflowing.
  if (ymd.year() < std::chrono::year{1700} || ymd.year() > std::chrono::year{2200})
    return bad("year out of range (1700-2200)");
  auto local = std::chrono::sys_days{ymd} + hours(hour) + minutes(minute) + seconds(second);
  auto utc = local - offset;
  return std::chrono::time_point_cast<SysTime::duration>(utc) + std::chrono::duration_cast<SysTime::duration>(fraction);
}

std::int64_t toUnixSeconds(SysTime t) { return std::chrono::floor<seconds>(t.time_since_epoch()).count(); }

// Clamped to what SysTime (64-bit nanoseconds) holds, so untrusted values cannot overflow.
constexpr std::int64_t kMaxUnixSeconds = 9'000'000'000;
SysTime fromUnixSeconds(std::int64_t s) { return SysTime(seconds(std::clamp(s, -kMaxUnixSeconds, kMaxUnixSeconds))); }

std::int64_t toUnixMillis(SysTime t) { return std::chrono::floor<Millis>(t.time_since_epoch()).count(); }

SysTime fromUnixMillis(std::int64_t ms) {
  return SysTime(Millis(std::clamp(ms, -kMaxUnixSeconds * 1000, kMaxUnixSeconds * 1000)));
}

}  // namespace flotilla::common
