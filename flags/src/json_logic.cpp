#include "flotilla/flags/json_logic.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "flagd_operators.h"
#include "flotilla/flags/js_value.h"
#include "logic_operators.h"

namespace flotilla::flags {
namespace {

Error evalError(std::string message) { return Error(Errc::kInvalidArgument, std::move(message)); }

// json-logic-engine's splitPath: "." separates, "\." is a literal dot, "\\" a backslash.
std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::string current;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '\\' && i + 1 < path.size() && (path[i + 1] == '.' || path[i + 1] == '/' || path[i + 1] == '\\')) {
      current += path[++i];
    } else if (c == '.') {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (parts.size() != path.size()) parts.push_back(current);
  return parts;
}

// One step of `context?.[piece]`: nullptr when JS would give undefined.
const Json* member(const Json& value, const std::string& piece) {
  if (value.is_object()) {
    auto it = value.find(piece);
    return it == value.end() ? nullptr : &*it;
  }
  if (value.is_array() && !piece.empty() && piece.size() < 10 && (piece == "0" || piece[0] != '0')) {
    size_t index = 0;
    for (char c : piece) {
      if (c < '0' || c > '9') return nullptr;
      index = index * 10 + static_cast<size_t>(c - '0');
    }
    return index < value.size() ? &value[index] : nullptr;
  }
  return nullptr;
}

class Interpreter {
 public:
  Interpreter(const Json& data, const LogicLimits& limits) : data_(data), limits_(limits) {}

  Result<Json> eval(const Json& rule) {
    if (rule.is_array()) {
      FLOTILLA_TRY(charge(rule.size()));
      Json out = Json::array();
      for (const Json& item : rule) {
        auto value = eval(item);
        if (!value) return value.error();
        out.push_back(std::move(*value));
      }
      return out;
    }
    if (!rule.is_object()) return rule;
    FLOTILLA_TRY(charge(1));
    const std::string& op = rule.begin().key();
    const Json& raw = rule.begin().value();
    if (op == "if") return ifOp(raw);
    if (op == "and" || op == "or") return andOr(op == "and", raw);
    if (op == "!" || op == "!!") return notOp(op == "!", raw);
    if (auto relation = comparisonFromName(op)) return compareChain(*relation, raw);
    if (op == "cat") return cat(raw);
    if (auto arithmetic = arithmeticFromName(op)) return arithmeticOp(*arithmetic, raw);
    auto args = eval(raw);
    if (!args) return args.error();
    return apply(op, *args);
  }

 private:
  Status charge(size_t operations) {
    operations_ += operations;
    if (operations_ > limits_.maxOperations)
      return evalError("the rule needs more than " + std::to_string(limits_.maxOperations) + " operations");
    return okStatus();
  }

  Result<Json> apply(const std::string& op, const Json& args) {
    if (op == "var") return var(args);
    if (op == "missing") return missing(args);
    if (op == "missing_some") return missingSome(args);
    if (op == "in") return inOp(args);
    if (op == "substr") return substrOp(args);
    if (op == "min" || op == "max") return minMaxOp(op == "min", args);
    if (op == "merge") return mergeOp(args, limits_.maxArrayLength);
    if (op == "fractional") return fractionalOperator(args, data_);
    if (op == "sem_ver") return semVerOperator(args);
    if (op == "starts_with") return startsWithOperator(args);
    if (op == "ends_with") return endsWithOperator(args);
    return evalError("unknown operator \"" + op + "\"");
  }

  Result<Json> ifOp(const Json& raw) {
    if (!raw.is_array()) return evalError("if: expects an array");
    if (raw.empty()) return Json();
    if (raw.size() == 1) return eval(raw[0]);
    size_t i = 0;
    for (; i + 1 < raw.size(); i += 2) {
      auto test = eval(raw[i]);
      if (!test) return test;
      if (jsTruthy(*test)) return eval(raw[i + 1]);
    }
    return i < raw.size() ? eval(raw[i]) : Result<Json>(Json());
  }

