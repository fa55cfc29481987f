#include "toml_value_reader.h"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "flotilla/common/duration.h"

namespace flotilla::protocol {
namespace {

const char* typeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "an unknown type";
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "12%", "2.5%": the number before the sign, or nothing if `text` is not a percentage.
std::optional<double> parsePercent(std::string_view text) {
  if (text.size() < 2 || text.back() != '%') return std::nullopt;
  std::string_view number = text.substr(0, text.size() - 1);
  std::size_t dots = 0;
  for (char c : number) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  if (dots > 1 || number.front() == '.' || number.back() == '.') return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string TomlValueReader::quote(std::string_view text) {
  std::string out = "\"";
  out.append(text);
  out += '"';
  return out;
}

std::string TomlValueReader::join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out(path);
  out += '.';
  out.append(key);
  return out;
}

std::string TomlValueReader::indexed(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string TomlValueReader::position(const toml::source_region& where) const {
  unsigned line = where.begin.line == 0 ? 1 : where.begin.line;
  unsigned column = where.begin.column == 0 ? 1 : where.begin.column;
  return source_ + ":" + std::to_string(line) + ":" + std::to_string(column);
}

Error TomlValueReader::errorAt(const toml::source_region& where, std::string_view key, std::string_view what) const {
  return Error(Errc::kInvalidArgument, position(where) + ": " + std::string(key) + ": " + std::string(what));
}

Error TomlValueReader::wrongType(const toml::node& node, std::string_view key, std::string_view expected) const {
  return errorAt(node, key, "expected " + std::string(expected) + ", got " + typeName(node.type()));
}

Error TomlValueReader::missing(const toml::node& table, std::string_view key) const {
  return errorAt(table, key, "required key is missing");
}

Status TomlValueReader::checkKeys(const toml::table& table, std::string_view path,
                                  std::initializer_list<std::string_view> known) const {
  for (auto&& [key, node] : table) {
    std::string_view name = key.str();
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string what = "unknown key '" + std::string(name) + "'";
    std::string_view best;
    std::size_t best_distance = 3;
    for (std::string_view candidate : known) {
      std::size_t d = editDistance(name, candidate);
      if (d < best_distance) {
        best_distance = d;
        best = candidate;
      }
    }
    if (!best.empty()) {
      what += " (did you mean '" + std::string(best) + "'?)";
    } else {
      what += " (known keys:";
      for (std::string_view candidate : known) {
        what += ' ';
        what.append(candidate);
      }
      what += ')';
    }
    return errorAt(key.source(), join(path, name), what);
  }
  return okStatus();
}

Status TomlValueReader::optionalTable(const toml::table& parent, std::string_view key, const toml::table*& out) const {
  out = nullptr;
  const toml::node* node = parent.get(key);
  if (node == nullptr) return okStatus();
  out = node->as_table();
  if (out == nullptr) return wrongType(*node, key, "a table");
  return okStatus();
}

Status TomlValueReader::readString(const toml::node& node, std::string_view key, std::string& out) const {
  const auto* value = node.as_string();
  if (value == nullptr) return wrongType(node, key, "a string");
  out = value->get();
  return okStatus();
}

Status TomlValueReader::readNonEmptyString(const toml::node& node, std::string_view key, std::string& out) const {
  FLOTILLA_TRY(readString(node, key, out));
  if (out.empty()) return errorAt(node, key, "must not be empty");
  return okStatus();
}

Status TomlValueReader::readDuration(const toml::node& node, std::string_view key, common::Millis& out) const {
  const auto* value = node.as_string();
  if (value == nullptr) return wrongType(node, key, "a duration like \"30s\"");
  Result<common::Millis> parsed = common::parseDuration(value->get());
  if (!parsed) return errorAt(node, key, parsed.error().message);
  out = *parsed;
  return okStatus();
}

Status TomlValueReader::readPositiveDuration(const toml::node& node, std::string_view key, common::Millis& out) const {
  FLOTILLA_TRY(readDuration(node, key, out));
  if (out <= common::Millis(0)) return errorAt(node, key, "must be longer than 0s");
  return okStatus();
}

Status TomlValueReader::readTimestamp(const toml::node& node, std::string_view key,
                                      std::optional<common::SysTime>& out) const {
  static constexpr const char* kExample = "2026-11-26T09:12:00Z";
  if (const auto* text = node.as_string()) {
    Result<common::SysTime> parsed = common::parseRfc3339(text->get());
    if (!parsed) return errorAt(node, key, parsed.error().message);
    out = *parsed;
    return okStatus();
  }
  const auto* value = node.as_date_time();
  if (value == nullptr) {
    return wrongType(node, key, std::string("a date-time with a UTC offset like ") + kExample);
  }
  const toml::date_time& dt = value->get();
  if (!dt.offset) {
    return errorAt(node, key, std::string("needs a UTC offset, e.g. ") + kExample);
  }
  if (dt.date.year < 1700 || dt.date.year > 2200) {
    return errorAt(node, key, "year out of range (1700-2200)");
  }
  std::chrono::year_month_day ymd{std::chrono::year{dt.date.year}, std::chrono::month{dt.date.month},
                                  std::chrono::day{dt.date.day}};
  auto local = std::chrono::sys_days{ymd} + std::chrono::hours(dt.time.hour) + std::chrono::minutes(dt.time.minute) +
               std::chrono::seconds(dt.time.second) + std::chrono::nanoseconds(dt.time.nanosecond);
  auto utc = local - std::chrono::minutes(dt.offset->minutes);
  out = std::chrono::time_point_cast<common::SysTime::duration>(utc);
  return okStatus();
}

Status TomlValueReader::readArgv(const toml::node& node, std::string_view key, std::vector<std::string>& out) const {
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    return wrongType(node, key, "an array of strings (a command and its arguments)");
  }
  if (array->empty()) {
    return errorAt(node, key, "must not be empty (it is a command and its arguments)");
  }
  out.clear();
  for (std::size_t i = 0; i < array->size(); ++i) {
    std::string arg;
    FLOTILLA_TRY(readString((*array)[i], indexed(key, i), arg));
    out.push_back(std::move(arg));
  }
  if (out.front().empty()) return errorAt((*array)[0], indexed(key, 0), "the command is empty");
  return okStatus();
}

Status TomlValueReader::readAmount(const toml::node& node, std::string_view key, AmountUse use, Amount& out) const {
  const char* expected = use == AmountUse::kWaveSize ? "a count of hosts or a percentage like \"10%\""
                                                     : "a count or a percentage like \"5%\"";
  if (const auto* integer = node.as_integer()) {
    std::int64_t count = integer->get();
    if (use == AmountUse::kWaveSize && count < 1) {
      return errorAt(node, key, "a wave has at least 1 host, got " + std::to_string(count));
    }
    if (count < 0) {
      return errorAt(node, key, "must not be negative, got " + std::to_string(count));
    }
    out = Amount{false, static_cast<double>(count)};
    return okStatus();
  }
  const auto* text = node.as_string();
  if (text == nullptr) return wrongType(node, key, expected);
  std::optional<double> pct = parsePercent(text->get());
  if (!pct) {
    return errorAt(node, key, "expected " + std::string(expected) + ", got " + quote(text->get()));
  }
  if (use == AmountUse::kWaveSize && (*pct <= 0 || *pct > 100)) {
    return errorAt(node, key, "a percentage must be above 0% and at most 100%, got " + quote(text->get()));
  }
  if (*pct > 100) {
    return errorAt(node, key, "a percentage must be between 0% and 100%, got " + quote(text->get()));
  }
  out = Amount{true, *pct};
  return okStatus();
}

Status TomlValueReader::checkHostPort(const toml::node& node, std::string_view key, std::string_view target) const {
  // Host variables expand on the agent; "${HOST}:${PORT}" can only be checked there.
  if (target.find("${") != std::string_view::npos) return okStatus();
  auto bad = [&](std::string_view why) {
    return errorAt(node, key,
                   std::string(why) + " in " + quote(target) + " (expected \"host:port\" with a port from 1 to 65535)");
  };
  std::size_t colon = target.rfind(':');
  if (colon == std::string_view::npos) return bad("missing port");
  if (colon == 0) return bad("missing host");
  std::string_view port = target.substr(colon + 1);
  if (port.empty()) return bad("missing port");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || port.front() == '+') {
    return bad("bad port");
  }
  if (value < 1 || value > 65535) return bad("port out of range");
  return okStatus();
}

}  // namespace flotilla::protocol
