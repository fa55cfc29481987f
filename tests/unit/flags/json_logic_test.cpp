// The JSONLogic evaluator's own guarantees: bounded work on untrusted rules and contexts, and the
// hashing and version parsing under fractional and sem_ver. (Operator results are compared with
// flagd-core's in vectors_test.cpp.)

#include "flotilla/flags/json_logic.h"

#include <string>

#include <catch2/catch.hpp>

#include "flotilla/flags/js_value.h"
#include "flotilla/flags/murmur3.h"
#include "flotilla/flags/sem_ver.h"

using namespace flotilla::flags;

namespace {

Json run(const std::string& rule, const Json& data = Json::object()) {
  Json parsed = Json::parse(rule);
  REQUIRE(checkRule(parsed).ok());
  auto result = evaluateRule(parsed, data);
  INFO(rule << ": " << (result ? "" : result.error().message));
  REQUIRE(result.ok());
  return *result;
}

std::string failure(const std::string& rule, const Json& data, const LogicLimits& limits = {}) {
  auto result = evaluateRule(Json::parse(rule), data, limits);
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

}  // namespace

TEST_CASE("var reads dotted paths, array indexes and defaults", "[flags][json_logic]") {
  Json data{{"user", {{"org", {{"id", "o-1"}}}, {"tags", {"a", "b"}}}}, {"a.b", 1}};
  CHECK(run(R"({"var": "user.org.id"})", data) == "o-1");
  CHECK(run(R"({"var": "user.tags.1"})", data) == "b");
  CHECK(run(R"({"var": ["user.nope", 7]})", data) == 7);
  CHECK(run(R"({"var": "a\\.b"})", data) == 1);
  CHECK(run(R"({"var": "user.tags.01"})", data).is_null());
}

TEST_CASE("comparisons coerce as JavaScript and json-logic-engine do", "[flags][json_logic]") {
  CHECK(run(R"({"==": ["12", 12]})") == true);
  CHECK(run(R"({"===": ["12", 12]})") == false);
  CHECK(run(R"({"==": [null, 0]})") == true);  // json-logic-engine's rule, unlike JS
  CHECK(run(R"({"<": [1, 2, 3]})") == true);
  CHECK(run(R"({"<=": [1, 1, 0]})") == false);
  CHECK(run(R"({"<": ["10", "9"]})") == true);  // two strings compare as strings
  CHECK_THAT(failure(R"({"<": [{"var": "s"}, 3]})", Json{{"s", "abc"}}), Catch::Contains("as numbers"));
}

TEST_CASE("flagd's string and version operators", "[flags][json_logic]") {
  CHECK(run(R"({"starts_with": ["ada@example.com", "ada"]})") == true);
  CHECK(run(R"({"ends_with": ["ada@example.com", ".org"]})") == false);
  CHECK(run(R"({"ends_with": [3, "3"]})").is_null());
  CHECK(run(R"({"sem_ver": ["v1.2.3", "^", "1.9"]})") == true);
  CHECK(run(R"({"sem_ver": ["1.2.3", "~", "1.3.0"]})") == false);
  CHECK(run(R"({"sem_ver": ["1.2.3-rc.1", "<", "1.2.3"]})") == true);
  CHECK(run(R"({"sem_ver": ["1.2", "=", "banana"]})").is_null());
}

TEST_CASE("fractional buckets by murmur3 of flagKey and targetingKey", "[flags][json_logic]") {
  Json data{{"$flagd", {{"flagKey", "f"}}}, {"targetingKey", "user-1"}};
  const std::uint64_t hash = murmur3Js("fuser-1");
  const std::string expected = ((hash * 100) >> 32) < 30 ? "a" : "b";
  CHECK(run(R"({"fractional": [["a", 30], ["b", 70]]})", data) == expected);
  CHECK(run(R"({"fractional": [["a", 0], ["b", 1]]})", data) == "b");
  CHECK(run(R"({"fractional": [["a", 1]]})", Json{{"$flagd", {{"flagKey", "f"}}}}).is_null());
}

TEST_CASE("murmur3 is the standard 32-bit hash for ASCII and imurmurhash's for the rest", "[flags][json_logic]") {
  CHECK(murmur3Js("") == 0u);
  CHECK(murmur3Js("hello") == 0x248bfa47u);
  CHECK(murmur3Js("The quick brown fox jumps over the lazy dog") == 0x2e4ff723u);
  CHECK(murmur3Js("h\xC3\xA9llo") == 0x3fb8fb77u);       // "héllo", from node's imurmurhash
  CHECK(murmur3Js("\xF0\x9D\x84\x9Ex") == 0x52c93c09u);  // "𝄞x": a surrogate pair
}

TEST_CASE("versions parse as npm semver does", "[flags][json_logic]") {
  REQUIRE(parseSemVer("1.2.3-alpha.1+build").has_value());
  CHECK(parseSemVer("1.2.3-alpha.1+build")->prerelease == std::vector<std::string>{"alpha", "1"});
  CHECK(parseSemVer("2")->major == 2);
  CHECK_FALSE(parseSemVer("1.2.3.4").has_value());
  CHECK_FALSE(parseSemVer("01.2.3").has_value());
  CHECK_FALSE(parseSemVer("1.2.3-01").has_value());
  CHECK(compareSemVer(*parseSemVer("1.0.0-alpha"), *parseSemVer("1.0.0-alpha.1")) < 0);
  CHECK(compareSemVer(*parseSemVer("1.0.0-beta.11"), *parseSemVer("1.0.0-beta.2")) > 0);
}

TEST_CASE("JS number and string conversions", "[flags][json_logic]") {
  CHECK(jsNumberToString(0.1) == "0.1");
  CHECK(jsNumberToString(1e21) == "1e+21");
  CHECK(jsNumberToString(1.5e-7) == "1.5e-7");
  CHECK(jsNumberToString(-0.000001) == "-0.000001");
  CHECK(jsStringToNumber(" 0x1F ") == 31);
  CHECK(std::isnan(jsStringToNumber("12px")));
  CHECK(jsStringToNumber("") == 0);
}

TEST_CASE("a rule too deep is refused before it runs", "[flags][json_logic]") {
  Json rule = true;
  for (int i = 0; i < 100; ++i) rule = Json{{"!", Json::array({rule})}};
  auto checked = checkRule(rule);
  REQUIRE_FALSE(checked.ok());
  CHECK_THAT(checked.error().message, Catch::Contains("nested deeper than 64 levels"));
}

TEST_CASE("work per evaluation is bounded: operations, strings and arrays", "[flags][json_logic]") {
  Json many = Json::array();
  for (int i = 0; i < 3000; ++i) many.push_back(Json{{"var", "x"}});
  Json rule{{"and", many}};
  LogicLimits limits;
  limits.maxOperations = 1000;
  auto result = evaluateRule(rule, Json{{"x", 1}}, limits);
  REQUIRE_FALSE(result.ok());
  CHECK_THAT(result.error().message, Catch::Contains("more than 1000 operations"));

  Json pieces = Json::array();
  for (int i = 0; i < 100; ++i) pieces.push_back(Json{{"var", "long"}});
  CHECK_THAT(failure(Json{{"cat", pieces}}.dump(), Json{{"long", std::string(1000, 'x')}}),
             Catch::Contains("cat: the result is too long"));
  limits = LogicLimits{};
  limits.maxArrayLength = 10;
  CHECK_THAT(failure(R"({"merge": [{"var": "list"}, {"var": "list"}]})",
                     Json{{"list", Json::array({1, 2, 3, 4, 5, 6})}}, limits),
             Catch::Contains("merge: the result is too long"));
}
