#include "flotilla/coordinator/flag_rollouts.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "flotilla/common/fs.h"
#include "flotilla/coordinator/flag_docs.h"
#include "flotilla/coordinator/flag_kill.h"
#include "flotilla/protocol/flag_app.h"

namespace flotilla::coordinator {

namespace control = protocol::control;

namespace {

Status checkApp(const std::string& app) {
  if (!protocol::validAppName(app)) return Error(Errc::kInvalidArgument, "invalid app name '" + app + "'");
  return {};
}

}  // namespace

Result<std::string> FlagRollouts::appPlan(const std::string& app) {
  auto list = ctx_.store().rollouts(app, 1);
  if (!list) return list.error();
  if (list->empty() || list->front().plan_text.empty())
    return Error(Errc::kNotFound, "app '" + app +
                                      "' has never been deployed: its flags roll out with its health checks and "
                                      "target, so deploy it first");
  return list->front().plan_text;
}

Result<std::string> FlagRollouts::setText(const std::string& digest) {
  return common::readFile(ctx_.artifactsDir() / digest, kMaxFlagSetBytes);
}

Result<std::optional<flags::FlagSet>> FlagRollouts::parsedSet(const std::string& digest) {
  std::error_code ec;
  if (digest.empty() || !std::filesystem::exists(ctx_.artifactsDir() / digest, ec))
    return std::optional<flags::FlagSet>();
  auto text = setText(digest);
  if (!text) return text.error();
  auto set = flags::FlagSet::parse(*text);
  if (!set) return set.error().context("flag set " + digest.substr(0, 16));
  return std::optional<flags::FlagSet>(std::move(*set));
}

Status FlagRollouts::storeSet(const FlagSetRelease& set) {
  const auto path = ctx_.artifactsDir() / set.digest;
  if (auto size = ctx_.storedArtifact(set.digest); size && *size == set.text.size()) return {};
  return common::atomicWriteFile(path, set.text);
}

RolloutStart FlagRollouts::startOf(FlagPlan plan, const FlagSetRelease& set, const std::string& actor) const {
  return RolloutStart{std::move(plan.plan),
                      std::move(plan.plan_text),
                      std::move(plan.plan_name),
                      set.digest,
                      set.text.size(),
                      actor,
                      "rollout",
                      "",
                      std::nullopt};
}

Result<RolloutStart> FlagRollouts::push(const control::FlagsPushRequest& r, const std::string& actor) {
  FLOTILLA_TRY(checkApp(r.app));
  const std::string source = r.source.empty() ? "flags.json" : r.source;
  auto set = checkFlagSet(r.flags, source);
  if (!set) return set.error();
  auto base = appPlan(r.app);
  if (!base) return base.error();
  auto plan = flagPushPlan(r.app, *base, *set, FlagWaves{r.waves, r.bake}, source);
  if (!plan) return plan.error();
  FLOTILLA_TRY(storeSet(*set));
  return startOf(std::move(*plan), *set, actor);
}

Result<FlagRollouts::Base> FlagRollouts::killBase(const std::string& app, const std::string& flag) {
  const std::string flag_app = protocol::flagAppOf(app);
  auto current = ctx_.store().currentReleases();
  if (!current) return current.error();
  auto newest = ctx_.store().rollouts(flag_app, 1);
  if (!newest) return newest.error();
  std::vector<Base> candidates;
  // A kill still rolling out (or superseded by this one) is not current yet:
  // starting from the current set would turn its flag back on.
  if (!newest->empty() && newest->front().plan_name.starts_with(kFlagKillPlanPrefix) &&
      newest->front().state != "rolled_back" && newest->front().state != "rolling_back")
    candidates.push_back({newest->front().version, newest->front().artifact_digest});
  if (auto it = current->find(flag_app); it != current->end()) {
    auto rel = ctx_.store().release(flag_app, it->second);
    if (!rel) return rel.error();
    if (rel->has_value()) candidates.push_back({it->second, (*rel)->artifact_digest});
  }
  if (!newest->empty()) candidates.push_back({newest->front().version, newest->front().artifact_digest});
  if (candidates.empty()) return Error(Errc::kNotFound, "app '" + app + "' has no flag set: push one first");
  for (const auto& c : candidates) {
    auto set = parsedSet(c.digest);
    if (!set) return set.error();
    if (*set && (*set)->find(flag)) return c;
  }
  return Error(Errc::kNotFound, "no flag '" + flag + "' in the flag set of app '" + app + "'");
}

Result<std::string> FlagRollouts::kill(const control::FlagsKillRequest& r, const std::string& actor) {
  FLOTILLA_TRY(checkApp(r.app));
  const std::string flag_app = protocol::flagAppOf(r.app);
  auto base_set = killBase(r.app, r.flag);
  if (!base_set) return base_set.error();
  auto base_text = setText(base_set->digest);
  if (!base_text) return base_text.error();
  auto killed = killFlag(*base_text, r.flag, r.variant, actor, ctx_.nowMs());
  if (!killed) return killed.error();
  auto set = checkFlagSet(killed->text, "the killed flag set");
  if (!set) return set.error();
  auto base = appPlan(r.app);
  if (!base) return base.error();
  const std::size_t hosts = ctx_.agents().accepted({}).size();
  auto plan = flagKillPlan(r.app, *base, *set, hosts, r.flag);
  if (!plan) return plan.error();
  FLOTILLA_TRY(storeSet(*set));
  if (const std::string active = ctx_.activeRolloutOf(flag_app); !active.empty()) {
    ActiveRollout* prev = ctx_.findRollout(active);
    if (prev->engine->abort(ctx_.steadyNow()).ok())
      ctx_.operatorActed(*prev, "flag_superseded", "superseded by the kill of flag " + r.flag + " by " + actor, actor);
  }
  auto id = ctx_.startRollout(startOf(std::move(*plan), *set, actor));
  if (!id) return id.error();
  ActiveRollout* started = ctx_.findRollout(*id);
  ctx_.operatorActed(*started, "flag_killed",
                     "flag " + r.flag + " killed by " + actor + ": variant " + killed->off_variant +
                         " on every host (from flag set " + base_set->version + ")",
                     actor);
  spdlog::warn("flag {} of {} killed by {} ({})", r.flag, r.app, actor, *id);
  return *id;
}

Result<control::FlagsShowReply> FlagRollouts::show(const control::FlagsShowRequest& r) {
  FLOTILLA_TRY(checkApp(r.app));
  const std::string flag_app = protocol::flagAppOf(r.app);
  std::vector<std::pair<std::string, std::string>> hosts;
  for (const Agent* a : ctx_.agents().sorted()) {
    if (!r.host.empty() && a->record.id != r.host) continue;
    if (r.host.empty() && a->record.state != "accepted") continue;
    auto it = a->record.releases.find(flag_app);
    hosts.emplace_back(a->record.id, it == a->record.releases.end() ? std::string() : it->second);
  }
  std::string version, digest;
  if (!r.host.empty()) {
    if (hosts.empty()) return Error(Errc::kNotFound, "no agent '" + r.host + "'");
    version = hosts.front().second;
    auto rel = ctx_.store().release(flag_app, version);
    if (!rel) return rel.error();
    if (rel->has_value()) digest = (*rel)->artifact_digest;
  } else {
    auto newest = ctx_.store().rollouts(flag_app, 1);
    if (!newest) return newest.error();
    if (!newest->empty()) {
      version = newest->front().version;
      digest = newest->front().artifact_digest;
    }
  }
  auto set = parsedSet(digest);
  if (!set) return set.error();
  return flagsShowDoc(r.app, version, hosts, *set ? &**set : nullptr);
}

Result<control::FlagsHistoryReply> FlagRollouts::history(const control::FlagsHistoryRequest& r) {
  FLOTILLA_TRY(checkApp(r.app));
  const std::string flag_app = protocol::flagAppOf(r.app);
  // One more than asked for: the oldest shown is compared with the one before it.
  const auto limit = static_cast<std::size_t>(std::clamp<std::int64_t>(r.limit, 1, kMaxFlagHistory));
  auto list = ctx_.store().rollouts(flag_app, limit + 1);
  if (!list) return list.error();
  std::vector<std::optional<flags::FlagSet>> sets;
  for (const auto& rec : *list) {
    auto set = parsedSet(rec.artifact_digest);
    if (!set) return set.error();
    sets.push_back(std::move(*set));
  }
  control::FlagsHistoryReply reply;
  reply.app = r.app;
  for (std::size_t i = 0; i < list->size() && i < limit; ++i) {
    const flags::FlagSet* after = sets[i] ? &*sets[i] : nullptr;
    const flags::FlagSet* before = i + 1 < sets.size() && sets[i + 1] ? &*sets[i + 1] : nullptr;
    auto entry = flagHistoryEntry((*list)[i], flagChanges(before, after));
    if (auto* active = ctx_.findRollout(entry.id)) entry.state = toString(active->engine->state());
    reply.rollouts.push_back(std::move(entry));
  }
  return reply;
}

}  // namespace flotilla::coordinator
