#include "flotilla/flags/js_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace flotilla::flags {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool isJsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && isJsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isJsSpace(text.back())) text.remove_suffix(1);
  return text;
}

double parseRadix(std::string_view digits, int radix) {
  if (digits.empty()) return kNaN;
  double value = 0;
  for (char c : digits) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'z') digit = c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') digit = c - 'A' + 10;
    if (digit < 0 || digit >= radix) return kNaN;
    value = value * radix + digit;
  }
  return value;
}

// A StrDecimalLiteral: sign, digits with an optional fraction, an optional exponent.
bool isDecimalLiteral(std::string_view text) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    size_t exponent = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++exponent;
    if (exponent == 0) return false;
  }
  return i == text.size();
}

}  // namespace

bool jsTruthy(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return false;
    case Json::value_t::boolean:
      return value.get<bool>();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: {
      double number = value.get<double>();
      return number != 0 && !std::isnan(number);
    }
    case Json::value_t::string:
      return !value.get_ref<const std::string&>().empty();
    case Json::value_t::array:
    case Json::value_t::object:
      return !value.empty();
    default:
      return false;
  }
}

double jsStringToNumber(std::string_view text) {
  text = trim(text);
  if (text.empty()) return 0;
  if (text.size() > 2 && text[0] == '0') {
    char prefix = static_cast<char>(std::tolower(static_cast<unsigned char>(text[1])));
    if (prefix == 'x') return parseRadix(text.substr(2), 16);
    if (prefix == 'o') return parseRadix(text.substr(2), 8);
    if (prefix == 'b') return parseRadix(text.substr(2), 2);
  }
  if (text == "Infinity" || text == "+Infinity") return std::numeric_limits<double>::infinity();
  if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
  if (!isDecimalLiteral(text)) return kNaN;
  return std::strtod(std::string(text).c_str(), nullptr);
}

double jsToNumber(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return 0;
    case Json::value_t::boolean:
      return value.get<bool>() ? 1 : 0;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return value.get<double>();
    case Json::value_t::string:
      return jsStringToNumber(value.get_ref<const std::string&>());
    default:
      return kNaN;
  }
}

std::string jsNumberToString(double number) {
  if (std::isnan(number)) return "NaN";
  if (std::isinf(number)) return number > 0 ? "Infinity" : "-Infinity";
  if (number == 0) return "0";
  // ECMAScript Number::toString: the shortest digits that round-trip, then placed by the
  // exponent: plain from 1e-6 up to 1e21, else d.ddde+n.
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), std::fabs(number), std::chars_format::scientific);
  if (ec != std::errc()) return "NaN";
  std::string text(buffer, end);
  const auto e = text.find('e');
  std::string digits = text.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int k = static_cast<int>(digits.size());
  const int n = std::stoi(text.substr(e + 1)) + 1;  // the decimal point sits after n digits
  std::string out = number < 0 ? "-" : "";
  if (k <= n && n <= 21) {
    out += digits + std::string(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n)) + "." + digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(static_cast<size_t>(-n), '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  }
  return out;
}

std::string jsToString(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
      return std::to_string(value.get<std::int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(value.get<std::uint64_t>());
    case Json::value_t::number_float:
      return jsNumberToString(value.get<double>());
    case Json::value_t::string:
      return value.get<std::string>();
    case Json::value_t::array: {
      std::string joined;
      for (size_t i = 0; i < value.size(); ++i) {
        if (i > 0) joined += ',';
        if (!value[i].is_null()) joined += jsToString(value[i]);
      }
      return joined;
    }
    default:
      return "[object Object]";
  }
}

Json jsNumber(double number) {
  constexpr double kMaxSafe = 9007199254740991.0;
  if (std::isfinite(number) && number == std::trunc(number) && std::fabs(number) <= kMaxSafe) {
    if (number == 0) return Json(0);  // -0 prints as 0 in JS
    return Json(static_cast<std::int64_t>(number));
  }
  return Json(number);
}

bool jsStrictEquals(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.type() != b.type()) return false;
  if (a.is_array() || a.is_object()) return false;
  return a == b;
}

