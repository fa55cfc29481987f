#pragma once
// A 5-field cron expression (minute hour day-of-month month day-of-week), as
// the freeze windows of coordinator.toml write their start and end
// ("0 18 * * FRI"). Pure: it knows nothing of time zones or clocks; every
// function works on LOCAL civil time (date::local_seconds, a wall clock
// reading with no zone attached). freeze_window.h maps it onto instants.
//
// Syntax (Vixie cron): each field is `*`, a number, a range `a-b`, a step
// `*/n` or `a-b/n`, or a comma list of those. Months take JAN-DEC and days
// SUN-SAT, case-insensitive, also inside ranges ("MON-FRI"); day of week 0
// and 7 are both Sunday. Ranges must not go backwards; steps are at least 1.
// `a/n` is refused (implementations disagree on what it means).
//
// Day rule (Vixie): when day-of-month and day-of-week are both restricted, a
// day matches if EITHER matches ("0 0 1 * MON": the 1st and every Monday);
// when one of them is `*`, only the other decides. As in Vixie cron, a field
// counts as unrestricted when it starts with `*`, so "*/2" is unrestricted.
//
// Searches are bounded (kCronSearchDays) with a per-day fast path: an
// expression that matches no real day ("0 0 30 2 *") finds nothing, never
// loops. Immutable after parse; any thread may call the const functions.

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include <date/date.h>

#include "flotilla/common/result.h"

namespace flotilla::coordinator {

// How far next()/previous() look: five years of days, which covers every
// leap-day-only expression ("0 0 29 2 *").
inline constexpr int kCronSearchDays = 5 * 366;

class CronExpr {
 public:
  // Errors name the expression, the field and what is wrong:
  // cron "0 18 * * FRX": field 5 (day of week): unknown name FRX
  static Result<CronExpr> parse(std::string_view text);

  // Whether the minute containing `t` matches (seconds are ignored).
  bool matches(date::local_seconds t) const;
  // Whether the day matches the month, day-of-month and day-of-week fields.
  bool matchesDay(date::local_days day) const;

  // The first matching minute strictly after `t`, within kCronSearchDays.
  std::optional<date::local_seconds> next(date::local_seconds t) const;
  // The last matching minute at or before `t` (the minute containing `t`
  // counts), within kCronSearchDays.
  std::optional<date::local_seconds> previous(date::local_seconds t) const;

  // The expression as written.
  const std::string& text() const { return text_; }

 private:
  CronExpr() = default;
  // The first (last) matching minute of the day at or after (before) `from` minutes past midnight.
  std::optional<int> firstMinuteFrom(int from) const;
  std::optional<int> lastMinuteUpTo(int up_to) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // 1..31
  std::bitset<13> months_;         // 1..12
  std::bitset<7> days_of_week_;    // 0 = Sunday
  bool dom_restricted_ = false;
  bool dow_restricted_ = false;
};

}  // namespace flotilla::coordinator
