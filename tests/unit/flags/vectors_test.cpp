// The C++ evaluator against the shared vectors (tests/flags_js/vectors.json), whose expected
// results were recorded from flagd's own evaluator, @openfeature/flagd-core; the ctest
// flags_vectors_match_flagd_core re-runs flagd-core on the same file. Needs no node.

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "flotilla/flags/evaluator.h"
#include "flotilla/flags/flag_set.h"
#include "flotilla/flags/js_value.h"
#include "flotilla/flags/json_logic.h"

using namespace flotilla::flags;

namespace {

const Json& vectors() {
  static const Json kVectors = [] {
    std::ifstream in(std::string(FLOTILLA_SOURCE_DIR) + "/tests/flags_js/vectors.json");
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    return Json::parse(text.str());
  }();
  return kVectors;
}

std::int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What flagd-core's probe flag reveals of a rule's result (see evaluate.js).
Json probe(const Json& rule, const Json& context) {
  if (!checkRule(rule)) return Json{{"outcome", "parse_error"}};
  Json data = context;
  data["$flagd"] = Json{{"flagKey", "probe"}, {"timestamp", nowSeconds()}};
  auto result = evaluateRule(rule, data);
  if (!result) return Json{{"outcome", "error"}};
  if (result->is_null()) return Json{{"outcome", "null"}};
  return Json{{"outcome", "value"}, {"text", jsToString(*result)}};
}

// The flag sets as written, in the file's key order ($evaluators are resolved in that order).
const nlohmann::ordered_json& orderedSets() {
  static const nlohmann::ordered_json kSets = [] {
    std::ifstream in(std::string(FLOTILLA_SOURCE_DIR) + "/tests/flags_js/vectors.json");
    std::stringstream text;
    text << in.rdbuf();
    return nlohmann::ordered_json::parse(text.str())["sets"];
  }();
  return kSets;
}

FlagSet parsedSet(const std::string& name) {
  // Through the text, as the agent will read it.
  auto set = FlagSet::parse(orderedSets()[name].dump());
  INFO(name << ": " << (set ? "" : set.error().message));
  REQUIRE(set.ok());
  return std::move(*set);
}

Json resolveAsFlagdCore(const FlagSet& set, const std::string& flag, const std::string& type, const Json& context) {
  EvaluationRequest request{flag, *valueTypeFromName(type), &context, nowSeconds()};
  Resolution r = evaluateFlag(set, request);
  return Json{{"variant", r.variant ? Json(*r.variant) : Json()},
              {"value", r.value ? *r.value : Json()},
              {"reason", reasonName(r.reason)},
              {"errorCode", r.errorCode == ErrorCode::kNone ? Json() : Json(errorCodeName(r.errorCode))},
              {"metadata", r.metadata}};
}

std::string fnv1a64(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

std::vector<std::string> sweepVariants(const Json& sweep) {
  FlagSet set = parsedSet(sweep["set"]);
  std::vector<std::string> out;
  const std::string prefix = sweep["keys"]["prefix"];
  const int count = sweep["keys"]["count"];
  // The request holds a view of the flag's name: it must outlive the loop.
  const std::string flag = sweep["flag"];
  const ValueType type = *valueTypeFromName(sweep["type"].get<std::string>());
  for (int i = 0; i < count; ++i) {
    Json context{{"targetingKey", prefix + std::to_string(i)}};
    EvaluationRequest request{flag, type, &context, 0};
    Resolution r = evaluateFlag(set, request);
    out.push_back(r.variant ? *r.variant : "-");
  }
  return out;
}

}  // namespace

TEST_CASE("every JSONLogic vector gives what flagd-core gives", "[flags][vectors]") {
  int agreed = 0;
  for (const Json& c : vectors()["logic"]) {
    Json got = probe(c["rule"], vectors()["contexts"][c["context"].get<std::string>()]);
    INFO(c["name"].get<std::string>() << ": rule " << c["rule"].dump() << "\n  C++:        " << got.dump()
                                      << "\n  flagd-core: " << c["expect"].dump());
    CHECK(got == c["expect"]);
    if (got == c["expect"]) ++agreed;
  }
  CHECK(agreed == static_cast<int>(vectors()["logic"].size()));
}

TEST_CASE("every flag evaluation vector gives flagd-core's variant, value, reason and error code", "[flags][vectors]") {
  std::map<std::string, FlagSet> sets;
  for (const Json& c : vectors()["cases"]) {
    const std::string name = c["set"];
    if (!sets.count(name)) sets.emplace(name, parsedSet(name));
    Json got = resolveAsFlagdCore(sets.at(name), c["flag"], c["type"], c["context"]);
    INFO(c["name"].get<std::string>() << "\n  C++:        " << got.dump() << "\n  flagd-core: " << c["expect"].dump());
    CHECK(got == c["expect"]);
  }
}

TEST_CASE("fractional sweeps put every key in flagd-core's bucket, within the weights' tolerance", "[flags][vectors]") {
  for (const Json& sweep : vectors()["sweeps"]) {
    std::vector<std::string> variants = sweepVariants(sweep);
    std::map<std::string, int> counts;
    std::string joined;
    for (size_t i = 0; i < variants.size(); ++i) {
      ++counts[variants[i]];
      joined += (i ? "\n" : "") + variants[i];
    }
    INFO(sweep["name"].get<std::string>());
    CHECK(fnv1a64(joined) == sweep["expect"]["digest"].get<std::string>());
    CHECK(Json(counts) == sweep["expect"]["counts"]);
    // The bucketing is uniform: each variant within 4 standard deviations of its share.
    double total = 0;
    for (const auto& [variant, weight] : sweep["weights"].items()) total += weight.get<double>();
    for (const auto& [variant, weight] : sweep["weights"].items()) {
      const double n = static_cast<double>(variants.size());
      const double p = weight.get<double>() / total;
      const double sigma = std::sqrt(n * p * (1 - p));
      INFO(variant << ": " << counts[variant] << " of " << n << " for a share of " << p);
      CHECK(std::fabs(counts[variant] - n * p) <= 4 * sigma + 1);
    }
  }
}

TEST_CASE("raising a fractional rollout keeps every key that was on", "[flags][vectors]") {
  std::map<std::string, std::vector<std::string>> swept;
  for (const Json& sweep : vectors()["sweeps"]) swept[sweep["name"]] = sweepVariants(sweep);
  for (const Json& m : vectors()["monotonic"]) {
    const auto& before = swept.at(m["before"]);
    const auto& after = swept.at(m["after"]);
    const std::string variant = m["variant"];
    int kept = 0, lost = 0;
    for (size_t i = 0; i < before.size(); ++i) {
      if (before[i] != variant) continue;
      (after[i] == variant ? kept : lost) += 1;
    }
    INFO(m.dump());
    CHECK(kept > 0);
    CHECK(lost == 0);
  }
}

TEST_CASE("flag sets flagd-core refuses are refused, with an error naming the flag", "[flags][vectors]") {
  for (const Json& r : vectors()["rejected"]) {
    auto set = FlagSet::parse(r["document"].dump());
    INFO(r["name"].get<std::string>());
    REQUIRE_FALSE(set.ok());
    CHECK(set.error().message.find("flags." + r["flag"].get<std::string>()) != std::string::npos);
  }
}