  Result<Json> andOr(bool isAnd, const Json& raw) {
    if (!raw.is_array()) return evalError(std::string(isAnd ? "and" : "or") + ": expects an array");
    if (raw.empty()) return Json();
    Json item;
    for (const Json& rule : raw) {
      auto value = eval(rule);
      if (!value) return value;
      item = std::move(*value);
      if (jsTruthy(item) != isAnd) return item;
    }
    return item;
  }

  Result<Json> notOp(bool negate, const Json& raw) {
    Json value;
    if (raw.is_array()) {
      if (!raw.empty()) {
        auto first = eval(raw[0]);
        if (!first) return first;
        value = std::move(*first);
      }
    } else {
      auto whole = eval(raw);
      if (!whole) return whole;
      value = std::move(*whole);
    }
    return Json(jsTruthy(value) != negate);
  }

  Result<Json> compareChain(Comparison comparison, const Json& raw) {
    if (!raw.is_array() || raw.size() < 2) return evalError("comparison: expects two or more arguments");
    auto first = eval(raw[0]);
    if (!first) return first;
    Json prev = std::move(*first);
    bool result = true;
    for (size_t i = 1; i < raw.size() && result; ++i) {
      auto next = eval(raw[i]);
      if (!next) return next;
      auto checked = compareCheck(comparison, std::move(*next), prev);
      if (!checked) return checked;
      result = compareValues(comparison, prev, *checked);
      prev = std::move(*checked);
    }
    return Json(result);
  }

  Result<Json> cat(const Json& raw) {
    if (raw.is_string()) return raw;
    if (raw.is_number()) return Json(jsToString(raw));
    std::string text;
    if (raw.is_array()) {
      // Compiled by flagd-core as '' + a + b: null prints as "null", unless the whole
      // concatenation is constant, which json-logic-engine folds with its interpreter (nulls skipped).
      const bool constant = isConstantRule(raw);
      for (const Json& rule : raw) {
        auto value = eval(rule);
        if (!value) return value;
        if (constant && value->is_null()) continue;
        text += jsToString(*value);
        if (text.size() > limits_.maxStringLength) return evalError("cat: the result is too long");
      }
      return Json(std::move(text));
    }
    auto value = eval(raw);
    if (!value) return value;
    if (value->is_null()) return evalError("cat: cannot convert null to a string");
    if (!value->is_array()) return Json(jsToString(*value));
    for (const Json& item : *value)
      if (!item.is_null()) text += jsToString(item);
    return Json(std::move(text));
  }

  Result<Json> arithmeticOp(Arithmetic arithmetic, const Json& raw) {
    auto operands = eval(raw);
    if (!operands) return operands;
    return arithmeticValues(arithmetic, *operands);
  }

  Result<Json> var(const Json& args) {
    Json key = args.is_array() ? (args.empty() ? Json() : args[0]) : args;
    Json fallback = args.is_array() && args.size() > 1 ? args[1] : Json();
    if (key.is_null() || (key.is_string() && key.get_ref<const std::string&>().empty())) return data_;
    const Json* at = &data_;
    for (const std::string& piece : splitPath(jsToString(key))) {
      at = member(*at, piece);
      if (at == nullptr) return fallback;
    }
    return at->is_null() ? fallback : *at;
  }

  bool present(const std::string& path) const {
    const Json* at = &data_;
    for (const std::string& piece : splitPath(path)) {
      if (!jsTruthy(*at) && !at->is_array() && !at->is_object()) return false;
      at = member(*at, piece);
      if (at == nullptr) return false;
    }
    return true;
  }

  Result<Json> missing(const Json& args) {
    Json keys = args.is_array() ? args : Json::array({args});
    if (keys.size() == 1 && keys[0].is_array()) keys = keys[0];
    Json absent = Json::array();
    for (const Json& key : keys)
      if (!present(jsToString(key))) absent.push_back(key);
    return absent;
  }

  Result<Json> missingSome(const Json& args) {
    if (!args.is_array() || args.size() < 2 || !args[1].is_array())
      return evalError("missing_some: expects [count, keys]");
    auto absent = missing(args[1]);
    if (!absent) return absent;
    double have = static_cast<double>(args[1].size() - absent->size());
    if (have < jsToNumber(args[0])) return absent;
    return Json::array();
  }

