#include "flotilla/coordinator/flag_plan.h"

#include <toml++/toml.h>

#include <algorithm>
#include <sstream>

#include "flotilla/common/crypto.h"
#include "flotilla/flags/flag_set.h"
#include "flotilla/protocol/flag_app.h"

namespace flotilla::coordinator {
namespace {

Result<toml::table> parseAppPlan(const std::string& app, const std::string& text) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& e) {
    return Error(Errc::kCorrupt, "the stored plan of " + app + " does not parse: " + std::string(e.description()));
  }
}

// The parts of app's plan a flag rollout keeps, under the flag app's name; a
// push also keeps the app's [analysis]: a flag set is judged by the app's own
// metrics, canary hosts on the new set against hosts still on the old one.
enum class Analysis { kKeep, kDrop };
Result<toml::table> flagTable(const std::string& app, const std::string& app_plan, const FlagSetRelease& set,
                              Analysis analysis) {
  auto base = parseAppPlan(app, app_plan);
  if (!base) return base.error();
  toml::table out;
  out.insert_or_assign("app", protocol::flagAppOf(app));
  out.insert_or_assign("version", set.version);
  out.insert_or_assign("artifact", toml::table{{"file", "flags.json"}});
  if (const toml::table* target = (*base)["target"].as_table()) out.insert_or_assign("target", *target);
  toml::table waves;
  if (const toml::table* w = (*base)["waves"].as_table()) {
    for (const char* key : {"max_parallel", "max_failed", "max_unreachable", "deadline"})
      if (const toml::node* n = w->get(key)) waves.insert_or_assign(key, *n);
  }
  waves.insert_or_assign("on_failure", "rollback");
  out.insert_or_assign("waves", std::move(waves));
  if (const toml::table* health = (*base)["health"].as_table()) out.insert_or_assign("health", *health);
  if (const toml::table* a = (*base)["analysis"].as_table(); a && analysis == Analysis::kKeep)
    out.insert_or_assign("analysis", *a);
  return out;
}

Result<FlagPlan> finish(const toml::table& t, std::string plan_name) {
  std::ostringstream text;
  text << t << "\n";
  auto plan = protocol::parsePlan(text.str(), plan_name, "");
  if (!plan) return plan.error();
  return FlagPlan{std::move(*plan), text.str(), std::move(plan_name)};
}

}  // namespace

std::string flagSetVersion(const std::string& digest) { return "f-" + digest.substr(0, 16); }

Result<FlagSetRelease> checkFlagSet(std::string text, const std::string& source) {
  if (text.size() > kMaxFlagSetBytes)
    return Error(Errc::kInvalidArgument, source + ": a flag set is at most " + std::to_string(kMaxFlagSetBytes) +
                                             " bytes, this one has " + std::to_string(text.size()));
  if (auto set = flags::FlagSet::parse(text); !set) return set.error().context(source);
  FlagSetRelease r;
  r.digest = common::blake2bHex(common::asBytes(text));
  r.version = flagSetVersion(r.digest);
  r.text = std::move(text);
  return r;
}

Result<FlagPlan> flagPushPlan(const std::string& app, const std::string& app_plan, const FlagSetRelease& set,
                              const FlagWaves& waves, const std::string& source) {
  auto t = flagTable(app, app_plan, set, Analysis::kKeep);
  if (!t) return t.error();
  toml::array sizes;
  if (waves.sizes.empty()) {
    sizes.push_back(1);
    sizes.push_back("100%");
  }
  for (const auto& s : waves.sizes) {
    const bool count = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (count && s.size() < 10)
      sizes.push_back(std::stoll(s));
    else
      sizes.push_back(s);
  }
  toml::table& w = *(*t)["waves"].as_table();
  w.insert_or_assign("sizes", std::move(sizes));
  if (!waves.bake.empty()) w.insert_or_assign("bake", waves.bake);
  return finish(*t, kFlagPushPlanPrefix + source);
}

Result<FlagPlan> flagKillPlan(const std::string& app, const std::string& app_plan, const FlagSetRelease& set,
                              std::size_t hosts, const std::string& flag) {
  auto t = flagTable(app, app_plan, set, Analysis::kDrop);
  if (!t) return t.error();
  toml::table& w = *(*t)["waves"].as_table();
  w.insert_or_assign("sizes", toml::array{"100%"});
  w.insert_or_assign("max_parallel", static_cast<std::int64_t>(std::max<std::size_t>(hosts, 1)));
  w.insert_or_assign("bake", "0s");
  // A kill reaches every host it can and is never undone by the ones it
  // cannot: with the app's budgets (none, by default) and a rollback on
  // failure, one host down among a thousand would put the killed flag back
  // on all the others.
  w.insert_or_assign("max_failed", "100%");
  w.insert_or_assign("max_unreachable", "100%");
  w.insert_or_assign("on_failure", "halt");
  // No checks: a host is done once the set is switched, and a kill is never
  // reverted by the checks of the flag it turns off.
  t->insert_or_assign("health", toml::table{{"healthy_for", "0s"}});
  t->insert_or_assign("change", toml::table{{"unplanned", true}});
  return finish(*t, kFlagKillPlanPrefix + flag);
}

}  // namespace flotilla::coordinator
