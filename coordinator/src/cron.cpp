#include "flotilla/coordinator/cron.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <vector>

namespace flotilla::coordinator {

namespace {

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// One of the five fields: its place, its name for messages, its range and, for
// month and day of week, the names that stand for numbers (names[i] = first_named + i).
struct FieldSpec {
  int number;
  const char* label;
  int lo;
  int hi;
  const std::string_view* names = nullptr;
  int name_count = 0;
  int first_named = 0;
};

constexpr std::array<FieldSpec, 5> kFields = {{
    {1, "minute", 0, 59},
    {2, "hour", 0, 23},
    {3, "day of month", 1, 31},
    {4, "month", 1, 12, kMonthNames.data(), 12, 1},
    {5, "day of week", 0, 7, kDayNames.data(), 7, 0},
}};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool isAlpha(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

// A value of the field (a number or a name) into `out`; returns why not, or "".
std::string parseValue(const FieldSpec& f, std::string_view s, int& out) {
  if (s.empty()) return "missing number";
  if (isAlpha(s) && f.names != nullptr) {
    std::string name = upper(s);
    for (int i = 0; i < f.name_count; ++i) {
      if (f.names[i] == name) {
        out = f.first_named + i;
        return "";
      }
    }
    return "unknown name " + std::string(s);
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ptr != s.data() + s.size() || ec == std::errc::invalid_argument) {
    return "\"" + std::string(s) + "\" is not a number";
  }
  if (ec == std::errc::result_out_of_range || out < f.lo || out > f.hi) {
    return std::string(s) + " is out of range " + std::to_string(f.lo) + "-" + std::to_string(f.hi);
  }
  return "";
}

// One item of a list ("*", "5", "1-5", "*/15", "MON-FRI/2") into `bits`
// (indexed by value); returns why not, or "".
std::string parseItem(const FieldSpec& f, std::string_view item, std::vector<bool>& bits) {
  if (item.empty()) return "empty item in the list";
  std::string_view base = item;
  int step = 1;
  bool has_step = false;
  if (auto slash = item.find('/'); slash != std::string_view::npos) {
    base = item.substr(0, slash);
    std::string_view step_text = item.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
    if (step_text.empty() || ptr != step_text.data() + step_text.size() || ec != std::errc()) {
      return "step \"" + std::string(step_text) + "\" is not a number";
    }
    if (step < 1) return "step " + std::string(step_text) + " must be at least 1";
    has_step = true;
  }
  int lo = f.lo, hi = f.hi;
  if (base == "*") {
    // Every value; for day of week 0-6 (7 is Sunday again).
    if (f.number == 5) hi = 6;
  } else if (auto dash = base.find('-'); dash != std::string_view::npos) {
    if (std::string why = parseValue(f, base.substr(0, dash), lo); !why.empty()) return why;
    if (std::string why = parseValue(f, base.substr(dash + 1), hi); !why.empty()) return why;
    if (lo > hi) return "range " + std::string(base) + " goes backwards";
  } else {
    if (has_step) return "a step needs a range or * before it (\"" + std::string(item) + "\")";
    if (std::string why = parseValue(f, base, lo); !why.empty()) return why;
    hi = lo;
  }
  for (int v = lo; v <= hi; v += step) bits[static_cast<std::size_t>(v)] = true;
  return "";
}

// A whole field (a comma list) into `bits`; returns why not, or "".
std::string parseField(const FieldSpec& f, std::string_view text, std::vector<bool>& bits) {
  bits.assign(static_cast<std::size_t>(f.hi) + 1, false);
  std::size_t pos = 0;
  while (true) {
    std::size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (std::string why = parseItem(f, item, bits); !why.empty()) return why;
    if (comma == std::string_view::npos) return "";
    pos = comma + 1;
  }
}

std::vector<std::string_view> splitFields(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    std::size_t start = pos;
    while (pos < text.size() && !std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos > start) out.push_back(text.substr(start, pos - start));
  }
  return out;
}

template <std::size_t N>
void copyBits(const std::vector<bool>& from, std::bitset<N>& to) {
  for (std::size_t i = 0; i < N && i < from.size(); ++i) to[i] = from[i];
}

constexpr int kMinutesPerDay = 24 * 60;

}  // namespace

Result<CronExpr> CronExpr::parse(std::string_view text) {
  std::string prefix = "cron \"" + std::string(text) + "\": ";
  std::vector<std::string_view> fields = splitFields(text);
  if (fields.size() != kFields.size()) {
    return Error(Errc::kInvalidArgument, prefix +
                                             "expected 5 fields (minute hour day-of-month month day-of-week), found " +
                                             std::to_string(fields.size()));
  }
  CronExpr expr;
  expr.text_ = std::string(text);
  std::array<std::vector<bool>, 5> bits;
  for (std::size_t i = 0; i < kFields.size(); ++i) {
    if (std::string why = parseField(kFields[i], fields[i], bits[i]); !why.empty()) {
      return Error(Errc::kInvalidArgument,
                   prefix + "field " + std::to_string(kFields[i].number) + " (" + kFields[i].label + "): " + why);
    }
  }
  if (bits[4][7]) bits[4][0] = true;  // 7 is Sunday too
  copyBits(bits[0], expr.minutes_);
  copyBits(bits[1], expr.hours_);
  copyBits(bits[2], expr.days_of_month_);
  copyBits(bits[3], expr.months_);
  copyBits(bits[4], expr.days_of_week_);
  expr.dom_restricted_ = fields[2].front() != '*';
  expr.dow_restricted_ = fields[4].front() != '*';
  return expr;
}

bool CronExpr::matchesDay(date::local_days day) const {
  date::year_month_day ymd{day};
  if (!months_[static_cast<unsigned>(ymd.month())]) return false;
  bool dom = days_of_month_[static_cast<unsigned>(ymd.day())];
  bool dow = days_of_week_[date::weekday{day}.c_encoding()];
  if (dom_restricted_ && dow_restricted_) return dom || dow;
  return dom && dow;
}

bool CronExpr::matches(date::local_seconds t) const {
  auto day = date::floor<date::days>(t);
  auto minute = date::floor<std::chrono::minutes>(t - day).count();
  return matchesDay(day) && hours_[static_cast<std::size_t>(minute / 60)] &&
         minutes_[static_cast<std::size_t>(minute % 60)];
}

std::optional<int> CronExpr::firstMinuteFrom(int from) const {
  for (int h = from / 60; h < 24; ++h) {
    if (!hours_[static_cast<std::size_t>(h)]) continue;
    for (int m = (h == from / 60 ? from % 60 : 0); m < 60; ++m) {
      if (minutes_[static_cast<std::size_t>(m)]) return h * 60 + m;
    }
  }
  return std::nullopt;
}

std::optional<int> CronExpr::lastMinuteUpTo(int up_to) const {
  for (int h = up_to / 60; h >= 0; --h) {
    if (!hours_[static_cast<std::size_t>(h)]) continue;
    for (int m = (h == up_to / 60 ? up_to % 60 : 59); m >= 0; --m) {
      if (minutes_[static_cast<std::size_t>(m)]) return h * 60 + m;
    }
  }
  return std::nullopt;
}

std::optional<date::local_seconds> CronExpr::next(date::local_seconds t) const {
  auto start = date::floor<std::chrono::minutes>(t) + std::chrono::minutes(1);
  auto day = date::floor<date::days>(start);
  int from = static_cast<int>((start - day).count());
  for (int i = 0; i <= kCronSearchDays; ++i, day += date::days(1), from = 0) {
    if (!matchesDay(day)) continue;
    if (auto m = firstMinuteFrom(from)) return date::local_seconds(day) + std::chrono::minutes(*m);
  }
  return std::nullopt;
}

std::optional<date::local_seconds> CronExpr::previous(date::local_seconds t) const {
  auto at = date::floor<std::chrono::minutes>(t);
  auto day = date::floor<date::days>(at);
  int up_to = static_cast<int>((at - day).count());
  for (int i = 0; i <= kCronSearchDays; ++i, day -= date::days(1), up_to = kMinutesPerDay - 1) {
    if (!matchesDay(day)) continue;
    if (auto m = lastMinuteUpTo(up_to)) return date::local_seconds(day) + std::chrono::minutes(*m);
  }
  return std::nullopt;
}

}  // namespace flotilla::coordinator
