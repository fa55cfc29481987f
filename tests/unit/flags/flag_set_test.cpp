// Parsing flag sets: every malformed document is refused with an error that names the flag,
// the key and what is wrong (tests/flags_js/vectors.json covers the well-formed ones).

#include "flotilla/flags/flag_set.h"

#include <string>

#include <catch2/catch.hpp>

using namespace flotilla::flags;

namespace {

// The error of a document that must be refused.
std::string refusal(const std::string& text) {
  auto set = FlagSet::parse(text);
  REQUIRE_FALSE(set.ok());
  CHECK(set.error().code == flotilla::Errc::kInvalidArgument);
  return set.error().message;
}

std::string flagWith(const std::string& body) { return R"({"flags": {"new-ui": )" + body + "}}"; }

const char* kOnOff = R"("variants": {"on": true, "off": false})";

}  // namespace

TEST_CASE("a flag set that is not a JSON object with flags is refused", "[flags][flag_set]") {
  CHECK_THAT(refusal("{\"flags\": "), Catch::Contains("not valid JSON"));
  CHECK_THAT(refusal("[1, 2]"), Catch::Contains("must be a JSON object, not array"));
  CHECK_THAT(refusal("{}"), Catch::Contains("flags: missing"));
  CHECK_THAT(refusal(R"({"flags": []})"), Catch::Contains("flags: must be an object, not array"));
  CHECK_THAT(refusal(R"({"flags": {}, "flag": {}})"), Catch::Contains("flag: unknown top-level key"));
  CHECK_THAT(refusal(R"({"flags": {}, "$evaluators": 3})"), Catch::Contains("$evaluators: must be an object"));
}

TEST_CASE("a flag's state must be ENABLED or DISABLED", "[flags][flag_set]") {
  CHECK_THAT(refusal(flagWith(std::string("{") + kOnOff + "}")), Catch::Contains("flags.new-ui.state: missing"));
  CHECK_THAT(refusal(flagWith(std::string(R"({"state": "ON", )") + kOnOff + "}")),
             Catch::Contains(R"(flags.new-ui.state: must be ENABLED or DISABLED, not "ON")"));
  CHECK_THAT(refusal(flagWith("[]")), Catch::Contains("flags.new-ui: must be an object, not array"));
}

TEST_CASE("variants are named values of one type", "[flags][flag_set]") {
  CHECK_THAT(refusal(flagWith(R"({"state": "ENABLED"})")), Catch::Contains("flags.new-ui.variants: missing"));
  CHECK_THAT(refusal(flagWith(R"({"state": "ENABLED", "variants": {}})")),
             Catch::Contains("flags.new-ui.variants: must name at least one variant"));
  CHECK_THAT(refusal(flagWith(R"({"state": "ENABLED", "variants": {"a": true, "b": "yes"}})")),
             Catch::Contains("flags.new-ui.variants.b: is a string but the flag's other variants are booleans"));
  CHECK_THAT(refusal(flagWith(R"({"state": "ENABLED", "variants": {"a": [1]}})")),
             Catch::Contains("flags.new-ui.variants.a: must be a boolean, a string, a number or an object, not array"));
  CHECK_THAT(refusal(flagWith(R"({"state": "ENABLED", "variants": {"a": null}})")),
             Catch::Contains("flags.new-ui.variants.a"));
}

TEST_CASE("the default variant is one of the variants, or null", "[flags][flag_set]") {
  CHECK_THAT(refusal(flagWith(std::string(R"({"state": "ENABLED", "defaultVariant": "maybe", )") + kOnOff + "}")),
             Catch::Contains(R"(flags.new-ui.defaultVariant: "maybe" is not one of the flag's variants)"));
  CHECK_THAT(refusal(flagWith(std::string(R"({"state": "ENABLED", "defaultVariant": 1, )") + kOnOff + "}")),
             Catch::Contains("flags.new-ui.defaultVariant: must be a variant name or null"));
  auto set = FlagSet::parse(flagWith(std::string(R"({"state": "ENABLED", "defaultVariant": null, )") + kOnOff + "}"));
  REQUIRE(set.ok());
  CHECK_FALSE(set->find("new-ui")->defaultVariant.has_value());
}

TEST_CASE("an unknown flag key is refused, a typo would otherwise go unnoticed", "[flags][flag_set]") {
  CHECK_THAT(refusal(flagWith(std::string(R"({"state": "ENABLED", "defaultVariant": "on", "targetting": {}, )") +
                              kOnOff + "}")),
             Catch::Contains("flags.new-ui.targetting: unknown key"));
}

