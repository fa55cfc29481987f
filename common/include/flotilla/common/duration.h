#pragma once
// Human durations ("500ms", "30s", "10m", "1h30m") and RFC 3339 timestamps.

#include <chrono>
#include <string>
#include <string_view>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"

namespace flotilla::common {

// Accepts one or more <integer><unit> groups, units ms, s, m, h, d. No sign, no
// spaces, not empty. The message says what was wrong ("unknown unit 'x' in "3x"").
Result<Millis> parseDuration(std::string_view text);
// Inverse of parseDuration for display: "1h30m", "250ms", "0s".
std::string formatDuration(Millis d);

// "2026-11-26T09:12:00Z" (seconds precision, UTC).
std::string formatRfc3339(SysTime t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)".
Result<SysTime> parseRfc3339(std::string_view text);

std::int64_t toUnixSeconds(SysTime t);
SysTime fromUnixSeconds(std::int64_t s);
std::int64_t toUnixMillis(SysTime t);
SysTime fromUnixMillis(std::int64_t ms);

}  // namespace flotilla::common
