#include "flotilla/coordinator/flag_kill.h"

#include <nlohmann/json.hpp>

#include "flotilla/common/duration.h"
#include "flotilla/flags/flag_set.h"

namespace flotilla::coordinator {
namespace {

using Doc = nlohmann::ordered_json;

Result<std::string> offVariant(const Doc& f, const std::string& flag, const std::string& asked) {
  const Doc& variants = f["variants"];
  if (!asked.empty()) {
    if (!variants.contains(asked))
      return Error(Errc::kInvalidArgument, "flag '" + flag + "' has no variant '" + asked + "'");
    return asked;
  }
  if (variants.contains("off")) return std::string("off");
  bool boolean = !variants.empty();
  std::string off;
  for (auto it = variants.begin(); it != variants.end(); ++it) {
    if (!it->is_boolean()) boolean = false;
    if (it->is_boolean() && !it->get<bool>() && off.empty()) off = it.key();
  }
  if (boolean && !off.empty()) return off;
  return Error(Errc::kInvalidArgument, "flag '" + flag +
                                           "' has no variant named \"off\" and no false variant: name its off "
                                           "variant with --variant");
}

}  // namespace

Result<FlagKill> killFlag(std::string_view set_text, const std::string& flag, const std::string& variant,
                          const std::string& actor, std::int64_t at_ms) {
  Doc doc = Doc::parse(set_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("flags") || !doc["flags"].is_object())
    return Error(Errc::kCorrupt, "the stored flag set is not a flag-definition document");
  Doc& flags = doc["flags"];
  if (!flags.contains(flag) || !flags[flag].is_object())
    return Error(Errc::kNotFound, "no flag '" + flag + "' in the flag set");
  Doc& f = flags[flag];
  if (!f.contains("variants") || !f["variants"].is_object())
    return Error(Errc::kCorrupt, "flag '" + flag + "' has no variants");
  auto off = offVariant(f, flag, variant);
  if (!off) return off.error();
  f.erase("targeting");
  // A disabled flag serves each caller's code default, which may well be on.
  f["state"] = "ENABLED";
  f["defaultVariant"] = *off;
  if (!f.contains("metadata") || !f["metadata"].is_object()) f["metadata"] = Doc::object();
  f["metadata"]["killedBy"] = actor;
  f["metadata"]["killedAt"] = common::formatRfc3339(common::fromUnixMillis(at_ms));
  FlagKill out{doc.dump(2) + "\n", *off};
  if (auto checked = flags::FlagSet::parse(out.text); !checked) return checked.error().context("the killed flag set");
  return out;
}

}  // namespace flotilla::coordinator
