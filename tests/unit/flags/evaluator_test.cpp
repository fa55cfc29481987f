// Flag evaluation outcomes, one per reason and error code, without node (vectors_test.cpp
// compares the same outcomes with flagd-core's).

#include "flotilla/flags/evaluator.h"

#include <catch2/catch.hpp>

using namespace flotilla::flags;

namespace {

FlagSet sample() {
  auto set = FlagSet::parse(R"({"flags": {
      "static": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
      "off": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
      "targeted": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                   "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on", null]}},
      "no-default": {"state": "ENABLED", "variants": {"a": "A"}, "targeting": {"var": "pick"}},
      "clock": {"state": "ENABLED", "variants": {"late": "L", "early": "E"}, "defaultVariant": "early",
                "targeting": {"if": [{">=": [{"var": "$flagd.timestamp"}, 1000]}, "late", "early"]}},
      "whoami": {"state": "ENABLED", "variants": {"whoami": 1, "other": 2}, "defaultVariant": "other",
                 "targeting": {"var": "$flagd.flagKey"}},
      "broken": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on",
                 "targeting": {"/": [1, {"var": "zero"}]}}}})");
  REQUIRE(set.ok());
  return std::move(*set);
}

Resolution eval(const FlagSet& set, std::string_view key, ValueType type, const Json& context, std::int64_t now = 0) {
  return evaluateFlag(set, EvaluationRequest{key, type, &context, now});
}

}  // namespace

TEST_CASE("a flag without targeting gives its default variant, STATIC", "[flags][evaluator]") {
  Resolution r = eval(sample(), "static", ValueType::kBoolean, Json::object());
  CHECK(r.reason == Reason::kStatic);
  CHECK(r.variant == "on");
  CHECK(r.value == Json(true));
  CHECK(r.errorCode == ErrorCode::kNone);
}

TEST_CASE("a disabled flag gives no value, DISABLED", "[flags][evaluator]") {
  Resolution r = eval(sample(), "off", ValueType::kBoolean, Json::object());
  CHECK(r.reason == Reason::kDisabled);
  CHECK_FALSE(r.variant.has_value());
  CHECK_FALSE(r.value.has_value());
}

TEST_CASE("targeting picks a variant, TARGETING_MATCH, null falls back to the default, DEFAULT", "[flags][evaluator]") {
  FlagSet set = sample();
  Resolution hit = eval(set, "targeted", ValueType::kBoolean, Json{{"email", "ada@example.com"}});
  CHECK(hit.reason == Reason::kTargetingMatch);
  CHECK(hit.variant == "on");
  Resolution miss = eval(set, "targeted", ValueType::kBoolean, Json{{"email", "bob@other.org"}});
  CHECK(miss.reason == Reason::kDefault);
  CHECK(miss.variant == "off");
  CHECK(miss.value == Json(false));
}

TEST_CASE("without a default variant, a null result leaves the caller's default", "[flags][evaluator]") {
  Resolution r = eval(sample(), "no-default", ValueType::kString, Json::object());
  CHECK(r.reason == Reason::kDefault);
  CHECK_FALSE(r.value.has_value());
  CHECK(eval(sample(), "no-default", ValueType::kString, Json{{"pick", "a"}}).value == Json("A"));
}

TEST_CASE("errors: unknown flag, unknown variant, wrong type, failing rule", "[flags][evaluator]") {
  FlagSet set = sample();
  Resolution missing = eval(set, "nope", ValueType::kBoolean, Json::object());
  CHECK(missing.reason == Reason::kError);
  CHECK(missing.errorCode == ErrorCode::kFlagNotFound);
  CHECK(std::string(errorCodeName(missing.errorCode)) == "FLAG_NOT_FOUND");
  Resolution unknown = eval(set, "no-default", ValueType::kString, Json{{"pick", "b"}});
  CHECK(unknown.errorCode == ErrorCode::kGeneral);
  CHECK_THAT(unknown.errorMessage, Catch::Contains("variant 'b' not found"));
  Resolution mismatch = eval(set, "static", ValueType::kString, Json::object());
  CHECK(mismatch.errorCode == ErrorCode::kTypeMismatch);
  CHECK_FALSE(mismatch.value.has_value());
  Resolution failing = eval(set, "broken", ValueType::kBoolean, Json{{"zero", 0}});
  CHECK(failing.reason == Reason::kError);
  CHECK(failing.errorCode == ErrorCode::kGeneral);
  CHECK_THAT(failing.errorMessage, Catch::Contains("division by zero"));
}

TEST_CASE("an evaluation without a type (OFREP's) takes any variant", "[flags][evaluator]") {
  CHECK(eval(sample(), "static", ValueType::kAny, Json::object()).value == Json(true));
  CHECK(eval(sample(), "whoami", ValueType::kAny, Json::object()).value == Json(1));
}

TEST_CASE("the rule sees $flagd.flagKey and the caller's timestamp, not the context's $flagd", "[flags][evaluator]") {
  FlagSet set = sample();
  Json forged{{"$flagd", {{"flagKey", "other"}, {"timestamp", 5000}}}};
  CHECK(eval(set, "whoami", ValueType::kNumber, forged).variant == "whoami");
  CHECK(eval(set, "clock", ValueType::kString, forged, 999).variant == "early");
  CHECK(eval(set, "clock", ValueType::kString, forged, 1000).variant == "late");
}

TEST_CASE("a context that is not an object counts as empty", "[flags][evaluator]") {
  Resolution r = eval(sample(), "targeted", ValueType::kBoolean, Json::array({1, 2}));
  CHECK(r.reason == Reason::kDefault);
  CHECK(r.variant == "off");
}

TEST_CASE("reason and type names are OpenFeature's", "[flags][evaluator]") {
  CHECK(std::string(reasonName(Reason::kTargetingMatch)) == "TARGETING_MATCH");
  CHECK(std::string(reasonName(Reason::kStatic)) == "STATIC");
  CHECK(std::string(errorCodeName(ErrorCode::kParseError)) == "PARSE_ERROR");
  CHECK(std::string(errorCodeName(ErrorCode::kNone)).empty());
  CHECK(valueTypeFromName("object") == ValueType::kObject);
  CHECK_FALSE(valueTypeFromName("float").has_value());
}

TEST_CASE("a context nested too deep is an error, not a stack overflow", "[flags][evaluator]") {
  Json deep = "x";
  for (int i = 0; i < 200; ++i) deep = Json{{"a", deep}};
  Resolution r = eval(sample(), "targeted", ValueType::kBoolean, Json{{"email", "ada@example.com"}, {"deep", deep}});
  CHECK(r.errorCode == ErrorCode::kGeneral);
  CHECK_THAT(r.errorMessage, Catch::Contains("nested deeper than 64 levels"));
  CHECK(eval(sample(), "static", ValueType::kBoolean, Json{{"deep", deep}}).variant == "on");  // no rule, no copy
}
