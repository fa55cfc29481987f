#pragma once
// A flag set: one flagd flag-definition document, parsed and checked.
//
// Format: flagd's flag definitions, schema v0 (https://flagd.dev/schema/v0/flags.json):
//   { "$schema": "...", "metadata": {...}, "$evaluators": { "name": <rule>, ... },
//     "flags": { "<key>": { "state": "ENABLED" | "DISABLED", "variants": { "<name>": <value> },
//                           "defaultVariant": "<name>" | null, "targeting": <JSONLogic rule>,
//                           "metadata": { "<key>": string | number | boolean } } } }
// All variants of a flag have one type (boolean, string, number or object), as the schema says.
// `{"$ref": "name"}` in a targeting rule is replaced by $evaluators.name before the rule is
// checked, evaluator by evaluator in the order the document lists them, as flagd-core does: an
// evaluator may use another that is listed after it. A flag's metadata is the set's metadata overlaid
// with the flag's own.
//
// flagd's evaluators only warn about a document that breaks the schema and then fail per flag;
// Flotilla refuses the whole document instead, with an error that names the flag, the key and
// what is wrong, so a bad flag set never replaces a good one. Immutable once parsed; any thread.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/common/result.h"
#include "flotilla/flags/json_logic.h"

namespace flotilla::flags {

using Json = nlohmann::json;

enum class FlagState { kEnabled, kDisabled };

struct Flag {
  std::string key;
  FlagState state = FlagState::kEnabled;
  Json variants = Json::object();             // name -> value
  std::optional<std::string> defaultVariant;  // absent or null: the caller's own default
  std::optional<Json> targeting;              // $refs resolved; absent when none or {}
  Json metadata = Json::object();
};

class FlagSet {
 public:
  // Parses JSON text. Errors are kInvalidArgument: "flags.new-ui.defaultVariant: ...".
  static Result<FlagSet> parse(std::string_view text, const LogicLimits& limits = {});
  // From a parsed document, whose objects have lost their order: $evaluators are then taken in
  // name order (parse keeps the document's).
  static Result<FlagSet> fromJson(const Json& document, const LogicLimits& limits = {});

  const Flag* find(std::string_view key) const;
  const std::map<std::string, Flag, std::less<>>& flags() const { return flags_; }
  const Json& metadata() const { return metadata_; }

 private:
  static Result<FlagSet> fromJson(const Json& document, const std::vector<std::string>& evaluatorOrder,
                                  const LogicLimits& limits);

  std::map<std::string, Flag, std::less<>> flags_;
  Json metadata_ = Json::object();
};

}  // namespace flotilla::flags
