#pragma once
// A freeze window of coordinator.toml ([[policy.freeze]]): a span of time in
// which rollouts may not start, evaluated in an IANA time zone with the
// system's tz database (Howard Hinnant's date/tz, /usr/share/zoneinfo).
// Pure: every question takes the instant it is asked about; nothing reads a
// clock, so tests and the coordinator pass `now` in.
//
// Two kinds:
//  - recurring: start and end are 5-field cron expressions (cron.h). The
//    window opens at an occurrence of `start` and closes at the first
//    occurrence of `end` after it. It is active over [open, close): one
//    second before the close is inside, the close itself is outside.
//    A start that fires again while the window is open changes nothing.
//  - one-off: start and end are both RFC 3339 times ("2026-12-24T00:00:00+01:00"),
//    active over [start, end); `timezone` is then only for display.
//
// Daylight saving: cron fields match the LOCAL wall time of `timezone`.
//  - A wall time that does not exist that day (spring-forward gap, e.g.
//    02:30 in Europe/Berlin on the last Sunday of March) has no occurrence
//    that day. This is what Vixie cron and most cron implementations do for
//    jobs at a fixed minute, and it keeps "the window opens at 02:30" true
//    whenever it opens at all, rather than inventing an instant nobody wrote.
//    The consequence: a start in the gap does not open the window that day;
//    an end in the gap does not close it, so it stays frozen until the next
//    end occurrence (the safe side). Avoid boundaries at 02:00-03:00 local.
//  - A wall time that happens twice (fall-back) is taken at its first
//    occurrence, the earlier instant.
//
// Immutable after makeFreezeWindow; any thread may call the const functions
// (the time_zone points into the process-wide tz database, which lives as
// long as the process).

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <date/tz.h>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/cron.h"

namespace flotilla::coordinator {

class FreezeWindow {
 public:
  const std::string& name() const { return name_; }
  // The IANA name as configured ("Europe/Berlin").
  const std::string& timezoneName() const { return timezone_name_; }
  // The start and end as configured.
  const std::string& startText() const { return start_text_; }
  const std::string& endText() const { return end_text_; }
  bool oneOff() const { return std::holds_alternative<OneOff>(span_); }

  // Whether the window is open at `utc`.
  bool activeAt(common::SysTime utc) const;
  // When the window next changes after `utc`: when it closes if it is open
  // at `utc`, else when it next opens. nullopt: it never changes again (a
  // one-off window that is over), or a cron boundary was not found within
  // the bounded search (kCronSearchDays).
  std::optional<common::SysTime> nextChange(common::SysTime utc) const;

  // A time point for people, in the window's zone and in UTC:
  // "Mon 2026-11-30 08:00 CET (07:00 UTC)"; the UTC date is shown when it
  // differs ("Mon 2026-11-30 08:00 AEDT (Sun 2026-11-29 21:00 UTC)"), and
  // seconds when they are not zero.
  std::string formatTime(common::SysTime t) const;

 private:
  struct Recurring {
    CronExpr start;
    CronExpr end;
  };
  struct OneOff {
    common::SysTime start;
    common::SysTime end;
  };
  FreezeWindow(std::string name, std::string start_text, std::string end_text, std::string timezone_name,
               const date::time_zone* zone, std::variant<OneOff, Recurring> span);
  friend Result<FreezeWindow> makeFreezeWindow(std::string name, std::string_view start, std::string_view end,
                                               std::string_view timezone);

  // The instant of a local wall time in the zone: nullopt in a spring-forward
  // gap, the earlier instant when it happens twice.
  std::optional<date::sys_seconds> toSys(date::local_seconds local) const;
  // The last occurrence of `expr` at or before `utc`, and the first strictly after it.
  std::optional<date::sys_seconds> lastAtOrBefore(const CronExpr& expr, date::sys_seconds utc) const;
  std::optional<date::sys_seconds> firstAfter(const CronExpr& expr, date::sys_seconds utc) const;
  // The open span [open, close) of a recurring window that contains `utc`,
  // if any; close is nullopt when no end was found within the bounded search
  // (the window then counts as open: the safe side).
  struct OpenSpan {
    date::sys_seconds open;
    std::optional<date::sys_seconds> close;
  };
  std::optional<OpenSpan> openSpanAt(const Recurring& r, common::SysTime utc) const;

  std::string name_;
  std::string start_text_;
  std::string end_text_;
  std::string timezone_name_;
  const date::time_zone* zone_ = nullptr;
  std::variant<OneOff, Recurring> span_;
};

// Builds a window from its configuration. Errors (kInvalidArgument) name the
// window and what is wrong: an unknown time zone, a bad cron expression or
// RFC 3339 time, one end cron and the other a time, a one-off end not after
// its start, a cron expression that matches no day.
Result<FreezeWindow> makeFreezeWindow(std::string name, std::string_view start, std::string_view end,
                                      std::string_view timezone);

}  // namespace flotilla::coordinator
