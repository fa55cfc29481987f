// coordinator.toml's [policy] freezes, approvals, alarms and break-glass (docs/policy.md): every
// error names the file, line, key and what is wrong.
#include <toml++/toml.h>

#include <sstream>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/operator_identity.h"
#include "policy_config.h"

namespace flotilla::coordinator {
namespace {

namespace fs = std::filesystem;

Error bad(const fs::path& file, const toml::source_region& r, const std::string& key, const std::string& what) {
  std::ostringstream os;
  os << file.string() << ":" << r.begin.line << ":" << r.begin.column << ": " << key << ": " << what;
  return Error(Errc::kInvalidArgument, os.str());
}

Status text(const fs::path& file, const toml::table& t, const char* key, const std::string& path, std::string& out,
            bool required) {
  const toml::node* n = t.get(key);
  if (!n) return required ? Status(bad(file, t.source(), path + "." + key, "missing")) : Status();
  auto v = n->value<std::string>();
  if (!v || v->empty()) return bad(file, n->source(), path + "." + key, "expected a non-empty string");
  out = *v;
  return {};
}

Status strings(const fs::path& file, const toml::table& t, const char* key, const std::string& path,
               std::vector<std::string>& out) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  const toml::array* a = n->as_array();
  if (!a) return bad(file, n->source(), path + "." + key, "expected an array of strings");
  for (const auto& e : *a) {
    auto v = e.value<std::string>();
    if (!v || v->empty()) return bad(file, e.source(), path + "." + key, "expected non-empty strings");
    out.push_back(*v);
  }
  return {};
}

Status labels(const fs::path& file, const toml::table& t, const std::string& path,
              std::map<std::string, std::string>& out) {
  const toml::node* l = t.get("labels");
  if (!l) return {};
  const toml::table* lt = l->as_table();
  if (!lt) return bad(file, l->source(), path + ".labels", "expected a table of strings, like { env = \"prod\" }");
  for (auto& [k, v] : *lt) {
    auto s = v.value<std::string>();
    if (!s) return bad(file, v.source(), path + ".labels." + std::string(k.str()), "expected a string");
    out.emplace(std::string(k.str()), *s);
  }
  return {};
}

Status readFreeze(const fs::path& file, const toml::node& node, const std::string& path, FreezePolicy& f) {
  const toml::table* t = node.as_table();
  if (!t) return bad(file, node.source(), path, "expected a table ([[policy.freeze]])");
  for (auto& [k, v] : *t) {
    const std::string key(k.str());
    if (key != "name" && key != "start" && key != "end" && key != "timezone" && key != "apps" && key != "labels" &&
        key != "in_flight")
      return bad(file, k.source(), path + "." + key, "unknown key");
  }
  FLOTILLA_TRY(text(file, *t, "name", path, f.name, true));
  FLOTILLA_TRY(text(file, *t, "start", path, f.start, true));
  FLOTILLA_TRY(text(file, *t, "end", path, f.end, true));
  FLOTILLA_TRY(text(file, *t, "timezone", path, f.timezone, false));
  FLOTILLA_TRY(strings(file, *t, "apps", path, f.apps));
  FLOTILLA_TRY(labels(file, *t, path, f.labels));
  std::string in_flight = "pause";
  FLOTILLA_TRY(text(file, *t, "in_flight", path, in_flight, false));
  if (in_flight != "pause" && in_flight != "finish")
    return bad(file, t->get("in_flight")->source(), path + ".in_flight",
               "expected \"pause\" or \"finish\", got \"" + in_flight + "\"");
  f.finish_in_flight = in_flight == "finish";
  // The window itself (cron, RFC 3339, time zone) is checked here so that a
  // bad one stops the coordinator at start, naming it.
  if (auto w = makeFreezeWindow(f.name, f.start, f.end, f.timezone); !w)
    return bad(file, node.source(), path, w.error().message);
  return {};
}

// A key that takes one of two words; `first` when absent.
Status oneOf(const fs::path& file, const toml::table& t, const char* key, const std::string& path, const char* first,
             const char* second, bool& is_first) {
  std::string word = first;
  FLOTILLA_TRY(text(file, t, key, path, word, false));
  if (word != first && word != second)
    return bad(file, t.get(key)->source(), path + "." + key,
               std::string("expected \"") + first + "\" or \"" + second + "\", got \"" + word + "\"");
  is_first = word == first;
  return {};
}

Status readAlarm(const fs::path& file, const toml::node& node, const std::string& path, std::size_t index,
                 AlarmPolicy& a) {
  const toml::table* t = node.as_table();
  if (!t) return bad(file, node.source(), path, "expected a table ([[policy.alarm]])");
  for (auto& [k, v] : *t) {
    const std::string key(k.str());
    if (key != "name" && key != "prometheus" && key != "query" && key != "on_fire" && key != "on_error" &&
        key != "interval" && key != "apps" && key != "labels")
      return bad(file, k.source(), path + "." + key, "unknown key");
  }
  a.name = "alarm " + std::to_string(index + 1);
  FLOTILLA_TRY(text(file, *t, "name", path, a.name, false));
  FLOTILLA_TRY(text(file, *t, "prometheus", path, a.prometheus, true));
  if (a.prometheus.rfind("http://", 0) != 0 && a.prometheus.rfind("https://", 0) != 0)
    return bad(file, t->get("prometheus")->source(), path + ".prometheus",
               "expected an http:// URL, like \"http://127.0.0.1:9090\"");
  FLOTILLA_TRY(text(file, *t, "query", path, a.query, true));
  bool rollback = true, pause = true;
  FLOTILLA_TRY(oneOf(file, *t, "on_fire", path, "rollback", "pause", rollback));
  FLOTILLA_TRY(oneOf(file, *t, "on_error", path, "pause", "ignore", pause));
  a.on_fire = rollback ? AlarmFireAction::kRollback : AlarmFireAction::kPause;
  a.on_error = pause ? AlarmErrorAction::kPause : AlarmErrorAction::kIgnore;
  std::string interval;
  FLOTILLA_TRY(text(file, *t, "interval", path, interval, false));
  if (!interval.empty()) {
    auto d = common::parseDuration(interval);
    if (!d || *d < std::chrono::seconds(1))
      return bad(file, t->get("interval")->source(), path + ".interval",
                 "expected a duration of at least 1s, like \"10s\", got \"" + interval + "\"");
    a.interval = *d;
  }
  FLOTILLA_TRY(strings(file, *t, "apps", path, a.apps));
  return labels(file, *t, path, a.labels);
}

Status readApprovals(const fs::path& file, const toml::node& node, const std::vector<std::string>& operators,
                     ApprovalPolicy& a) {
  const std::string path = "policy.approvals";
  const toml::table* t = node.as_table();
  if (!t) return bad(file, node.source(), path, "expected a table ([policy.approvals])");
  for (auto& [k, v] : *t) {
    const std::string key(k.str());
    if (key != "required" && key != "labels" && key != "apps" && key != "ttl" && key != "approvers")
      return bad(file, k.source(), path + "." + key, "unknown key");
  }
  const toml::node* required = t->get("required");
  if (!required) return bad(file, t->source(), path + ".required", "missing");
  auto n = required->value<std::int64_t>();
  if (!n || *n < 1 || *n > 100)
    return bad(file, required->source(), path + ".required", "expected a whole number of approvals, 1 to 100");
  a.required = static_cast<std::size_t>(*n);
  std::string ttl;
  FLOTILLA_TRY(text(file, *t, "ttl", path, ttl, false));
  if (!ttl.empty()) {
    auto d = common::parseDuration(ttl);
    if (!d || *d < std::chrono::minutes(1))
      return bad(file, t->get("ttl")->source(), path + ".ttl",
                 "expected a duration of at least 1m, like \"4h\", got \"" + ttl + "\"");
    a.ttl = *d;
  }
  FLOTILLA_TRY(strings(file, *t, "apps", path, a.apps));
  FLOTILLA_TRY(labels(file, *t, path, a.labels));
  std::vector<std::string> written;
  FLOTILLA_TRY(strings(file, *t, "approvers", path, written));
  for (std::size_t i = 0; i < written.size(); ++i) {
    auto id = parseIdentity(written[i]);
    if (!id) return bad(file, (*t->get("approvers")->as_array())[i].source(), path + ".approvers", id.error().message);
    a.approvers.push_back(*id);
  }
  // A rule nobody can satisfy stops the coordinator here, not a rollout later.
  if (auto gate = ApprovalGate::make(a, operators); !gate)
    return bad(file, required->source(), path + ".required", gate.error().message);
  return {};
}

}  // namespace