bool jsLooseEquals(const Json& a, const Json& b) {
  if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
  const bool compositeA = a.is_array() || a.is_object();
  const bool compositeB = b.is_array() || b.is_object();
  if (compositeA && compositeB) return false;  // two objects: JS compares references
  // An array or object against a primitive is first turned into its string, as JS's ToPrimitive does.
  if (compositeA) return jsLooseEquals(Json(jsToString(a)), b);
  if (compositeB) return jsLooseEquals(a, Json(jsToString(b)));
  if (a.is_string() && b.is_string()) return a == b;
  return jsToNumber(a) == jsToNumber(b);
}

bool jsRelate(Relation relation, const Json& left, const Json& right) {
  // Arrays and objects compare by their strings (ToPrimitive), like everything in JS.
  const Json a = left.is_array() || left.is_object() ? Json(jsToString(left)) : left;
  const Json b = right.is_array() || right.is_object() ? Json(jsToString(right)) : right;
  if (a.is_string() && b.is_string()) {
    const auto& x = a.get_ref<const std::string&>();
    const auto& y = b.get_ref<const std::string&>();
    switch (relation) {
      case Relation::kLess:
        return x < y;
      case Relation::kLessEqual:
        return x <= y;
      case Relation::kGreater:
        return x > y;
      case Relation::kGreaterEqual:
        return x >= y;
    }
  }
  double x = jsToNumber(a);
  double y = jsToNumber(b);
  switch (relation) {
    case Relation::kLess:
      return x < y;
    case Relation::kLessEqual:
      return x <= y;
    case Relation::kGreater:
      return x > y;
    case Relation::kGreaterEqual:
      return x >= y;
  }
  return false;
}

}  // namespace flotilla::flags

namespace flotilla::flags {

bool jsonDeeperThan(const Json& value, int limit) {
  if (!value.is_array() && !value.is_object()) return false;
  if (limit <= 0) return true;
  for (const Json& item : value)
    if (jsonDeeperThan(item, limit - 1)) return true;
  return false;
}

bool jsonTextDeeperThan(std::string_view text, int limit) {
  int depth = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (inString) {
      if (c == '\\') ++i;
      if (c == '"') inString = false;
      continue;
    }
    if (c == '"') inString = true;
    if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    }
    if (c == ']' || c == '}') --depth;
  }
  return false;
}

std::u16string jsUtf16(std::string_view utf8) {
  std::u16string units;
  units.reserve(utf8.size());
  size_t i = 0;
  while (i < utf8.size()) {
    auto byte = static_cast<unsigned char>(utf8[i]);
    std::uint32_t code = byte;
    size_t length = 1;
    if (byte >= 0x80) {
      length = (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xE ? 3 : (byte >> 3) == 0x1E ? 4 : 0;
      code = length == 2 ? byte & 0x1F : length == 3 ? byte & 0x0F : byte & 0x07;
      bool valid = length > 0 && i + length <= utf8.size();
      for (size_t k = 1; valid && k < length; ++k) {
        auto next = static_cast<unsigned char>(utf8[i + k]);
        valid = (next >> 6) == 0x2;
        code = (code << 6) | (next & 0x3F);
      }
      if (!valid) code = 0xFFFD, length = 1;
    }
    if (code >= 0x10000) {
      code -= 0x10000;
      units.push_back(static_cast<char16_t>(0xD800 + (code >> 10)));
      units.push_back(static_cast<char16_t>(0xDC00 + (code & 0x3FF)));
    } else {
      units.push_back(static_cast<char16_t>(code));
    }
    i += length;
  }
  return units;
}

std::string jsUtf8(std::u16string_view utf16) {
  std::string out;
  out.reserve(utf16.size());
  for (size_t i = 0; i < utf16.size(); ++i) {
    std::uint32_t code = utf16[i];
    if (code >= 0xD800 && code < 0xDC00 && i + 1 < utf16.size() && utf16[i + 1] >= 0xDC00 && utf16[i + 1] < 0xE000) {
      code = 0x10000 + ((code - 0xD800) << 10) + (utf16[i + 1] - 0xDC00);
      ++i;
    } else if (code >= 0xD800 && code < 0xE000) {
      code = 0xFFFD;  // a lone surrogate has no UTF-8 form
    }
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }
  return out;
}

}  // namespace flotilla::flags
