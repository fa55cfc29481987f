#include "flotilla/flags/flag_set.h"

#include <set>
#include <vector>

#include "flotilla/flags/js_value.h"

namespace flotilla::flags {
namespace {

Error bad(const std::string& where, const std::string& what) {
  return Error(Errc::kInvalidArgument, where + ": " + what);
}

const char* typeName(const Json& v) {
  if (v.is_boolean()) return "boolean";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  return "null";
}

Status checkMetadata(const Json& metadata, const std::string& where) {
  if (!metadata.is_object()) return bad(where, std::string("must be an object, not ") + typeName(metadata));
  for (const auto& [key, value] : metadata.items())
    if (!value.is_string() && !value.is_number() && !value.is_boolean())
      return bad(where + "." + key, std::string("must be a string, a number or a boolean, not ") + typeName(value));
  return okStatus();
}

// A rule grown past this many values by $ref substitution is refused (evaluators that use each
// other can double a rule at every step).
constexpr size_t kMaxExpandedValues = 100000;
// A document deeper than this is refused before it is parsed: targeting nests at most
// LogicLimits::maxDepth (64) inside flags.<key>.targeting, and values are copied recursively.
constexpr int kMaxDocumentDepth = 100;

// One substitution pass: every {"$ref": name} becomes the evaluator as written.
Result<Json> substitute(const Json& rule, const std::string& name, const Json& evaluator, size_t& values) {
  if (++values > kMaxExpandedValues) return Error(Errc::kInvalidArgument, "$ref expands the rule past its size limit");
  if (rule.is_object() && rule.size() == 1 && rule.contains("$ref") && rule["$ref"] == name) {
    values += evaluator.size();
    return evaluator;
  }
  if (!rule.is_array() && !rule.is_object()) return rule;
  Json out = rule.is_array() ? Json::array() : Json::object();
  for (auto it = rule.begin(); it != rule.end(); ++it) {
    auto replaced = substitute(it.value(), name, evaluator, values);
    if (!replaced) return replaced;
    if (rule.is_array()) {
      out.push_back(std::move(*replaced));
    } else {
      out[it.key()] = std::move(*replaced);
    }
  }
  return out;
}

// The first {"$ref": ...} left in a rule, if any.
const Json* leftoverRef(const Json& rule) {
  if (rule.is_object() && rule.contains("$ref")) return &rule["$ref"];
  if (!rule.is_array() && !rule.is_object()) return nullptr;
  for (const Json& item : rule)
    if (const Json* ref = leftoverRef(item)) return ref;
  return nullptr;
}

struct Evaluators {
  Json rules = Json::object();
  std::vector<std::string> order;  // as the document lists them
};

// flagd-core replaces the references evaluator by evaluator, in the order $evaluators lists them,
// each by the evaluator as written. So a $ref inside an evaluator is resolved only if the
// evaluator it names comes later in the list; we do the same, and say so when it does not.
Result<Json> resolveRefs(const Json& rule, const Evaluators& evaluators, const std::string& where) {
  Json resolved = rule;
  size_t values = 0;
  for (const std::string& name : evaluators.order) {
    auto next = substitute(resolved, name, evaluators.rules[name], values);
    if (!next) return next.error().context(where);
    resolved = std::move(*next);
  }
  if (const Json* ref = leftoverRef(resolved)) {
    if (ref->is_string() && evaluators.rules.contains(ref->get<std::string>()))
      return bad(where, "$ref " + ref->dump() +
                            " is used by an evaluator listed after it; flagd resolves $evaluators in the order "
                            "they are listed, so an evaluator that uses another must come before it");
    return bad(where, "$ref " + ref->dump() + " names no entry of $evaluators");
  }
  return resolved;
}

Status checkVariants(const Json& variants, const std::string& where) {
  if (!variants.is_object()) return bad(where, std::string("must be an object, not ") + typeName(variants));
  if (variants.empty()) return bad(where, "must name at least one variant");
  std::string kind;
  for (const auto& [name, value] : variants.items()) {
    if (name.empty()) return bad(where, "a variant name must not be empty");
    std::string type = typeName(value);
    if (type == "array" || type == "null")
      return bad(where + "." + name, "must be a boolean, a string, a number or an object, not " + type);
    if (!kind.empty() && type != kind)
      return bad(where + "." + name, "is a " + type + " but the flag's other variants are " + kind + "s");
    kind = type;
  }
  return okStatus();
}

Result<Flag> parseFlag(const std::string& key, const Json& body, const Evaluators& evaluators, const Json& setMetadata,
                       const LogicLimits& limits) {
  const std::string where = "flags." + key;
  if (!body.is_object()) return bad(where, std::string("must be an object, not ") + typeName(body));
  static const std::set<std::string> kKnownKeys = {"state", "variants", "defaultVariant", "targeting", "metadata"};
  for (const auto& [name, value] : body.items())
    if (kKnownKeys.count(name) == 0)
      return bad(where + "." + name, "unknown key (flagd schema v0 has no such flag key)");
  Flag flag;
  flag.key = key;
  if (!body.contains("state")) return bad(where + ".state", "missing (ENABLED or DISABLED)");
  const Json& state = body["state"];
  if (state == "ENABLED") {
    flag.state = FlagState::kEnabled;
  } else if (state == "DISABLED") {
    flag.state = FlagState::kDisabled;
  } else {
    return bad(where + ".state", "must be ENABLED or DISABLED, not " + state.dump());
  }
  if (!body.contains("variants")) return bad(where + ".variants", "missing");
  FLOTILLA_TRY(checkVariants(body["variants"], where + ".variants"));
  flag.variants = body["variants"];
  if (body.contains("defaultVariant") && !body["defaultVariant"].is_null()) {
    const Json& name = body["defaultVariant"];
    if (!name.is_string()) return bad(where + ".defaultVariant", "must be a variant name or null, not " + name.dump());
    if (!flag.variants.contains(name.get<std::string>()))
      return bad(where + ".defaultVariant", "\"" + name.get<std::string>() + "\" is not one of the flag's variants");
    flag.defaultVariant = name.get<std::string>();
  }
  if (body.contains("targeting")) {
    const Json& targeting = body["targeting"];
    if (!targeting.is_object())
      return bad(where + ".targeting", std::string("must be a JSONLogic object, not ") + typeName(targeting));
    if (!targeting.empty()) {
      auto resolved = resolveRefs(targeting, evaluators, where + ".targeting");
      if (!resolved) return resolved.error();
      if (auto checked = checkRule(*resolved, limits); !checked) return checked.error().context(where + ".targeting");
      flag.targeting = std::move(*resolved);
    }
  }
  flag.metadata = setMetadata;
  if (body.contains("metadata")) {
    FLOTILLA_TRY(checkMetadata(body["metadata"], where + ".metadata"));
    for (const auto& [name, value] : body["metadata"].items()) flag.metadata[name] = value;
  }
  return flag;
}

}  // namespace

Result<FlagSet> FlagSet::parse(std::string_view text, const LogicLimits& limits) {
  if (jsonTextDeeperThan(text, kMaxDocumentDepth))
    return Error(Errc::kInvalidArgument,
                 "the flag set nests deeper than " + std::to_string(kMaxDocumentDepth) + " levels");
  // Parsed twice: the ordered copy only gives $evaluators' order, which $ref resolution follows.
  auto ordered = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (ordered.is_discarded()) return Error(Errc::kInvalidArgument, "the flag set is not valid JSON");
  std::vector<std::string> order;
  if (ordered.is_object() && ordered.contains("$evaluators") && ordered["$evaluators"].is_object())
    for (const auto& [name, rule] : ordered["$evaluators"].items()) order.push_back(name);
  Json document = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return Error(Errc::kInvalidArgument, "the flag set is not valid JSON");
  return fromJson(document, order, limits);
}

Result<FlagSet> FlagSet::fromJson(const Json& document, const LogicLimits& limits) {
  if (jsonDeeperThan(document, kMaxDocumentDepth))
    return Error(Errc::kInvalidArgument,
                 "the flag set nests deeper than " + std::to_string(kMaxDocumentDepth) + " levels");
  std::vector<std::string> order;
  if (document.is_object() && document.contains("$evaluators") && document["$evaluators"].is_object())
    for (const auto& [name, rule] : document["$evaluators"].items()) order.push_back(name);
  return fromJson(document, order, limits);
}

Result<FlagSet> FlagSet::fromJson(const Json& document, const std::vector<std::string>& evaluatorOrder,
                                  const LogicLimits& limits) {
  if (!document.is_object()) return bad("flag set", std::string("must be a JSON object, not ") + typeName(document));
  static const std::set<std::string> kKnownKeys = {"$schema", "flags", "$evaluators", "metadata"};
  for (const auto& [name, value] : document.items())
    if (kKnownKeys.count(name) == 0)
      return bad(name, "unknown top-level key (flagd schema v0 has flags, $evaluators, metadata, $schema)");
  if (!document.contains("flags")) return bad("flags", "missing");
  const Json& flags = document["flags"];
  if (!flags.is_object()) return bad("flags", std::string("must be an object, not ") + typeName(flags));
  Evaluators evaluators;
  if (document.contains("$evaluators")) {
    evaluators.rules = document["$evaluators"];
    if (!evaluators.rules.is_object())
      return bad("$evaluators", std::string("must be an object, not ") + typeName(evaluators.rules));
    evaluators.order = evaluatorOrder;
  }
  FlagSet set;
  if (document.contains("metadata")) {
    FLOTILLA_TRY(checkMetadata(document["metadata"], "metadata"));
    set.metadata_ = document["metadata"];
  }
  for (const auto& [key, body] : flags.items()) {
    if (key.empty()) return bad("flags", "a flag key must not be empty");
    auto flag = parseFlag(key, body, evaluators, set.metadata_, limits);
    if (!flag) return flag.error();
    set.flags_.emplace(key, std::move(*flag));
  }
  return set;
}

const Flag* FlagSet::find(std::string_view key) const {
  auto it = flags_.find(key);
  return it == flags_.end() ? nullptr : &it->second;
}

}  // namespace flotilla::flags
