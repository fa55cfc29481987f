#include "flotilla/flags/evaluator.h"

#include "flotilla/flags/js_value.h"

namespace flotilla::flags {
namespace {

Resolution failure(ErrorCode code, std::string message, const Json& metadata) {
  Resolution r;
  r.reason = Reason::kError;
  r.errorCode = code;
  r.errorMessage = std::move(message);
  r.metadata = metadata;
  return r;
}

bool hasType(const Json& value, ValueType type) {
  switch (type) {
    case ValueType::kAny:
      return true;
    case ValueType::kBoolean:
      return value.is_boolean();
    case ValueType::kString:
      return value.is_string();
    case ValueType::kNumber:
      return value.is_number();
    case ValueType::kObject:
      return value.is_object() || value.is_array() || value.is_null();
  }
  return false;
}

const char* valueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kBoolean:
      return "boolean";
    case ValueType::kString:
      return "string";
    case ValueType::kNumber:
      return "number";
    case ValueType::kObject:
      return "object";
    case ValueType::kAny:
      break;
  }
  return "any";
}

const char* jsonTypeName(const Json& value) {
  if (value.is_boolean()) return "boolean";
  if (value.is_number()) return "number";
  if (value.is_string()) return "string";
  return "object";
}

}  // namespace

const char* reasonName(Reason reason) {
  switch (reason) {
    case Reason::kStatic:
      return "STATIC";
    case Reason::kTargetingMatch:
      return "TARGETING_MATCH";
    case Reason::kDefault:
      return "DEFAULT";
    case Reason::kDisabled:
      return "DISABLED";
    case Reason::kError:
      return "ERROR";
  }
  return "ERROR";
}

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNone:
      return "";
    case ErrorCode::kFlagNotFound:
      return "FLAG_NOT_FOUND";
    case ErrorCode::kParseError:
      return "PARSE_ERROR";
    case ErrorCode::kTypeMismatch:
      return "TYPE_MISMATCH";
    case ErrorCode::kGeneral:
      return "GENERAL";
  }
  return "GENERAL";
}

std::optional<ValueType> valueTypeFromName(std::string_view name) {
  if (name == "boolean") return ValueType::kBoolean;
  if (name == "string") return ValueType::kString;
  if (name == "number") return ValueType::kNumber;
  if (name == "object") return ValueType::kObject;
  if (name == "any") return ValueType::kAny;
  return std::nullopt;
}

Resolution evaluateFlag(const FlagSet& set, const EvaluationRequest& request, const LogicLimits& limits) {
  const std::string key(request.flagKey);
  const Flag* flag = set.find(key);
  if (flag == nullptr) return failure(ErrorCode::kFlagNotFound, "flag '" + key + "' not found", set.metadata());
  Resolution r;
  r.metadata = flag->metadata;
  if (flag->state == FlagState::kDisabled) {
    r.reason = Reason::kDisabled;
    return r;
  }
  std::optional<std::string> variant = flag->defaultVariant;
  r.reason = Reason::kStatic;
  if (flag->targeting) {
    // A context nested deeper than a rule may be is refused before it is copied (copies recurse).
    const bool usable = request.context != nullptr && request.context->is_object();
    if (usable && jsonDeeperThan(*request.context, limits.maxDepth))
      return failure(ErrorCode::kGeneral,
                     "the evaluation context is nested deeper than " + std::to_string(limits.maxDepth) + " levels",
                     flag->metadata);
    Json context = usable ? *request.context : Json::object();
    context["$flagd"] = Json{{"flagKey", key}, {"timestamp", request.timestampSeconds}};
    auto result = evaluateRule(*flag->targeting, context, limits);
    if (!result)
      return failure(ErrorCode::kGeneral,
                     "error evaluating the targeting rule of flag '" + key + "': " + result.error().message,
                     flag->metadata);
    if (result->is_null()) {
      r.reason = Reason::kDefault;
    } else {
      variant = jsToString(*result);
      r.reason = Reason::kTargetingMatch;
    }
  }
  if (!variant) {
    r.reason = Reason::kDefault;
    return r;
  }
  auto it = flag->variants.find(*variant);
  if (it == flag->variants.end())
    return failure(ErrorCode::kGeneral, "variant '" + *variant + "' not found in flag '" + key + "'", flag->metadata);
  if (!hasType(*it, request.type))
    return failure(ErrorCode::kTypeMismatch,
                   "flag '" + key + "' is a " + jsonTypeName(*it) + ", not a " + valueTypeName(request.type),
                   flag->metadata);
  r.variant = *variant;
  r.value = *it;
  return r;
}

}  // namespace flotilla::flags
