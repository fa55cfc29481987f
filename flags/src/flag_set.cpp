#include "flotilla/flags/flag_set.h"

#include <set>

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

// Replaces every {"$ref": "name"} by its evaluator, following references inside evaluators.
Result<Json> resolveRefs(const Json& rule, const Json& evaluators, const std::string& where, int depth,
                         std::set<std::string>& active) {
  if (depth > 64) return bad(where, "$ref nests too deep");
  if (rule.is_array()) {
    Json out = Json::array();
    for (const Json& item : rule) {
      auto resolved = resolveRefs(item, evaluators, where, depth + 1, active);
      if (!resolved) return resolved;
      out.push_back(std::move(*resolved));
    }
    return out;
  }
  if (!rule.is_object()) return rule;
  if (rule.size() == 1 && rule.contains("$ref")) {
    const Json& name = rule["$ref"];
    if (!name.is_string()) return bad(where, "$ref must name an evaluator, not " + name.dump());
    const std::string& ref = name.get_ref<const std::string&>();
    if (!evaluators.contains(ref)) return bad(where, "$ref \"" + ref + "\" names no entry of $evaluators");
    if (active.count(ref) > 0) return bad(where, "$ref \"" + ref + "\" refers to itself");
    active.insert(ref);
    auto resolved = resolveRefs(evaluators[ref], evaluators, where, depth + 1, active);
    active.erase(ref);
    return resolved;
  }
  Json out = Json::object();
  for (const auto& [key, value] : rule.items()) {
    auto resolved = resolveRefs(value, evaluators, where, depth + 1, active);
    if (!resolved) return resolved;
    out[key] = std::move(*resolved);
  }
  return out;
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

Result<Flag> parseFlag(const std::string& key, const Json& body, const Json& evaluators, const Json& setMetadata,
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
      std::set<std::string> active;
      auto resolved = resolveRefs(targeting, evaluators, where + ".targeting", 0, active);
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
  Json document = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return Error(Errc::kInvalidArgument, "the flag set is not valid JSON");
  return fromJson(document, limits);
}

Result<FlagSet> FlagSet::fromJson(const Json& document, const LogicLimits& limits) {
  if (!document.is_object()) return bad("flag set", std::string("must be a JSON object, not ") + typeName(document));
  static const std::set<std::string> kKnownKeys = {"$schema", "flags", "$evaluators", "metadata"};
  for (const auto& [name, value] : document.items())
    if (kKnownKeys.count(name) == 0)
      return bad(name, "unknown top-level key (flagd schema v0 has flags, $evaluators, metadata, $schema)");
  if (!document.contains("flags")) return bad("flags", "missing");
  const Json& flags = document["flags"];
  if (!flags.is_object()) return bad("flags", std::string("must be an object, not ") + typeName(flags));
  Json evaluators = Json::object();
  if (document.contains("$evaluators")) {
    evaluators = document["$evaluators"];
    if (!evaluators.is_object())
      return bad("$evaluators", std::string("must be an object, not ") + typeName(evaluators));
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
