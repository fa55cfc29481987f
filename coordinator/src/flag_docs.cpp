#include "flotilla/coordinator/flag_docs.h"

#include <map>

#include "flotilla/coordinator/control_docs.h"
#include "flotilla/coordinator/flag_plan.h"

namespace flotilla::coordinator {

namespace control = protocol::control;

std::vector<control::FlagDoc> flagDocs(const flags::FlagSet& set) {
  std::vector<control::FlagDoc> out;
  for (const auto& [key, f] : set.flags()) {
    control::FlagDoc d;
    d.key = key;
    d.state = f.state == flags::FlagState::kEnabled ? "ENABLED" : "DISABLED";
    d.default_variant = f.defaultVariant;
    for (auto it = f.variants.begin(); it != f.variants.end(); ++it) d.variants.push_back(it.key());
    d.targeted = f.targeting.has_value();
    d.killed = f.metadata.contains("killedBy");
    out.push_back(std::move(d));
  }
  return out;
}

control::FlagsShowReply flagsShowDoc(const std::string& app, const std::string& version,
                                     const std::vector<std::pair<std::string, std::string>>& hosts,
                                     const flags::FlagSet* set) {
  control::FlagsShowReply doc;
  doc.app = app;
  doc.version = version;
  std::map<std::string, std::uint64_t> on;
  for (const auto& [host, v] : hosts) {
    doc.hosts.push_back({host, v});
    ++on[v];
  }
  for (const auto& [v, n] : on) doc.versions.push_back({v, n});
  if (set) doc.flags = flagDocs(*set);
  return doc;
}

FlagChanges flagChanges(const flags::FlagSet* before, const flags::FlagSet* after) {
  static const flags::FlagSet kNone;
  const auto& was = (before ? before : &kNone)->flags();
  const auto& now = (after ? after : &kNone)->flags();
  FlagChanges c;
  for (const auto& [key, f] : now) {
    auto it = was.find(key);
    if (it == was.end()) {
      c.added.push_back(key);
      continue;
    }
    const flags::Flag& g = it->second;
    if (f.state != g.state || f.variants != g.variants || f.defaultVariant != g.defaultVariant ||
        f.targeting != g.targeting || f.metadata != g.metadata)
      c.changed.push_back(key);
  }
  for (const auto& [key, f] : was)
    if (!now.count(key)) c.removed.push_back(key);
  return c;
}

control::FlagHistoryEntry flagHistoryEntry(const RolloutRecord& r, FlagChanges changes) {
  control::FlagHistoryEntry e;
  e.id = r.id;
  e.kind = r.plan_name.rfind(kFlagKillPlanPrefix, 0) == 0 ? "kill" : "push";
  e.version = r.version;
  e.state = r.state;
  e.submitted_by = r.submitted_by;
  e.submitted_at = timeOrNull(r.submitted_at_ms);
  e.finished_at = timeOrNull(r.finished_at_ms);
  e.message = r.message;
  e.added = std::move(changes.added);
  e.removed = std::move(changes.removed);
  e.changed = std::move(changes.changed);
  return e;
}

}  // namespace flotilla::coordinator
