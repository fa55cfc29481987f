#include "flotilla/common/prom_text.h"

#include <cctype>

namespace flotilla::common {
namespace {

bool nameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool nameChar(char c) { return nameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : s_(text) {}

  Result<Selector> parse() {
    Selector sel;
    skipSpace();
    if (pos_ >= s_.size() || !nameStart(s_[pos_])) return fail("expected a metric name");
    sel.name = name();
    skipSpace();
    if (pos_ < s_.size() && s_[pos_] == '{') {
      ++pos_;
      skipSpace();
      while (pos_ < s_.size() && s_[pos_] != '}') {
        LabelMatcher m;
        if (!nameStart(s_[pos_]) || s_[pos_] == ':') return fail("expected a label name");
        m.label = name();
        skipSpace();
        if (s_.substr(pos_, 2) == "=~") {
          m.op = LabelMatcher::Op::kRe;
          pos_ += 2;
        } else if (s_.substr(pos_, 2) == "!~") {
          m.op = LabelMatcher::Op::kNre;
          pos_ += 2;
        } else if (s_.substr(pos_, 2) == "!=") {
          m.op = LabelMatcher::Op::kNe;
          pos_ += 2;
        } else if (s_.substr(pos_, 1) == "=") {
          m.op = LabelMatcher::Op::kEq;
          pos_ += 1;
        } else {
          return fail("expected one of = != =~ !~ after label " + m.label);
        }
        skipSpace();
        auto value = quoted();
        if (!value) return value.error();
        m.value = *value;
        if (m.op == LabelMatcher::Op::kRe || m.op == LabelMatcher::Op::kNre) {
          try {
            m.re = std::make_shared<const std::regex>("^(?:" + m.value + ")$", std::regex::ECMAScript);
          } catch (const std::regex_error& e) {
            return fail("bad regular expression \"" + m.value + "\" for label " + m.label + ": " + e.what());
          }
        }
        sel.matchers.push_back(std::move(m));
        skipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          skipSpace();
          continue;
        }
        if (pos_ >= s_.size() || s_[pos_] != '}') return fail("expected , or } after a label matcher");
      }
      if (pos_ >= s_.size()) return fail("unterminated {");
      ++pos_;
      skipSpace();
    }
    if (pos_ != s_.size()) return fail("unexpected text after the selector");
    return sel;
  }

 private:
  std::string name() {
    std::size_t start = pos_;
    while (pos_ < s_.size() && nameChar(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  void skipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  Result<std::string> quoted() {
    if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) return fail("expected a quoted label value");
    char q = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != q) {
      char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) break;
        char e = s_[pos_++];
        out += e == 'n' ? '\n' : e;
      } else {
        out += c;
      }
    }
    if (pos_ >= s_.size()) return fail("unterminated label value");
    ++pos_;
    return out;
  }
  Error fail(const std::string& what) const {
    return Error(Errc::kInvalidArgument,
                 "selector \"" + std::string(s_) + "\" at column " + std::to_string(pos_ + 1) + ": " + what);
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

bool LabelMatcher::matches(std::string_view v) const {
  switch (op) {
    case Op::kEq:
      return v == value;
    case Op::kNe:
      return v != value;
    case Op::kRe:
      return std::regex_match(v.begin(), v.end(), *re);
    case Op::kNre:
      return !std::regex_match(v.begin(), v.end(), *re);
  }
  return false;
}

bool Selector::matches(std::string_view series_name, const std::map<std::string, std::string>& labels) const {
  if (series_name != name) return false;
  static const std::string kEmpty;
  for (const auto& m : matchers) {
    auto it = labels.find(m.label);
    if (!m.matches(it == labels.end() ? kEmpty : it->second)) return false;
  }
  return true;
}

Result<Selector> parseSelector(std::string_view text) { return SelectorParser(text).parse(); }

}  // namespace flotilla::common