  const Json& data_;
  const LogicLimits& limits_;
  size_t operations_ = 0;
};

// The names checkRule accepts: exactly the ones the interpreter applies.
bool knownOperator(const std::string& op) {
  static constexpr std::array<std::string_view, 31> kKnown = {
      "var", "if",  "==",    "===",     "!=",           "!==",        "!",       "!!",          "and",      "or", "<",
      "<=",  ">",   ">=",    "in",      "cat",          "substr",     "+",       "-",           "*",        "/",  "%",
      "min", "max", "merge", "missing", "missing_some", "fractional", "sem_ver", "starts_with", "ends_with"};
  return std::find(kKnown.begin(), kKnown.end(), op) != kKnown.end();
}

Status checkAt(const Json& rule, const LogicLimits& limits, int depth, const std::string& path) {
  if (depth > limits.maxDepth)
    return Error(Errc::kInvalidArgument, path + ": nested deeper than " + std::to_string(limits.maxDepth) + " levels");
  if (rule.is_array()) {
    for (size_t i = 0; i < rule.size(); ++i)
      FLOTILLA_TRY(checkAt(rule[i], limits, depth + 1, path + "[" + std::to_string(i) + "]"));
    return okStatus();
  }
  if (!rule.is_object()) return okStatus();
  if (rule.size() != 1)
    return Error(Errc::kInvalidArgument,
                 path + ": an operator is an object with exactly one key, this one has " + std::to_string(rule.size()));
  const std::string& op = rule.begin().key();
  const std::string here = path.empty() ? op : path + "." + op;
  if (op == "$ref") return Error(Errc::kInvalidArgument, here + ": no $evaluators entry named " + rule.begin()->dump());
  if (!knownOperator(op)) return Error(Errc::kInvalidArgument, here + ": unknown operator \"" + op + "\"");
  if (auto arithmetic = arithmeticFromName(op))
    FLOTILLA_TRY(checkArithmeticLiterals(*arithmetic, rule.begin().value(), here));
  return checkAt(rule.begin().value(), limits, depth + 1, here);
}

// json-logic-engine evaluates the parts of a rule that read no context while it compiles the
// rule, so in flagd a constant part that fails ({"min": []}, {"/": [1, 0]}) fails the flag set.
Status checkConstants(const Json& rule, const LogicLimits& limits, const std::string& path) {
  if (rule.is_object() && isConstantRule(rule)) {
    auto folded = evaluateRule(rule, Json::object(), limits);
    if (!folded)
      return Error(
          Errc::kInvalidArgument,
          (path.empty() ? "" : path + ": ") +
              "reads no context and fails (flagd evaluates it when it loads the rule): " + folded.error().message);
    return okStatus();
  }
  if (rule.is_array()) {
    for (size_t i = 0; i < rule.size(); ++i)
      FLOTILLA_TRY(checkConstants(rule[i], limits, path + "[" + std::to_string(i) + "]"));
  } else if (rule.is_object()) {
    const std::string& op = rule.begin().key();
    FLOTILLA_TRY(checkConstants(rule.begin().value(), limits, path.empty() ? op : path + "." + op));
  }
  return okStatus();
}

}  // namespace

bool isConstantRule(const Json& rule) {
  if (rule.is_array()) {
    for (const Json& item : rule)
      if (!isConstantRule(item)) return false;
    return true;
  }
  if (!rule.is_object() || rule.empty()) return true;
  const std::string& op = rule.begin().key();
  // Operators that read the context, and flagd's own (json-logic-engine cannot fold those).
  if (op == "var" || op == "missing" || op == "missing_some" || op == "fractional" || op == "sem_ver" ||
      op == "starts_with" || op == "ends_with")
    return false;
  return isConstantRule(rule.begin().value());
}

Status checkRule(const Json& rule, const LogicLimits& limits) {
  FLOTILLA_TRY(checkAt(rule, limits, 0, ""));
  return checkConstants(rule, limits, "");
}

Result<Json> evaluateRule(const Json& rule, const Json& data, const LogicLimits& limits) {
  Interpreter interpreter(data, limits);
  return interpreter.eval(rule);
}

}  // namespace flotilla::flags
