#pragma once
// The value operators of the JSONLogic evaluator (json_logic.cpp), with the semantics of the code
// json-logic-engine compiles for flagd-core: comparisons, arithmetic, strings and arrays.
// Internal to flotilla_flags.

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "flotilla/common/result.h"

namespace flotilla::flags {

using Json = nlohmann::json;

enum class Comparison { kEqual, kStrictEqual, kNotEqual, kStrictNotEqual, kLess, kLessEqual, kGreater, kGreaterEqual };
std::optional<Comparison> comparisonFromName(const std::string& op);
// json-logic-engine's compareCheck: the right operand as compared, or an error where the
// comparison is not between strings and would compare NaN, an array or an object as numbers.
Result<Json> compareCheck(Comparison comparison, Json item, const Json& prev);
bool compareValues(Comparison comparison, const Json& a, const Json& b);

enum class Arithmetic { kAdd, kSubtract, kMultiply, kDivide, kModulo };
std::optional<Arithmetic> arithmeticFromName(const std::string& op);
// operands: the evaluated argument (an array of operands, or a single one).
Result<Json> arithmeticValues(Arithmetic arithmetic, const Json& operands);
// The interpreter's own arithmetic (json-logic-engine's methods), which json-logic-engine uses for
// folded constants and interpreted parts; `data` is what the method receives.
Result<Json> arithmeticMethod(Arithmetic arithmetic, const Json& data);
// What json-logic-engine refuses while compiling: an array, a non-numeric string or a zero
// divisor written literally, and too few arguments.
Status checkArithmeticLiterals(Arithmetic arithmetic, const Json& raw, const std::string& path);

Result<Json> inOp(const Json& args);
Result<Json> substrOp(const Json& args);
Result<Json> minMaxOp(bool isMin, const Json& args);
Result<Json> mergeOp(const Json& args, std::size_t maxLength);

// A rule that reads nothing from the context (json-logic-engine evaluates those while compiling).
bool isConstantRule(const Json& rule);
// The operators whose nodes are never constant.
bool foldingStopsAt(const std::string& op);

}  // namespace flotilla::flags
