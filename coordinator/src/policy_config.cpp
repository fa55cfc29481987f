// coordinator.toml's [policy] freezes and break-glass (docs/policy.md): every
// error names the file, line, key and what is wrong.
#include <toml++/toml.h>

#include <sstream>

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
  if (const toml::node* l = t->get("labels")) {
    const toml::table* lt = l->as_table();
    if (!lt) return bad(file, l->source(), path + ".labels", "expected a table of strings, like { env = \"prod\" }");
    for (auto& [k, v] : *lt) {
      auto s = v.value<std::string>();
      if (!s) return bad(file, v.source(), path + ".labels." + std::string(k.str()), "expected a string");
      f.labels.emplace(std::string(k.str()), *s);
    }
  }
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

}  // namespace

Status readPolicyGates(const fs::path& file, const toml::table& policy, PolicyConfig& out) {
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
  if (const toml::node* bg = policy.get("break_glass")) {
    const toml::table* t = bg->as_table();
    if (!t) return bad(file, bg->source(), "policy.break_glass", "expected a table");
    for (auto& [k, v] : *t)
      if (k.str() != "operators")
        return bad(file, k.source(), "policy.break_glass." + std::string(k.str()), "unknown key");
    FLOTILLA_TRY(strings(file, *t, "operators", "policy.break_glass", out.break_glass));
  }
  return {};
}

}  // namespace flotilla::coordinator
