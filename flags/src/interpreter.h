#pragma once
// The evaluator behind evaluateRule (json_logic.h). Internal to flotilla_flags.
//
// flagd-core runs a rule through json-logic-engine, which evaluates it in two ways, and they
// differ at the edges, so this reproduces both:
// - compiled (the rule as a whole): the engine turns the rule into JavaScript. Its comparisons
//   and several other operators share one variable, `prev`, which an operand can overwrite
//   before the comparison reads it; `cat` concatenates with `+`, so null prints "null", and an
//   `and`, `or`, `missing` or `missing_some` inside `cat` captures the whole concatenation (the
//   generated code lacks parentheses). `prev_` mirrors that variable.
// - interpreted: the parts of a rule that read no context (folded while compiling) and the
//   arguments of an `if` with fewer than three, or of a comparison, `and` or `or` whose
//   arguments are not an array, run through the engine's interpreter: `var` keeps a null
//   (no default), `cat` skips nulls, comparisons coerce both sides to numbers.

#include <cstddef>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "flotilla/common/result.h"
#include "flotilla/flags/json_logic.h"
#include "logic_operators.h"

namespace flotilla::flags {

enum class Mode { kCompiled, kInterpreted };

// Whether json-logic-engine compiles this (lazy) operator node, or hands it to its interpreter.
bool compilesInPlace(const std::string& op, const Json& raw);

class Interpreter {
 public:
  Interpreter(const Json& data, const LogicLimits& limits) : data_(data), limits_(limits) {}

  Result<Json> eval(const Json& rule, Mode mode);

 private:
  Status charge(std::size_t operations);
  bool constant(const Json& rule);
  Result<Json> evalArgs(const Json& raw, Mode mode);  // an eager operator's arguments, as an array
  Result<Json> apply(const std::string& op, const Json& args);

  Result<Json> ifOp(const Json& raw, Mode mode);
  Result<Json> andOr(bool isAnd, const Json& raw, Mode mode);
  Result<Json> notOp(bool negate, const Json& raw, Mode mode);
  Result<Json> compiledComparison(Comparison comparison, const Json& raw);
  Result<Json> interpretedComparison(Comparison comparison, const Json& raw);
  Result<Json> compiledCat(const Json& raw, std::size_t from, std::string prefix);
  Result<Json> interpretedCat(const Json& raw);
  Result<Json> arithmeticOp(Arithmetic arithmetic, const Json& raw, Mode mode);
  Result<Json> compiledVar(const Json& raw);
  Result<Json> interpretedVar(const Json& raw);
  Result<Json> lookup(const Json& key, const Json& fallback, bool nullTakesDefault);
  Result<Json> inOp(const Json& raw, Mode mode);
  Result<Json> compiledHaystack(const Json& rule, bool& bare);
  Result<Json> missing(const Json& keys);
  Result<Json> missingSome(const Json& raw, Mode mode);
  bool present(const std::string& path) const;

  const Json& data_;
  const LogicLimits& limits_;
  std::size_t operations_ = 0;
  Json prev_;  // the compiled code's `prev`
  std::unordered_map<const Json*, bool> constant_;
};

}  // namespace flotilla::flags
