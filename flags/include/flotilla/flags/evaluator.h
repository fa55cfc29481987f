#pragma once
// Evaluating one flag of a flag set for one evaluation context, with flagd's semantics (as
// @openfeature/flagd-core resolves it) and the reasons and error codes OFREP reports:
// - no such flag: ERROR, FLAG_NOT_FOUND;
// - state DISABLED: DISABLED, no variant (the caller's default applies);
// - no targeting: the default variant, STATIC;
// - targeting: its result, as a string, names the variant (TARGETING_MATCH); null falls back to
//   the default variant (DEFAULT); an evaluation error is ERROR, GENERAL; a name that is not a
//   variant is ERROR, GENERAL;
// - no default variant where one is needed: DEFAULT without a value (the caller's default);
// - a value of another type than asked: ERROR, TYPE_MISMATCH.
// The context the rule sees is the request's, plus `$flagd.flagKey` and `$flagd.timestamp`
// (seconds, from the caller: this code reads no clock); `targetingKey` is a context key.
// Pure; any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "flotilla/flags/flag_set.h"
#include "flotilla/flags/json_logic.h"

namespace flotilla::flags {

using Json = nlohmann::json;

enum class Reason { kStatic, kTargetingMatch, kDefault, kDisabled, kError };
enum class ErrorCode { kNone, kFlagNotFound, kParseError, kTypeMismatch, kGeneral };
// The type the caller asks for; kAny (OFREP's single evaluate call) checks none.
enum class ValueType { kAny, kBoolean, kString, kNumber, kObject };

// "STATIC", "TARGETING_MATCH", ... and "FLAG_NOT_FOUND", ..., as OpenFeature and OFREP spell them.
const char* reasonName(Reason reason);
const char* errorCodeName(ErrorCode code);                          // "" for kNone
std::optional<ValueType> valueTypeFromName(std::string_view name);  // "boolean", "string", ...

struct Resolution {
  std::optional<std::string> variant;
  std::optional<Json> value;  // absent: the caller's default value applies
  Reason reason = Reason::kStatic;
  ErrorCode errorCode = ErrorCode::kNone;
  std::string errorMessage;
  Json metadata = Json::object();
};

struct EvaluationRequest {
  std::string_view flagKey;
  ValueType type = ValueType::kAny;
  const Json* context = nullptr;  // an object; null or not an object counts as {}
  std::int64_t timestampSeconds = 0;
};

Resolution evaluateFlag(const FlagSet& set, const EvaluationRequest& request, const LogicLimits& limits = {});

}  // namespace flotilla::flags
