#pragma once
// A small JSONLogic evaluator for flagd targeting rules: the operators flagd documents and its
// JavaScript evaluator (@openfeature/flagd-core 4.0.1 on json-logic-engine 5.0.7) runs, with the
// same coercions (js_value.h) and the same corners (src/interpreter.h says which), plus flagd's
// `fractional`, `sem_ver`, `starts_with` and `ends_with`.
//
// Supported: var (dotted paths, default), if, ==, ===, !=, !==, !, !!, and, or, <, <=, >, >=
// (three arguments: between), in (string and array), cat, substr, + - * / %, min, max, merge,
// missing, missing_some, fractional, sem_ver, starts_with, ends_with. Every object in a rule is
// an operator (as in json-logic-engine): a rule with an unknown operator is refused when it is
// checked, which is when the flag set is parsed.
//
// Rules and data are untrusted (a flag set, a request's context): checkRule bounds the rule's
// nesting; evaluate bounds the work per evaluation (operations, string and array sizes), and a
// rule that exceeds them fails like any evaluation error. Pure; any thread.

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "flotilla/common/result.h"

namespace flotilla::flags {

using Json = nlohmann::json;

struct LogicLimits {
  int maxDepth = 64;                  // nesting of operators and arrays in a rule
  std::size_t maxOperations = 20000;  // operators applied per evaluation
  std::size_t maxStringLength = 1u << 16;
  std::size_t maxArrayLength = 1u << 15;
};

// Accepts a rule whose objects are all single-key known operators, nested no deeper than
// limits.maxDepth, and that json-logic-engine would compile: what it evaluates while compiling
// (the parts that read no context) must not fail. The error names the path inside the rule
// ("if[1].frobnicate: unknown operator ..."). flagd answers such a rule with PARSE_ERROR.
Status checkRule(const Json& rule, const LogicLimits& limits = {});

// Applies a checked rule to data (the evaluation context, already holding `$flagd`). An Error
// (kInvalidArgument) is an evaluation error: flagd answers it with reason ERROR, code GENERAL.
Result<Json> evaluateRule(const Json& rule, const Json& data, const LogicLimits& limits = {});

}  // namespace flotilla::flags
