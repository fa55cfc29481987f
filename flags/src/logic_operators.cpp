#include "logic_operators.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "flotilla/flags/js_value.h"

namespace flotilla::flags {
namespace {

Error evalError(std::string message) { return Error(Errc::kInvalidArgument, std::move(message)); }

bool isStringOrNull(const Json& v) { return v.is_string() || v.is_null(); }
bool isComposite(const Json& v) { return v.is_array() || v.is_object(); }

const char* arithmeticName(Arithmetic arithmetic) {
  switch (arithmetic) {
    case Arithmetic::kAdd:
      return "+";
    case Arithmetic::kSubtract:
      return "-";
    case Arithmetic::kMultiply:
      return "*";
    case Arithmetic::kDivide:
      return "/";
    case Arithmetic::kModulo:
      return "%";
  }
  return "?";
}

// An operand as a number; arrays and objects (and NaN) are refused as json-logic-engine does.
Result<double> operand(Arithmetic arithmetic, const Json& value) {
  if (isComposite(value))
    return evalError(std::string(arithmeticName(arithmetic)) + ": " + value.dump() + " is not a number");
  return jsToNumber(value);
}

Result<Json> finish(Arithmetic arithmetic, double result) {
  if (std::isnan(result)) return evalError(std::string(arithmeticName(arithmetic)) + ": the result is not a number");
  return jsNumber(result);
}

// JS's substr start and length: integers, NaN as 0, clamped to the string.
double toInteger(const Json& v) {
  double n = jsToNumber(v);
  if (std::isnan(n)) return 0;
  return std::trunc(n);
}

}  // namespace

std::optional<Comparison> comparisonFromName(const std::string& op) {
  if (op == "==") return Comparison::kEqual;
  if (op == "===") return Comparison::kStrictEqual;
  if (op == "!=") return Comparison::kNotEqual;
  if (op == "!==") return Comparison::kStrictNotEqual;
  if (op == "<") return Comparison::kLess;
  if (op == "<=") return Comparison::kLessEqual;
  if (op == ">") return Comparison::kGreater;
  if (op == ">=") return Comparison::kGreaterEqual;
  return std::nullopt;
}

Result<Json> compareCheck(Comparison comparison, Json item, const Json& prev) {
  const bool strict = comparison == Comparison::kStrictEqual || comparison == Comparison::kStrictNotEqual;
  if (strict || (isStringOrNull(item) && isStringOrNull(prev))) return item;
  if (isComposite(item) || isComposite(prev))
    return evalError("cannot compare " + prev.dump() + " with " + item.dump() + " (an array or an object)");
  if (std::isnan(jsToNumber(item)) && !prev.is_null())
    return evalError("cannot compare " + prev.dump() + " with " + item.dump() + " as numbers");
  if (std::isnan(jsToNumber(prev)))
    return evalError("cannot compare " + prev.dump() + " with " + item.dump() + " as numbers");
  // json-logic-engine's own rule: null equals 0 and false (JS has null == 0 false).
  if (prev.is_null() && !jsTruthy(item)) return Json();
  if (item.is_null() && !jsTruthy(prev)) return Json(0);
  return item;
}

bool compareValues(Comparison comparison, const Json& a, const Json& b) {
  switch (comparison) {
    case Comparison::kEqual:
      return jsLooseEquals(a, b);
    case Comparison::kStrictEqual:
      return jsStrictEquals(a, b);
    case Comparison::kNotEqual:
      return !jsLooseEquals(a, b);
    case Comparison::kStrictNotEqual:
      return !jsStrictEquals(a, b);
    case Comparison::kLess:
      return jsRelate(Relation::kLess, a, b);
    case Comparison::kLessEqual:
      return jsRelate(Relation::kLessEqual, a, b);
    case Comparison::kGreater:
      return jsRelate(Relation::kGreater, a, b);
    case Comparison::kGreaterEqual:
      return jsRelate(Relation::kGreaterEqual, a, b);
  }
  return false;
}

std::optional<Arithmetic> arithmeticFromName(const std::string& op) {
  if (op == "+") return Arithmetic::kAdd;
  if (op == "-") return Arithmetic::kSubtract;
  if (op == "*") return Arithmetic::kMultiply;
  if (op == "/") return Arithmetic::kDivide;
  if (op == "%") return Arithmetic::kModulo;
  return std::nullopt;
}

Result<Json> arithmeticValues(Arithmetic arithmetic, const Json& operands) {
  const char* name = arithmeticName(arithmetic);
  if (!operands.is_array()) {
    // {"+": "3"}, {"-": {"var": "n"}}: one operand that is not an array.
    if (arithmetic == Arithmetic::kAdd || arithmetic == Arithmetic::kSubtract) {
      auto n = operand(arithmetic, operands);
      if (!n) return n.error();
      return finish(arithmetic, arithmetic == Arithmetic::kSubtract ? -*n : *n);
    }
    return evalError(std::string(name) + ": expects an array of numbers");
  }
  std::vector<double> numbers;
  for (const Json& value : operands) {
    auto n = operand(arithmetic, value);
    if (!n) return n.error();
    numbers.push_back(*n);
  }
  switch (arithmetic) {
    case Arithmetic::kAdd: {
      double sum = 0;
      for (double n : numbers) sum += n;
      return finish(arithmetic, sum);
    }
    case Arithmetic::kMultiply: {
      double product = 1;
      for (double n : numbers) product *= n;
      return finish(arithmetic, product);
    }
    case Arithmetic::kSubtract: {
      if (numbers.empty()) return evalError("-: expects at least one number");
      if (numbers.size() == 1) return finish(arithmetic, -numbers[0]);
      double difference = numbers[0];
      for (size_t i = 1; i < numbers.size(); ++i) difference -= numbers[i];
      return finish(arithmetic, difference);
    }
    case Arithmetic::kDivide: {
      if (numbers.empty()) return evalError("/: expects at least one number");
      if (numbers.size() == 1) numbers.insert(numbers.begin(), 1.0);
      double quotient = numbers[0];
      for (size_t i = 1; i < numbers.size(); ++i) {
        if (numbers[i] == 0 || std::isnan(numbers[i])) return evalError("/: division by zero");
        quotient /= numbers[i];
      }
      return finish(arithmetic, quotient);
    }
    case Arithmetic::kModulo: {
      if (numbers.size() < 2) return evalError("%: expects two numbers");
      double remainder = numbers[0];
      for (size_t i = 1; i < numbers.size(); ++i) remainder = std::fmod(remainder, numbers[i]);
      return finish(arithmetic, remainder);
    }
  }
  return evalError("unknown arithmetic");
}

Result<Json> arithmeticMethod(Arithmetic arithmetic, const Json& data) {
  const std::string name = arithmeticName(arithmetic);
  auto notANumber = [&] { return evalError(name + ": not a number"); };
  auto object = [](const Json& v) { return isComposite(v); };  // `x && typeof x === 'object'`
  if (arithmetic == Arithmetic::kAdd || arithmetic == Arithmetic::kSubtract) {
    const bool add = arithmetic == Arithmetic::kAdd;
    if (!jsTruthy(data) && !isComposite(data)) return Json(0);
    if (!data.is_array()) {
      if (data.is_object()) return notANumber();
      double n = jsToNumber(data);
      if (std::isnan(n)) return notANumber();
      return jsNumber(add ? n : -n);
    }
    if (!add && !data.empty() && object(data[0])) return notANumber();
    if (!add && data.empty()) return evalError("-: expects at least one number");
    if (!add && data.size() == 1) return jsNumber(-jsToNumber(data[0]));  // no NaN check here
    double result = add ? 0 : jsToNumber(data[0]);
    for (size_t i = add ? 0 : 1; i < data.size(); ++i) {
      if (object(data[i])) return notANumber();
      result = add ? result + jsToNumber(data[i]) : result - jsToNumber(data[i]);
    }
    if (std::isnan(result)) return notANumber();
    return jsNumber(result);
  }
  if (!data.is_array()) return evalError(name + ": expects an array");
  if (arithmetic == Arithmetic::kMultiply) {
    double product = 1;
    for (const Json& v : data) {
      if (object(v)) return notANumber();
      product *= jsToNumber(v);
    }
    if (std::isnan(product)) return notANumber();
    return jsNumber(product);
  }
  if (!data.empty() && object(data[0])) return notANumber();
  if (arithmetic == Arithmetic::kDivide) {
    if (data.empty()) return evalError("/: expects at least one number");
    if (data.size() == 1) {
      double n = jsToNumber(data[0]);
      if (n == 0 || std::isnan(n)) return notANumber();
      return jsNumber(1 / n);
    }
    double quotient = jsToNumber(data[0]);
    for (size_t i = 1; i < data.size(); ++i) {
      if (object(data[i]) || !jsTruthy(data[i])) return notANumber();
      quotient /= jsToNumber(data[i]);
    }
    if (std::isnan(quotient) || quotient == std::numeric_limits<double>::infinity()) return notANumber();
    return jsNumber(quotient);
  }
  if (data.size() < 2) return evalError("%: expects two numbers");
  double remainder = jsToNumber(data[0]);
  for (size_t i = 1; i < data.size(); ++i) {
    if (object(data[i])) return notANumber();
    remainder = std::fmod(remainder, jsToNumber(data[i]));
  }
  if (std::isnan(remainder)) return notANumber();
  return jsNumber(remainder);
}

Status checkArithmeticLiterals(Arithmetic arithmetic, const Json& raw, const std::string& path) {
  if (!raw.is_array()) return okStatus();
  if (raw.empty() && (arithmetic == Arithmetic::kSubtract || arithmetic == Arithmetic::kDivide))
    return Error(Errc::kInvalidArgument, path + ": expects at least one argument");
  if (raw.size() < 2 && arithmetic == Arithmetic::kModulo)
    return Error(Errc::kInvalidArgument, path + ": expects two arguments");
  for (size_t i = 0; i < raw.size(); ++i) {
    const Json& item = raw[i];
    if (item.is_array())
      return Error(Errc::kInvalidArgument, path + "[" + std::to_string(i) + "]: an array is not a number");
    if (item.is_string() && std::isnan(jsToNumber(item)))
      return Error(Errc::kInvalidArgument, path + "[" + std::to_string(i) + "]: " + item.dump() + " is not a number");
    bool divisor = arithmetic == Arithmetic::kDivide && (i > 0 || raw.size() == 1);
    if (divisor && (item.is_number() || item.is_string()) && jsToNumber(item) == 0)
      return Error(Errc::kInvalidArgument, path + "[" + std::to_string(i) + "]: division by zero");
  }
  return okStatus();
}

Result<Json> inOp(const Json& args) {
  if (!args.is_array()) return evalError("in: expects [value, string or array]");
  Json needle = args.empty() ? Json() : args[0];
  Json haystack = args.size() > 1 ? args[1] : Json();
  if (!jsTruthy(haystack) && !haystack.is_array() && !haystack.is_object()) return Json(false);
  if (haystack.is_string())
    return Json(haystack.get_ref<const std::string&>().find(jsToString(needle)) != std::string::npos);
  if (haystack.is_array()) {
    for (const Json& item : haystack)
      if (jsStrictEquals(item, needle)) return Json(true);
    return Json(false);
  }
  return evalError("in: " + haystack.dump() + " is neither a string nor an array");
}

Result<Json> substrOp(const Json& args) {
  if (!args.is_array() || args.empty() || !args[0].is_string()) return evalError("substr: expects a string");
  std::u16string text = jsUtf16(args[0].get_ref<const std::string&>());
  auto cut = [&](const std::u16string& s, double from, std::optional<double> length) {
    double n = static_cast<double>(s.size());
    double start = from < 0 ? std::max(n + from, 0.0) : std::min(from, n);
    double count = length ? std::clamp(*length, 0.0, n - start) : n - start;
    return s.substr(static_cast<size_t>(start), static_cast<size_t>(count));
  };
  double from = args.size() > 1 ? toInteger(args[1]) : 0;
  if (args.size() > 2 && jsRelate(Relation::kLess, args[2], Json(0))) {
    std::u16string rest = cut(text, from, std::nullopt);
    return Json(jsUtf8(cut(rest, 0, static_cast<double>(rest.size()) + toInteger(args[2]))));
  }
  std::optional<double> length;
  if (args.size() > 2) length = toInteger(args[2]);
  return Json(jsUtf8(cut(text, from, length)));
}

Result<Json> minMaxOp(bool isMin, const Json& args) {
  const char* name = isMin ? "min" : "max";
  if (!args.is_array() || args.empty()) return evalError(std::string(name) + ": expects numbers");
  Json best = args[0];
  for (const Json& value : args) {
    if (!value.is_number()) return evalError(std::string(name) + ": " + value.dump() + " is not a number");
    if (isMin ? value.get<double>() < best.get<double>() : value.get<double>() > best.get<double>()) best = value;
  }
  return best;
}

Result<Json> mergeOp(const Json& args, std::size_t maxLength) {
  if (!args.is_array()) return Json::array({args});
  Json merged = Json::array();
  for (const Json& item : args) {
    if (item.is_array()) {
      for (const Json& inner : item) merged.push_back(inner);
    } else {
      merged.push_back(item);
    }
    if (merged.size() > maxLength) return evalError("merge: the result is too long");
  }
  return merged;
}

}  // namespace flotilla::flags
