#include "interpreter.h"

#include <cmath>
#include <optional>
#include <string_view>

#include "flagd_operators.h"
#include "flotilla/flags/js_value.h"

namespace flotilla::flags {
namespace {

Error evalError(std::string message) { return Error(Errc::kInvalidArgument, std::move(message)); }

// JavaScript's own truthiness (`a && b` in generated code): unlike json-logic-engine's, [] and {} are true.
bool nativeTruthy(const Json& v) { return v.is_array() || v.is_object() || jsTruthy(v); }

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

// One step of `value[piece]`: nullptr where JS gives undefined.
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

// `+precoerceNumber(x)`: arrays, objects and NaN are refused.
Result<double> numeric(const Json& v) {
  if (v.is_array() || v.is_object()) return evalError("cannot compare " + v.dump() + " as a number");
  double n = jsToNumber(v);
  if (std::isnan(n)) return evalError("cannot compare " + v.dump() + " as a number");
  return n;
}

// The interpreter's comparison (json-logic-engine's comparisonFunc).
Result<bool> interpretedCompare(Comparison comparison, const Json& a, const Json& b) {
  const bool strict = comparison == Comparison::kStrictEqual || comparison == Comparison::kStrictNotEqual;
  if (strict || ((a.is_string() || a.is_null()) && (b.is_string() || b.is_null())))
    return compareValues(comparison, a, b);
  auto x = numeric(a);
  if (!x) return x.error();
  if (b.is_array() || b.is_object()) return evalError("cannot compare " + b.dump() + " as a number");
  if (std::isnan(jsToNumber(b)) && !a.is_null()) return evalError("cannot compare " + b.dump() + " as a number");
  return compareValues(comparison, Json(*x), Json(jsToNumber(b)));
}

// cat's interpreted method: a string as is, an array joined without its nulls.
Result<Json> catMethod(const Json& v, size_t maxLength) {
  if (v.is_string()) return v;
  if (v.is_null()) return evalError("cat: cannot convert null to a string");
  if (!v.is_array()) return Json(jsToString(v));
  std::string text;
  for (const Json& item : v) {
    if (!item.is_null()) text += jsToString(item);
    if (text.size() > maxLength) return evalError("cat: the result is too long");
  }
  return Json(std::move(text));
}

bool plainKeys(const Json& keys) {
  if (!keys.is_array() || keys.empty() || keys.size() > 2) return false;
  for (const Json& key : keys)
    if (!key.is_string() || key.get_ref<const std::string&>().find('.') != std::string::npos) return false;
  return true;
}

}  // namespace

bool compilesInPlace(const std::string& op, const Json& raw) {
  if (op == "if") return raw.is_array() && raw.size() >= 3;
  if (comparisonFromName(op)) return raw.is_array() && raw.size() >= 2;
  if (op == "and" || op == "or") return raw.is_array();
  return true;
}

Status Interpreter::charge(size_t operations) {
  operations_ += operations;
  if (operations_ > limits_.maxOperations)
    return evalError("the rule needs more than " + std::to_string(limits_.maxOperations) + " operations");
  return okStatus();
}

bool Interpreter::constant(const Json& rule) {
  // isConstantRule, remembered per node so that each node of the rule is looked at once.
  if (!rule.is_array() && !rule.is_object()) return true;
  if (auto it = constant_.find(&rule); it != constant_.end()) return it->second;
  bool result = true;
  if (rule.is_array()) {
    for (const Json& item : rule) result = constant(item) && result;
  } else if (!rule.empty()) {
    result = !foldingStopsAt(rule.begin().key()) && constant(rule.begin().value());
  }
  constant_.emplace(&rule, result);
  return result;
}

Result<Json> Interpreter::eval(const Json& rule, Mode mode) {
  if (rule.is_array()) {
    FLOTILLA_TRY(charge(rule.size()));
    Json out = Json::array();
    for (const Json& item : rule) {
      auto value = eval(item, mode);
      if (!value) return value;
      out.push_back(std::move(*value));
    }
    return out;
  }
  if (!rule.is_object() || rule.empty()) return rule;
  FLOTILLA_TRY(charge(1));
  if (mode == Mode::kCompiled && constant(rule)) mode = Mode::kInterpreted;  // folded while compiling
  const std::string& op = rule.begin().key();
  const Json& raw = rule.begin().value();
  const bool compiled = mode == Mode::kCompiled;
  if (op == "if") return ifOp(raw, mode);
  if (op == "and" || op == "or") return andOr(op == "and", raw, mode);
  if (op == "!" || op == "!!") return notOp(op == "!", raw, mode);
  if (auto comparison = comparisonFromName(op)) {
    if (compiled && compilesInPlace(op, raw)) return compiledComparison(*comparison, raw);
    return interpretedComparison(*comparison, raw);
  }
  if (op == "cat") {
    if (!compiled) return interpretedCat(raw);
    if (raw.is_string()) return raw;
    if (raw.is_number()) return Json(jsToString(raw));
    if (raw.is_array()) return compiledCat(raw, 0, "");
    auto value = eval(raw, mode);
    if (!value) return value;
    return catMethod(*value, limits_.maxStringLength);
  }
  if (auto arithmetic = arithmeticFromName(op)) return arithmeticOp(*arithmetic, raw, mode);
  if (op == "var") return compiled ? compiledVar(raw) : interpretedVar(raw);
  if (op == "in") return inOp(raw, mode);
  if (op == "missing_some") return missingSome(raw, mode);
  auto args = evalArgs(raw, mode);
  if (!args) return args;
  if (op == "missing") return missing(*args);
  return apply(op, *args);
}

Result<Json> Interpreter::evalArgs(const Json& raw, Mode mode) {
  auto value = eval(raw, mode);
  if (!value) return value;
  if (!value->is_array()) return Json::array({std::move(*value)});
  return value;
}

Result<Json> Interpreter::apply(const std::string& op, const Json& args) {
  if (op == "substr") return substrOp(args);
  if (op == "min" || op == "max") return minMaxOp(op == "min", args);
  if (op == "merge") return mergeOp(args, limits_.maxArrayLength);
  if (op == "fractional") return fractionalOperator(args, data_);
  if (op == "sem_ver") return semVerOperator(args);
  if (op == "starts_with") return startsWithOperator(args);
  if (op == "ends_with") return endsWithOperator(args);
  return evalError("unknown operator \"" + op + "\"");
}

Result<Json> Interpreter::ifOp(const Json& raw, Mode mode) {
  if (!raw.is_array()) return evalError("if: expects an array");
  const Mode branches = mode == Mode::kCompiled && compilesInPlace("if", raw) ? Mode::kCompiled : Mode::kInterpreted;
  if (branches == Mode::kInterpreted && raw.size() == 3) {
    // The interpreter's three-operand idiom computes constant branches up front.
    for (size_t i : {size_t{1}, size_t{2}})
      if (constant(raw[i])) {
        auto branch = eval(raw[i], branches);
        if (!branch) return branch;
      }
  }
  if (raw.empty()) return Json();
  if (raw.size() == 1) return eval(raw[0], branches);
  size_t i = 0;
  for (; i + 1 < raw.size(); i += 2) {
    auto test = eval(raw[i], branches);
    if (!test) return test;
    if (jsTruthy(*test)) return eval(raw[i + 1], branches);
  }
  return i < raw.size() ? eval(raw[i], branches) : Result<Json>(Json());
}

Result<Json> Interpreter::andOr(bool isAnd, const Json& raw, Mode mode) {
  if (!raw.is_array()) return evalError(std::string(isAnd ? "and" : "or") + ": expects an array");
  if (raw.empty()) return Json();
  const bool compiled = mode == Mode::kCompiled;
  Json item;
  for (const Json& rule : raw) {
    auto value = eval(rule, mode);
    if (!value) return value;
    item = std::move(*value);
    if (compiled) prev_ = item;
    if (jsTruthy(item) != isAnd) return item;
  }
  return item;
}

Result<Json> Interpreter::notOp(bool negate, const Json& raw, Mode mode) {
  Json value;
  if (mode == Mode::kCompiled) {
    // (!engine.truthy(data[0])) when the rule wrote an array, else of the whole argument.
    if (!raw.is_array() || !raw.empty()) {
      auto v = eval(raw.is_array() ? raw[0] : raw, mode);
      if (!v) return v;
      value = std::move(*v);
    }
  } else {
    // The interpreter unwraps [x] and then looks at the first element of an array value.
    const bool unary = raw.is_array() && raw.size() == 1 && !raw[0].is_array();
    auto v = eval(unary ? raw[0] : raw, mode);
    if (!v) return v;
    value = std::move(*v);
    if (value.is_array()) value = value.empty() ? Json() : Json(value[0]);
  }
  return Json(jsTruthy(value) != negate);
}

Result<Json> Interpreter::compiledComparison(Comparison comparison, const Json& raw) {
  // ((prev = a) op compareCheck(b, prev)) && prev op (prev = compareCheck(c, prev)) ...:
  // evaluating b may overwrite prev before compareCheck reads it, as in flagd-core.
  auto first = eval(raw[0], Mode::kCompiled);
  if (!first) return first;
  Json left = std::move(*first);
  prev_ = left;
  for (size_t i = 1; i < raw.size(); ++i) {
    if (i >= 2) left = prev_;
    auto next = eval(raw[i], Mode::kCompiled);
    if (!next) return next;
    auto checked = compareCheck(comparison, std::move(*next), prev_);
    if (!checked) return checked;
    const bool result = compareValues(comparison, left, *checked);
    if (raw.size() == 2) return Json(result);
    prev_ = std::move(*checked);
    if (!result) return Json(false);
  }
  return Json(true);
}

Result<Json> Interpreter::interpretedComparison(Comparison comparison, const Json& raw) {
  if (!raw.is_array() || raw.size() < 2) return evalError("comparison: expects two or more arguments");
  // The idioms (two or three operands) compute their constant operands up front, so one that
  // fails fails the comparison even where `&&` would not reach it.
  std::optional<Json> early;
  if (raw.size() == 3 && constant(raw[2])) {
    auto c = eval(raw[2], Mode::kInterpreted);
    if (!c) return c;
    early = std::move(*c);
  }
  auto a = eval(raw[0], Mode::kInterpreted);
  if (!a) return a;
  auto b = eval(raw[1], Mode::kInterpreted);
  if (!b) return b;
  if (raw.size() <= 3) {  // the interpreter's idioms: a op b, a op b && b op c
    auto ab = interpretedCompare(comparison, *a, *b);
    if (!ab) return ab.error();
    if (!*ab || raw.size() == 2) return Json(*ab);
    auto c = early ? Result<Json>(*early) : eval(raw[2], Mode::kInterpreted);
    if (!c) return c;
    auto bc = interpretedCompare(comparison, *b, *c);
    if (!bc) return bc.error();
    return Json(*bc);
  }
  // Four or more: the method's loop, which goes on to compare strings as numbers after
  // comparing them as strings (so a chain of non-numeric strings fails).
  const bool strict = comparison == Comparison::kStrictEqual || comparison == Comparison::kStrictNotEqual;
  Json prev = std::move(*a);
  Json current = std::move(*b);
  for (size_t i = 1; i < raw.size(); ++i) {
    if (i >= 2) {
      auto next = eval(raw[i], Mode::kInterpreted);
      if (!next) return next;
      current = std::move(*next);
    }
    const bool textual = (current.is_string() || current.is_null()) && (prev.is_string() || prev.is_null());
    if ((strict || textual) && !compareValues(comparison, prev, current)) return Json(false);
    if (current.is_array() || current.is_object())
      return evalError("cannot compare " + current.dump() + " as a number");
    if (std::isnan(jsToNumber(current)) && !prev.is_null())
      return evalError("cannot compare " + current.dump() + " as a number");
    if (i == 1) {
      auto x = numeric(prev);
      if (!x) return x.error();
    }
    if (!compareValues(comparison, Json(jsToNumber(prev)), Json(jsToNumber(current)))) return Json(false);
    prev = std::move(current);
  }
  return Json(true);
}

Result<Json> Interpreter::compiledCat(const Json& raw, size_t from, std::string text) {
  // '' + p0 + p1 + ...: an operand compiled to an unparenthesized `c ? x : y` takes everything
  // before it as its condition and everything after it as its last branch.
  for (size_t j = from; j < raw.size(); ++j) {
    const Json& piece = raw[j];
    auto rest = [&]() -> Result<Json> {
      if (j + 1 == raw.size()) return Json::array();  // `[]` alone
      return compiledCat(raw, j + 1, "");
    };
    if (piece.is_object() && !piece.empty() && !constant(piece)) {
      const std::string& op = piece.begin().key();
      const Json& args = piece.begin().value();
      if ((op == "and" || op == "or") && args.is_array() && !args.empty()) {
        FLOTILLA_TRY(charge(1));
        auto first = eval(args[0], Mode::kCompiled);  // the condition is a non-empty string: prev wins
        if (!first) return first;
        prev_ = *first;
        return first;
      }
      if (op == "missing" && plainKeys(args)) {
        FLOTILLA_TRY(charge(1));
        if (args.size() == 2 && member(data_, args[1].get<std::string>()) == nullptr) return Json::array({args[1]});
        return rest();
      }
      if (op == "missing_some" && args.is_array() && args.size() >= 2 && args[1].is_array()) {
        FLOTILLA_TRY(charge(1));
        auto absent = missing(args[1]);
        if (!absent) return absent;
        prev_ = *absent;
        auto need = eval(args[0], Mode::kCompiled);
        if (!need) return need;
        const double left =
            jsStringToNumber(text + std::to_string(args[1].size())) - static_cast<double>(absent->size());
        if (jsRelate(Relation::kLess, Json(left), *need)) return prev_;
        return rest();
      }
    }
    auto value = eval(piece, Mode::kCompiled);
    if (!value) return value;
    text += jsToString(*value);
    if (text.size() > limits_.maxStringLength) return evalError("cat: the result is too long");
  }
  return Json(std::move(text));
}

Result<Json> Interpreter::interpretedCat(const Json& raw) {
  const bool unary = raw.is_array() && raw.size() == 1 && !raw[0].is_array();
  auto value = eval(unary ? raw[0] : raw, Mode::kInterpreted);
  if (!value) return value;
  return catMethod(*value, limits_.maxStringLength);
}

Result<Json> Interpreter::arithmeticOp(Arithmetic arithmetic, const Json& raw, Mode mode) {
  if (mode == Mode::kInterpreted) {
    // + and - take a lone argument unwrapped ([x] is x), the others an array.
    const bool unaryForm = arithmetic == Arithmetic::kAdd || arithmetic == Arithmetic::kSubtract;
    const bool unwrap = unaryForm && raw.is_array() && raw.size() == 1 && !raw[0].is_array();
    auto data = unaryForm ? eval(unwrap ? raw[0] : raw, mode) : evalArgs(raw, mode);
    if (!data) return data;
    return arithmeticMethod(arithmetic, *data);
  }
  auto operands = eval(raw, mode);
  if (!operands) return operands;
  // Compiled, {"+": x}, {"-": x} and {"/": x} go through `prev = x`.
  if (!raw.is_array() && arithmetic != Arithmetic::kMultiply && arithmetic != Arithmetic::kModulo) prev_ = *operands;
  return arithmeticValues(arithmetic, *operands);
}

Result<Json> Interpreter::lookup(const Json& key, const Json& fallback, bool nullTakesDefault) {
  if (key.is_null() || (key.is_string() && key.get_ref<const std::string&>().empty())) return data_;
  const Json* at = &data_;
  for (const std::string& piece : splitPath(jsToString(key))) {
    if (!nullTakesDefault && at->is_null()) return fallback;
    at = member(*at, piece);
    if (at == nullptr) return fallback;
  }
  if (nullTakesDefault && at->is_null()) return fallback;
  return *at;
}

Result<Json> Interpreter::compiledVar(const Json& raw) {
  const bool literalForm =
      !raw.is_array() || raw.size() <= 2;  // the engine compiles {"var": k} and {"var": [k, default]}
  const Json key = raw.is_array() ? (raw.empty() ? Json() : raw[0]) : raw;
  const bool emptyKey = key.is_null() || (key.is_string() && key.get_ref<const std::string&>().empty());
  if (literalForm && emptyKey) return data_;
  if (literalForm && (key.is_string() || key.is_number()) && jsToString(key).find("../") == std::string::npos) {
    auto found = lookup(key, Json(), true);
    if (!found) return found;
    if (found->is_null() && raw.is_array() && raw.size() > 1) {
      found = eval(raw[1], Mode::kCompiled);  // `value ?? default`: the default only when needed
      if (!found) return found;
    }
    prev_ = *found;
    return found;
  }
  // Anything else goes to var's method with its arguments evaluated.
  auto args = eval(raw, Mode::kCompiled);
  if (!args) return args;
  if (!args->is_array()) return lookup(*args, Json(), false);
  return lookup(args->empty() ? Json() : (*args)[0], args->size() > 1 ? (*args)[1] : Json(), false);
}

Result<Json> Interpreter::interpretedVar(const Json& raw) {
  const bool unary = raw.is_array() && raw.size() == 1 && !raw[0].is_array();
  const Json& arg = unary ? raw[0] : raw;
  if (arg.is_array() || arg.is_object()) {
    auto args = eval(arg, Mode::kInterpreted);
    if (!args) return args;
    if (!args->is_array()) return lookup(*args, Json(), false);
    return lookup(args->empty() ? Json() : (*args)[0], args->size() > 1 ? (*args)[1] : Json(), false);
  }
  if (!jsTruthy(arg)) return data_;  // null, "", 0, false: the whole context
  const std::string key = jsToString(arg);
  if (arg.is_number() || key.find_first_of(".\\") == std::string::npos) {
    const Json* found = member(data_, key);
    return found == nullptr ? Json() : *found;
  }
  std::vector<std::string> path = splitPath(key);
  if ((path.size() == 2 || path.size() == 3) && key.rfind("../", 0) != 0) {
    // data && data[a] && data[a][b]: a falsy step is the answer.
    const Json* at = &data_;
    for (const std::string& piece : path) {
      if (!nativeTruthy(*at)) return *at;
      at = member(*at, piece);
      if (at == nullptr) return Json();
    }
    return *at;
  }
  return lookup(arg, Json(), false);
}

Result<Json> Interpreter::inOp(const Json& raw, Mode mode) {
  if (mode == Mode::kCompiled && raw.is_array()) {
    // (haystack || []).includes(needle): the haystack is evaluated first.
    Json args = Json::array({Json(), Json()});
    bool bare = false;  // an `and` that stopped early: its value escapes `|| []`
    if (raw.size() > 1) {
      auto haystack = compiledHaystack(raw[1], bare);
      if (!haystack) return haystack;
      args[1] = std::move(*haystack);
    }
    if (!raw.empty()) {
      auto needle = eval(raw[0], mode);
      if (!needle) return needle;
      args[0] = std::move(*needle);
    }
    if (bare && !args[1].is_string() && !jsTruthy(args[1]))
      return evalError("in: " + args[1].dump() + " has no includes");
    if (bare && args[1].is_string())
      return Json(args[1].get_ref<const std::string&>().find(jsToString(args[0])) != std::string::npos);
    return flags::inOp(args);
  }
  auto args = evalArgs(raw, mode);
  if (!args) return args;
  return flags::inOp(*args);
}

Result<Json> Interpreter::compiledHaystack(const Json& rule, bool& bare) {
  // `!t(prev = a) ? prev : !t(prev = b) ? prev : prev || []`: only the last operand of an
  // `and` gets `|| []`; an earlier falsy one is used as it is.
  if (!rule.is_object() || rule.empty() || rule.begin().key() != "and" || !rule.begin()->is_array() ||
      rule.begin()->empty() || constant(rule))
    return eval(rule, Mode::kCompiled);
  FLOTILLA_TRY(charge(1));
  const Json& items = *rule.begin();
  for (size_t i = 0; i < items.size(); ++i) {
    auto item = eval(items[i], Mode::kCompiled);
    if (!item) return item;
    prev_ = *item;
    if (!jsTruthy(*item) || i + 1 == items.size()) {
      bare = i + 1 < items.size();
      return item;
    }
  }
  return Json();
}

bool Interpreter::present(const std::string& path) const {
  const Json* at = &data_;
  for (const std::string& piece : splitPath(path)) {
    if (!nativeTruthy(*at)) return false;
    at = member(*at, piece);
    if (at == nullptr) return false;
  }
  return true;
}

Result<Json> Interpreter::missing(const Json& keys) {
  if (!keys.is_array()) return evalError("missing: expects keys");
  FLOTILLA_TRY(charge(keys.size()));
  Json absent = Json::array();
  for (const Json& key : keys)
    if (!present(jsToString(key))) absent.push_back(key);
  return absent;
}

Result<Json> Interpreter::missingSome(const Json& raw, Mode mode) {
  if (mode == Mode::kCompiled && raw.is_array() && raw.size() >= 2 && raw[1].is_array()) {
    // N - (prev = missing).length < need ? prev : []
    auto absent = missing(raw[1]);
    if (!absent) return absent;
    prev_ = *absent;
    auto need = eval(raw[0], mode);
    if (!need) return need;
    const double have = static_cast<double>(raw[1].size() - absent->size());
    return jsRelate(Relation::kLess, Json(have), *need) ? prev_ : Json::array();
  }
  auto args = evalArgs(raw, mode);
  if (!args) return args;
  if (args->size() < 2 || !(*args)[1].is_array()) return evalError("missing_some: expects [count, keys]");
  auto absent = missing((*args)[1]);
  if (!absent) return absent;
  const double have = static_cast<double>((*args)[1].size() - absent->size());
  return jsRelate(Relation::kGreaterEqual, Json(have), (*args)[0]) ? Json::array() : *absent;
}

}  // namespace flotilla::flags