TEST_CASE("targeting must be a rule of known operators", "[flags][flag_set]") {
  auto targeting = [](const std::string& rule) {
    return flagWith(std::string(R"({"state": "ENABLED", "defaultVariant": "on", )") + kOnOff + R"(, "targeting": )" +
                    rule + "}");
  };
  CHECK_THAT(refusal(targeting("\"on\"")), Catch::Contains("flags.new-ui.targeting: must be a JSONLogic object"));
  CHECK_THAT(refusal(targeting(R"({"if": [{"frobnicate": [1]}, "on", "off"]})")),
             Catch::Contains(R"(flags.new-ui.targeting: if[0].frobnicate: unknown operator "frobnicate")"));
  CHECK_THAT(refusal(targeting(R"({"if": [true, "on"], "else": "off"})")),
             Catch::Contains("flags.new-ui.targeting: an operator is an object with exactly one key, this one has 2"));
  CHECK_THAT(refusal(targeting(R"({"/": [{"var": "n"}, 0]})")),
             Catch::Contains("flags.new-ui.targeting: /[1]: division by zero"));
  CHECK_THAT(refusal(targeting(R"({"if": [{"min": []}, "on", "off"]})")),
             Catch::Contains("flags.new-ui.targeting: reads no context and fails"));
  CHECK_THAT(refusal(targeting(R"({"if": [{"var": "x"}, {"min": []}, "off"]})")),
             Catch::Contains("flags.new-ui.targeting: if[1]: reads no context and fails "
                             "(flagd evaluates it when it loads the rule): min: expects numbers"));
  std::string deep = R"("on")";
  for (int i = 0; i < 40; ++i) deep = R"({"if": [true, )" + deep + "]}";  // 80 levels
  CHECK_THAT(refusal(targeting(deep)), Catch::Contains("nested deeper than 64 levels"));
  auto empty = FlagSet::parse(targeting("{}"));
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->find("new-ui")->targeting.has_value());
}

TEST_CASE("$ref names an evaluator listed after the one that uses it", "[flags][flag_set]") {
  const std::string rule = std::string(R"({"state": "ENABLED", "defaultVariant": "on", )") + kOnOff +
                           R"(, "targeting": {"if": [{"$ref": "b"}, "on", "off"]}})";
  auto set = FlagSet::parse(R"({"$evaluators": {"b": {"!": [{"$ref": "a"}]}, "a": {"==": [{"var": "x"}, 1]}},
                                "flags": {"new-ui": )" +
                            rule + "}}");
  REQUIRE(set.ok());
  CHECK(*set->find("new-ui")->targeting == Json::parse(R"({"if": [{"!": [{"==": [{"var": "x"}, 1]}]}, "on", "off"]})"));
  CHECK_THAT(refusal(R"({"$evaluators": {"a": {"==": [{"var": "x"}, 1]}, "b": {"!": [{"$ref": "a"}]}},
                         "flags": {"new-ui": )" +
                     rule + "}}"),
             Catch::Contains(R"(flags.new-ui.targeting: $ref "a" is used by an evaluator listed after it)"));
  CHECK_THAT(refusal(R"({"flags": {"new-ui": )" + rule + "}}"),
             Catch::Contains(R"(flags.new-ui.targeting: $ref "b" names no entry of $evaluators)"));
}

TEST_CASE("$ref expansion is bounded", "[flags][flag_set]") {
  // e0 uses e1 twice, e1 uses e2 twice, ...: 2^30 copies if nothing stopped it.
  Json evaluators = Json::object();
  for (int i = 0; i < 30; ++i) {
    const std::string next = "e" + std::to_string(i + 1);
    evaluators["e" + std::to_string(i)] = Json{{"and", Json::array({Json{{"$ref", next}}, Json{{"$ref", next}}})}};
  }
  evaluators["e30"] = true;
  nlohmann::ordered_json document;
  document["$evaluators"] = nlohmann::ordered_json::object();
  for (int i = 0; i <= 30; ++i) document["$evaluators"]["e" + std::to_string(i)] = evaluators["e" + std::to_string(i)];
  document["flags"]["new-ui"] = Json::parse(std::string(R"({"state": "ENABLED", "defaultVariant": "on", )") + kOnOff +
                                            R"(, "targeting": {"if": [{"$ref": "e0"}, "on", "off"]}})");
  CHECK_THAT(refusal(document.dump()), Catch::Contains("past its size limit"));
}

TEST_CASE("metadata values are strings, numbers or booleans, a flag's override the set's", "[flags][flag_set]") {
  CHECK_THAT(refusal(R"({"metadata": {"owner": ["a"]}, "flags": {}})"),
             Catch::Contains("metadata.owner: must be a string, a number or a boolean, not array"));
  CHECK_THAT(refusal(flagWith(std::string(R"({"state": "ENABLED", "metadata": {"team": null}, )") + kOnOff + "}")),
             Catch::Contains("flags.new-ui.metadata.team"));
  auto set = FlagSet::parse(R"({"metadata": {"flagSetId": "shop", "version": 1},
                                "flags": {"new-ui": {"state": "ENABLED", "variants": {"on": true},
                                                     "metadata": {"version": 2, "team": "web"}}}})");
  REQUIRE(set.ok());
  CHECK(set->find("new-ui")->metadata == Json{{"flagSetId", "shop"}, {"version", 2}, {"team", "web"}});
  CHECK(set->metadata() == Json{{"flagSetId", "shop"}, {"version", 1}});
}

TEST_CASE("a document nested too deep is refused before it is parsed", "[flags][flag_set]") {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  CHECK_THAT(refusal(R"({"flags": {}, "metadata": {"x": )" + deep + "}}"),
             Catch::Contains("the flag set nests deeper than 100 levels"));
  // Brackets inside strings do not count.
  auto set = FlagSet::parse(R"({"flags": {"f": {"state": "ENABLED", "variants": {"a": ")" + std::string(500, '[') +
                            R"("}}}})");
  CHECK(set.ok());
}
