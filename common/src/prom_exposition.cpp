#include "flotilla/common/prom_exposition.h"

#include <cctype>
#include <charconv>
#include <unordered_set>

namespace flotilla::common {
namespace {

bool metricStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool metricChar(char c) { return metricStart(c) || std::isdigit(static_cast<unsigned char>(c)); }
bool labelStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool labelChar(char c) { return labelStart(c) || std::isdigit(static_cast<unsigned char>(c)); }
bool blank(char c) { return c == ' ' || c == '\t'; }

bool knownType(std::string_view t) {
  return t == "counter" || t == "gauge" || t == "histogram" || t == "summary" || t == "untyped";
}

// A float as Go's strconv.ParseFloat reads it in Prometheus: decimal or
// exponent notation, NaN, +Inf, -Inf (any case).
std::optional<double> parseValue(std::string_view text) {
  if (text.size() > 1 && text[0] == '+' && text[1] != '-') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  // Out of range is what ParseFloat reports as +-Inf or 0; keep the result.
  if ((ec != std::errc() && ec != std::errc::result_out_of_range) || end != text.data() + text.size())
    return std::nullopt;
  return v;
}

std::optional<std::int64_t> parseTimestamp(std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// One sample line: name{labels} value [timestamp].
class LineParser {
 public:
  LineParser(std::string_view line, const ExpositionLimits& limits) : s_(line), limits_(limits) {}

  // An error message without the line number, or the series.
  Result<PromSeries> parse() {
    PromSeries out;
    if (!metricStart(peek())) return fail("expected a metric name");
    while (pos_ < s_.size() && metricChar(s_[pos_])) ++pos_;
    out.name = std::string(s_.substr(0, pos_));
    skipBlank();
    if (peek() == '{') {
      ++pos_;
      if (auto st = labels(out.labels); !st.ok()) return st.error();
    }
    skipBlank();
    if (pos_ >= s_.size()) return fail("expected a value");
    auto value = parseValue(token());
    if (!value) return fail("bad value");
    out.value = *value;
    skipBlank();
    if (pos_ < s_.size()) {
      auto ts = parseTimestamp(token());
      if (!ts) return fail("bad timestamp");
      out.timestamp_ms = *ts;
      skipBlank();
      if (pos_ < s_.size()) return fail("unexpected text after the timestamp");
    }
    return out;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skipBlank() {
    while (pos_ < s_.size() && blank(s_[pos_])) ++pos_;
  }
  std::string_view token() {
    std::size_t start = pos_;
    while (pos_ < s_.size() && !blank(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  Error fail(const std::string& what) const {
    return Error(Errc::kInvalidArgument, "column " + std::to_string(pos_ + 1) + ": " + what);
  }

  Status labels(std::map<std::string, std::string>& out) {
    while (true) {
      skipBlank();
      if (peek() == '}') {
        ++pos_;
        return {};
      }
      if (!labelStart(peek())) return fail(pos_ >= s_.size() ? "unterminated {" : "expected a label name");
      std::size_t start = pos_;
      while (pos_ < s_.size() && labelChar(s_[pos_])) ++pos_;
      std::string name(s_.substr(start, pos_ - start));
      if (name.size() > limits_.max_label_value_bytes) return fail("label name too long");
      skipBlank();
      if (peek() != '=') return fail("expected = after label " + name);
      ++pos_;
      skipBlank();
      auto value = quoted();
      if (!value) return value.error();
      if (out.size() >= limits_.max_labels) return fail("more than " + std::to_string(limits_.max_labels) + " labels");
      if (!out.emplace(name, std::move(*value)).second) return fail("label " + name + " repeated");
      skipBlank();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        return fail("expected , or } after a label");
      }
    }
  }

  Result<std::string> quoted() {
    if (peek() != '"') return fail("expected a quoted label value");
    ++pos_;
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) break;
        char e = s_[pos_++];
        if (e == 'n')
          c = '\n';
        else if (e == '\\' || e == '"')
          c = e;
        else
          return fail(std::string("bad escape \\") + e + " in a label value");
      }
      if (out.size() >= limits_.max_label_value_bytes)
        return fail("label value longer than " + std::to_string(limits_.max_label_value_bytes) + " bytes");
      out += c;
    }
    if (pos_ >= s_.size()) return fail("unterminated label value");
    ++pos_;
    return out;
  }

  std::string_view s_;
  const ExpositionLimits& limits_;
  std::size_t pos_ = 0;
};

// "# TYPE name type" is kept; HELP and other comments are skipped.
Status commentLine(std::string_view line, Exposition& out, const ExpositionLimits& limits) {
  std::string_view rest = line.substr(1);
  auto word = [&rest]() {
    while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
    std::size_t n = 0;
    while (n < rest.size() && !blank(rest[n])) ++n;
    auto w = rest.substr(0, n);
    rest.remove_prefix(n);
    return w;
  };
  if (word() != "TYPE") return {};
  auto name = word();
  auto type = word();
  if (name.empty() || !metricStart(name[0])) return Error(Errc::kInvalidArgument, "TYPE without a metric name");
  // OpenMetrics' other types (info, stateset, ...) are not an error: the
  // series still parse, they just have no known type.
  if (!knownType(type)) return {};
  if (out.types.size() >= limits.max_series && !out.types.count(std::string(name)))
    return Error(Errc::kInvalidArgument, "more than " + std::to_string(limits.max_series) + " TYPE lines");
  out.types[std::string(name)] = std::string(type);
  return {};
}

}  // namespace

std::string seriesKey(const std::string& name, const std::map<std::string, std::string>& labels) {
  // '\0' cannot appear in a name and separates the parts unambiguously once
  // values have their length in front.
  std::string key = name;
  for (const auto& [k, v] : labels) {
    key += '\0';
    key += k;
    key += '\0';
    key += std::to_string(v.size());
    key += ':';
    key += v;
  }
  return key;
}

Result<Exposition> parseExposition(std::string_view body, const ExpositionLimits& limits) {
  if (body.size() > limits.max_body_bytes)
    return Error(Errc::kInvalidArgument, "body of " + std::to_string(body.size()) + " bytes is over the limit of " +
                                             std::to_string(limits.max_body_bytes));
  Exposition out;
  std::unordered_set<std::string> seen;
  std::size_t pos = 0;
  std::size_t number = 0;
  while (pos < body.size()) {
    ++number;
    std::size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    pos = end + 1;
    auto at = [number](const Error& e) { return e.context("line " + std::to_string(number)); };
    if (line.size() > limits.max_line_bytes)
      return Error(Errc::kInvalidArgument, "line " + std::to_string(number) + " is longer than " +
                                               std::to_string(limits.max_line_bytes) + " bytes");
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && blank(line.front())) line.remove_prefix(1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      if (auto st = commentLine(line, out, limits); !st.ok()) return at(st.error());
      continue;
    }
    auto series = LineParser(line, limits).parse();
    if (!series) return at(series.error());
    if (!seen.insert(seriesKey(series->name, series->labels)).second) {
      ++out.duplicates;
      continue;
    }
    if (out.series.size() >= limits.max_series)
      return Error(Errc::kInvalidArgument, "more than " + std::to_string(limits.max_series) + " series");
    out.series.push_back(std::move(*series));
  }
  return out;
}

}  // namespace flotilla::common
