#include "flotilla/coordinator/freeze_window.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "flotilla/common/duration.h"

namespace flotilla::coordinator {

namespace {

using std::chrono::minutes;
using std::chrono::seconds;

// More than any UTC offset changes at once (the largest real shift is 2h):
// local wall times beyond local(utc) +/- this cannot map onto the other side of `utc`.
constexpr std::chrono::hours kMaxShift{3};
// Bound on the candidates tried around one instant: every candidate moves by
// at least a minute, and those skipped lie within kMaxShift plus a gap.
constexpr int kMaxCandidates = 24 * 60;

// RFC 3339 times start "YYYY-" and carry a ':' (HH:MM); cron expressions have
// neither (no minute is 4 digits), so a malformed time is still judged as a time.
bool looksLikeTime(std::string_view text) {
  bool year = text.size() >= 5 && text[4] == '-' &&
              std::all_of(text.begin(), text.begin() + 4, [](char c) { return c >= '0' && c <= '9'; });
  return year || text.find(':') != std::string_view::npos;
}

Error invalid(const std::string& name, const std::string& why) {
  return Error(Errc::kInvalidArgument, "freeze \"" + name + "\": " + why);
}

// The expression matches at least one real day (not "0 0 31 4 *"): the
// bounded search from any day would find nothing, and the window would
// silently never open or never close.
bool matchesSomeDay(const CronExpr& expr) { return expr.next(date::local_days{date::year{2000} / 1 / 1}).has_value(); }

Result<CronExpr> parseCron(const std::string& name, const char* which, std::string_view text) {
  auto expr = CronExpr::parse(text);
  if (!expr) return invalid(name, std::string(which) + ": " + expr.error().message);
  if (!matchesSomeDay(*expr)) {
    return invalid(name, std::string(which) + ": cron \"" + std::string(text) + "\" matches no day of any year");
  }
  return expr;
}

common::SysTime toSysTime(date::sys_seconds t) { return std::chrono::time_point_cast<common::SysTime::duration>(t); }

}  // namespace

FreezeWindow::FreezeWindow(std::string name, std::string start_text, std::string end_text, std::string timezone_name,
                           const date::time_zone* zone, std::variant<OneOff, Recurring> span)
    : name_(std::move(name)),
      start_text_(std::move(start_text)),
      end_text_(std::move(end_text)),
      timezone_name_(std::move(timezone_name)),
      zone_(zone),
      span_(std::move(span)) {}

Result<FreezeWindow> makeFreezeWindow(std::string name, std::string_view start, std::string_view end,
                                      std::string_view timezone) {
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(timezone);
  } catch (const std::exception&) {
    // date/tz throws for an unknown name and for a missing tz database alike.
    return invalid(name, "unknown time zone \"" + std::string(timezone) +
                             "\" (expected an IANA name like \"Europe/Berlin\" from /usr/share/zoneinfo)");
  }
  bool start_time = looksLikeTime(start), end_time = looksLikeTime(end);
  if (start_time != end_time) {
    return invalid(name, std::string("start is ") + (start_time ? "an RFC 3339 time" : "a cron expression") +
                             " but end is " + (end_time ? "an RFC 3339 time" : "a cron expression") +
                             ": a one-off window needs RFC 3339 times at both ends, a recurring one cron at both");
  }
  std::variant<FreezeWindow::OneOff, FreezeWindow::Recurring> span;
  if (start_time) {
    auto from = common::parseRfc3339(start);
    if (!from) return invalid(name, "start: " + from.error().message);
    auto to = common::parseRfc3339(end);
    if (!to) return invalid(name, "end: " + to.error().message);
    if (*to <= *from) {
      return invalid(name, "end " + std::string(end) + " is not after start " + std::string(start));
    }
    span = FreezeWindow::OneOff{*from, *to};
  } else {
    auto from = parseCron(name, "start", start);
    if (!from) return from.error();
    auto to = parseCron(name, "end", end);
    if (!to) return to.error();
    span = FreezeWindow::Recurring{std::move(from).value(), std::move(to).value()};
  }
  return FreezeWindow(std::move(name), std::string(start), std::string(end), std::string(timezone), zone,
                      std::move(span));
}

std::optional<date::sys_seconds> FreezeWindow::toSys(date::local_seconds local) const {
  date::local_info info = zone_->get_info(local);
  if (info.result == date::local_info::nonexistent) return std::nullopt;
  // unique, or ambiguous: `first` is the offset in force before the change, the earlier instant.
  return date::sys_seconds{(local - info.first.offset).time_since_epoch()};
}

std::optional<date::sys_seconds> FreezeWindow::lastAtOrBefore(const CronExpr& expr, date::sys_seconds utc) const {
  date::local_seconds local = zone_->to_local(utc) + kMaxShift;
  for (int i = 0; i < kMaxCandidates; ++i) {
    auto candidate = expr.previous(local);
    if (!candidate) return std::nullopt;
    if (auto at = toSys(*candidate); at && *at <= utc) return at;
    local = *candidate - seconds(1);
  }
  return std::nullopt;
}

std::optional<date::sys_seconds> FreezeWindow::firstAfter(const CronExpr& expr, date::sys_seconds utc) const {
  date::local_seconds local = zone_->to_local(utc) - kMaxShift;
  for (int i = 0; i < kMaxCandidates; ++i) {
    auto candidate = expr.next(local);
    if (!candidate) return std::nullopt;
    if (auto at = toSys(*candidate); at && *at > utc) return at;
    local = *candidate;
  }
  return std::nullopt;
}

std::optional<FreezeWindow::OpenSpan> FreezeWindow::openSpanAt(const Recurring& r, common::SysTime utc) const {
  auto now = std::chrono::floor<seconds>(utc);
  auto open = lastAtOrBefore(r.start, now);
  if (!open) return std::nullopt;
  auto close = firstAfter(r.end, *open);
  if (close && now >= *close) return std::nullopt;
  return OpenSpan{*open, close};
}

bool FreezeWindow::activeAt(common::SysTime utc) const {
  if (const auto* once = std::get_if<OneOff>(&span_)) return once->start <= utc && utc < once->end;
  return openSpanAt(std::get<Recurring>(span_), utc).has_value();
}

std::optional<common::SysTime> FreezeWindow::nextChange(common::SysTime utc) const {
  if (const auto* once = std::get_if<OneOff>(&span_)) {
    if (utc < once->start) return once->start;
    if (utc < once->end) return once->end;
    return std::nullopt;
  }
  const auto& recurring = std::get<Recurring>(span_);
  if (auto span = openSpanAt(recurring, utc)) {
    if (!span->close) return std::nullopt;
    return toSysTime(*span->close);
  }
  auto opens = firstAfter(recurring.start, std::chrono::floor<seconds>(utc));
  if (!opens) return std::nullopt;
  return toSysTime(*opens);
}

std::string FreezeWindow::formatTime(common::SysTime t) const {
  auto utc = std::chrono::floor<seconds>(t);
  date::local_seconds local = zone_->to_local(utc);
  std::string abbrev = zone_->get_info(utc).abbrev;
  const char* clock = (utc.time_since_epoch() % minutes(1)) == seconds(0) ? "%H:%M" : "%H:%M:%S";
  std::string out = date::format(std::string("%a %Y-%m-%d ") + clock, local) + " " + abbrev + " (";
  bool same_day = date::floor<date::days>(local).time_since_epoch() == date::floor<date::days>(utc).time_since_epoch();
  out += date::format(same_day ? std::string(clock) : std::string("%a %Y-%m-%d ") + clock, utc);
  return out + " UTC)";
}

}  // namespace flotilla::coordinator
