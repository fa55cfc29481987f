#include "flotilla/flags/json_logic.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "interpreter.h"
#include "logic_operators.h"

namespace flotilla::flags {
namespace {

Error ruleError(const std::string& path, const std::string& what) {
  return Error(Errc::kInvalidArgument, (path.empty() ? "" : path + ": ") + what);
}

// The names checkRule accepts: exactly the ones the interpreter applies.
bool knownOperator(const std::string& op) {
  static constexpr std::array<std::string_view, 31> kKnown = {
      "var", "if",  "==",    "===",     "!=",           "!==",        "!",       "!!",          "and",      "or", "<",
      "<=",  ">",   ">=",    "in",      "cat",          "substr",     "+",       "-",           "*",        "/",  "%",
      "min", "max", "merge", "missing", "missing_some", "fractional", "sem_ver", "starts_with", "ends_with"};
  return std::find(kKnown.begin(), kKnown.end(), op) != kKnown.end();
}

std::string child(const std::string& path, const std::string& op) { return path.empty() ? op : path + "." + op; }

Status checkShape(const Json& rule, const LogicLimits& limits, int depth, const std::string& path) {
  if (depth > limits.maxDepth)
    return ruleError(path, "nested deeper than " + std::to_string(limits.maxDepth) + " levels");
  if (rule.is_array()) {
    for (size_t i = 0; i < rule.size(); ++i)
      FLOTILLA_TRY(checkShape(rule[i], limits, depth + 1, path + "[" + std::to_string(i) + "]"));
    return okStatus();
  }
  if (!rule.is_object() || rule.empty()) return okStatus();
  if (rule.size() != 1)
    return ruleError(path,
                     "an operator is an object with exactly one key, this one has " + std::to_string(rule.size()));
  const std::string& op = rule.begin().key();
  const std::string here = child(path, op);
  if (op == "$ref") return ruleError(here, "no $evaluators entry named " + rule.begin()->dump());
  if (!knownOperator(op)) return ruleError(here, "unknown operator \"" + op + "\"");
  return checkShape(rule.begin().value(), limits, depth + 1, here);
}

Result<Json> fold(const Json& rule, const LogicLimits& limits, const std::string& path) {
  Interpreter interpreter(Json::object(), limits);
  auto folded = interpreter.eval(rule, Mode::kInterpreted);
  if (!folded)
    return ruleError(
        path, "reads no context and fails (flagd evaluates it when it loads the rule): " + folded.error().message);
  return folded;
}

// The arguments json-logic-engine compiles: `!` and `!!` only their first, `in` its first two,
// missing_some its count (its keys are taken as written); the others all.
Json builtOperands(const std::string& op, const Json& raw) {
  if (!raw.is_array()) return raw;
  if ((op == "!" || op == "!!") && !raw.empty()) return raw[0];
  if (op == "in" && raw.size() > 2) return Json::array({raw[0], raw[1]});
  if (op == "missing_some" && raw.size() >= 2 && raw[1].is_array()) return raw[0];
  return raw;
}

// What fails while json-logic-engine compiles the rule, which flagd reports as a parse error:
// a part that reads no context and fails when folded ({"min": []}), and an arithmetic operand that
// is, or folds to, a non-number ({"/": [{"var": "n"}, 0]}). The arguments of an operator the
// engine leaves to its interpreter (a two-argument if, ...) are not compiled, so not checked.
Status checkCompiled(const Json& rule, const LogicLimits& limits, const std::string& path) {
  if (rule.is_array()) {
    for (size_t i = 0; i < rule.size(); ++i)
      FLOTILLA_TRY(checkCompiled(rule[i], limits, path + "[" + std::to_string(i) + "]"));
    return okStatus();
  }
  if (!rule.is_object() || rule.empty()) return okStatus();
  if (isConstantRule(rule)) {
    auto folded = fold(rule, limits, path);
    if (!folded) return folded.error();
    return okStatus();
  }
  const std::string& op = rule.begin().key();
  const Json& raw = rule.begin().value();
  const std::string here = child(path, op);
  if (!compilesInPlace(op, raw)) return okStatus();
  if (auto arithmetic = arithmeticFromName(op); arithmetic && raw.is_array()) {
    // The operands as the compiler sees them: literals, folded values, or null for the rest.
    Json operands = Json::array();
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i].is_object() && !raw[i].empty() && isConstantRule(raw[i])) {
        auto folded = fold(raw[i], limits, here + "[" + std::to_string(i) + "]");
        if (!folded) return folded.error();
        operands.push_back(folded->is_array() || folded->is_object() ? Json() : *folded);
      } else {
        operands.push_back(raw[i].is_object() ? Json() : raw[i]);
      }
    }
    FLOTILLA_TRY(checkArithmeticLiterals(*arithmetic, operands, here));
  }
  return checkCompiled(builtOperands(op, raw), limits, here);
}

}  // namespace

bool isConstantRule(const Json& rule) {
  if (rule.is_array()) {
    for (const Json& item : rule)
      if (!isConstantRule(item)) return false;
    return true;
  }
  if (!rule.is_object() || rule.empty()) return true;
  return !foldingStopsAt(rule.begin().key()) && isConstantRule(rule.begin().value());
}

bool foldingStopsAt(const std::string& op) {
  // Operators that read the context, and flagd's own (json-logic-engine cannot fold those).
  return op == "var" || op == "missing" || op == "missing_some" || op == "fractional" || op == "sem_ver" ||
         op == "starts_with" || op == "ends_with";
}

Status checkRule(const Json& rule, const LogicLimits& limits) {
  FLOTILLA_TRY(checkShape(rule, limits, 0, ""));
  return checkCompiled(rule, limits, "");
}

Result<Json> evaluateRule(const Json& rule, const Json& data, const LogicLimits& limits) {
  Interpreter interpreter(data, limits);
  return interpreter.eval(rule, Mode::kCompiled);
}

}  // namespace flotilla::flags
