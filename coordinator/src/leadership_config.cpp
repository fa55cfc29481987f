// coordinator.toml's [leadership]: the lease's timing and what a standby tells
// agents and consoles about the leader (docs/ha.md "Configuration").
#include "leadership_config.h"

#include <sstream>

#include "flotilla/common/duration.h"

namespace flotilla::coordinator {
namespace {

namespace fs = std::filesystem;

Error bad(const fs::path& file, const toml::node& at, const std::string& key, const std::string& what) {
  std::ostringstream os;
  os << file.string() << ":" << at.source().begin.line << ":" << at.source().begin.column << ": leadership"
     << (key.empty() ? "" : "." + key) << ": " << what;
  return Error(Errc::kInvalidArgument, os.str());
}

Status readText(const fs::path& file, const toml::table& t, const char* key, std::string& out) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  auto v = n->value<std::string>();
  if (!v) return bad(file, *n, key, "expected a string");
  out = *v;
  return {};
}

Status readEndpoint(const fs::path& file, const toml::table& t, const char* key, std::string& out) {
  FLOTILLA_TRY(readText(file, t, key, out));
  if (!out.empty() && out.rfind("tcp://", 0) != 0 && out.rfind("ipc://", 0) != 0)
    return bad(file, *t.get(key), key, "'" + out + "': expected tcp://HOST:PORT or ipc://PATH");
  return {};
}

Status readPositiveDuration(const fs::path& file, const toml::table& t, const char* key, common::Millis& out) {
  std::string text;
  FLOTILLA_TRY(readText(file, t, key, text));
  if (text.empty()) return {};
  auto d = common::parseDuration(text);
  if (!d) return bad(file, *t.get(key), key, d.error().message);
  if (d->count() <= 0) return bad(file, *t.get(key), key, "must be positive");
  out = *d;
  return {};
}

}  // namespace

Status readLeadership(const fs::path& file, const toml::table& root, CoordinatorConfig& c) {
  const toml::node* n = root.get("leadership");
  LeadershipConfig& l = c.leadership;
  if (n) {
    const toml::table* t = n->as_table();
    if (!t) return bad(file, *n, "", "expected a table");
    if (c.store_url.empty())
      return bad(file, *n, "", "set only with store.url: coordinators share leadership through a PostgreSQL store");
    for (auto& [k, v] : *t) {
      const std::string key(k.str());
      if (key != "lease_ttl" && key != "renew_interval" && key != "agents_endpoint" && key != "control_endpoint")
        return bad(file, v, key,
                   "unknown key (this build knows lease_ttl, renew_interval, agents_endpoint, control_endpoint)");
    }
    FLOTILLA_TRY(readPositiveDuration(file, *t, "lease_ttl", l.lease_ttl));
    if (l.lease_ttl < kMinLeaseTtl)
      return bad(file, *t->get("lease_ttl"), "lease_ttl",
                 common::formatDuration(l.lease_ttl) + " is shorter than " + common::formatDuration(kMinLeaseTtl));
    FLOTILLA_TRY(readPositiveDuration(file, *t, "renew_interval", l.renew_interval));
    if (l.renew_interval.count() > 0 && l.renew_interval * 2 > l.lease_ttl)
      return bad(file, *t->get("renew_interval"), "renew_interval",
                 common::formatDuration(l.renew_interval) + " is more than half of lease_ttl (" +
                     common::formatDuration(l.lease_ttl) + "): a leader must be able to miss one renewal");
    FLOTILLA_TRY(readEndpoint(file, *t, "agents_endpoint", l.agents_endpoint));
    FLOTILLA_TRY(readEndpoint(file, *t, "control_endpoint", l.control_endpoint));
  }
  if (l.agents_endpoint.empty()) l.agents_endpoint = advertisedEndpoint(c.agent_listen);
  if (l.control_endpoint.empty()) l.control_endpoint = c.control_endpoint;
  return {};
}

}  // namespace flotilla::coordinator