Status readPolicyGates(const fs::path& file, const toml::table& policy, const std::vector<std::string>& operators,
                       PolicyConfig& out) {
  if (const toml::node* fz = policy.get("freeze")) {
    const toml::array* a = fz->as_array();
    if (!a) return bad(file, fz->source(), "policy.freeze", "expected an array of tables ([[policy.freeze]])");
    for (std::size_t i = 0; i < a->size(); ++i) {
      FreezePolicy f;
      FLOTILLA_TRY(readFreeze(file, (*a)[i], "policy.freeze[" + std::to_string(i) + "]", f));
      for (const auto& other : out.freezes)
        if (other.name == f.name)
          return bad(file, (*a)[i].source(), "policy.freeze[" + std::to_string(i) + "].name",
                     "freeze \"" + f.name + "\" appears twice");
      out.freezes.push_back(std::move(f));
    }
  }
  if (const toml::node* al = policy.get("alarm")) {
    const toml::array* a = al->as_array();
    if (!a) return bad(file, al->source(), "policy.alarm", "expected an array of tables ([[policy.alarm]])");
    for (std::size_t i = 0; i < a->size(); ++i) {
      const std::string path = "policy.alarm[" + std::to_string(i) + "]";
      AlarmPolicy alarm;
      FLOTILLA_TRY(readAlarm(file, (*a)[i], path, i, alarm));
      for (const auto& other : out.alarms)
        if (other.name == alarm.name)
          return bad(file, (*a)[i].source(), path + ".name", "alarm \"" + alarm.name + "\" appears twice");
      out.alarms.push_back(std::move(alarm));
    }
  }
  if (const toml::node* bg = policy.get("break_glass")) {
    const toml::table* t = bg->as_table();
    if (!t) return bad(file, bg->source(), "policy.break_glass", "expected a table");
    for (auto& [k, v] : *t)
      if (k.str() != "operators")
        return bad(file, k.source(), "policy.break_glass." + std::string(k.str()), "unknown key");
    FLOTILLA_TRY(strings(file, *t, "operators", "policy.break_glass", out.break_glass));
    for (std::size_t i = 0; i < out.break_glass.size(); ++i) {
      auto id = parseIdentity(out.break_glass[i]);
      if (!id)
        return bad(file, (*t->get("operators")->as_array())[i].source(), "policy.break_glass.operators",
                   id.error().message);
      out.break_glass[i] = *id;
    }
  }
  if (const toml::node* ap = policy.get("approvals")) FLOTILLA_TRY(readApprovals(file, *ap, operators, out.approvals));
  return {};
}

}  // namespace flotilla::coordinator
