#include "flotilla/agent/journal.h"

#include <nlohmann/json.hpp>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"

namespace flotilla::agent {

using nlohmann::json;

namespace {

constexpr int kJournalVersion = 1;

std::string getString(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return {};
  if (!it->is_string()) throw std::runtime_error(std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

std::uint64_t getU64(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (!it->is_number_unsigned()) throw std::runtime_error(std::string("'") + key + "' must be an unsigned integer");
  return it->get<std::uint64_t>();
}

}  // namespace

Result<Journal> Journal::open(const std::filesystem::path& state_dir) {
  FLOTILLA_TRY(common::ensureDir(state_dir, 0700));
  Journal j(state_dir / "journal.json");
  std::error_code ec;
  if (!std::filesystem::exists(j.file_, ec)) return j;
  auto text = common::readFile(j.file_, 64 * 1024 * 1024);
  if (!text) return text.error();
  auto state = parse(*text);
  if (!state) return state.error().context(j.file_.string());
  j.state_ = std::move(*state);
  return j;
}

Status Journal::save() { return common::atomicWriteFile(file_, serialize(state_), 0600); }

std::string Journal::serialize(const JournalState& s) {
  json apps = json::object();
  for (const auto& [name, a] : s.apps) {
    json rel = json::object();
    for (const auto& [v, r] : a.releases)
      rel[v] = {{"digest", r.digest}, {"spec", common::toHex(common::asBytes(r.spec))}};
    apps[name] = {{"current", a.current}, {"previous", a.previous}, {"sequence", a.sequence}, {"releases", rel}};
  }
  json j = {{"version", kJournalVersion}, {"apps", apps}};
  if (s.order) {
    const auto& o = *s.order;
    j["order"] = {{"id", o.order_id},          {"app", o.app},       {"version", o.version},
                  {"previous", o.previous},    {"previous_previous", o.previous_previous},
                  {"action", o.action},        {"sequence", o.sequence},
                  {"phase", o.phase},          {"digest", o.digest}, {"spec", common::toHex(common::asBytes(o.spec))}};
  }
  // Names come from signed orders but are still bytes: never let invalid UTF-8
  // turn into an exception here.
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<JournalState> Journal::parse(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(Errc::kCorrupt, "journal is not a JSON object");
  try {
    if (getU64(j, "version") != kJournalVersion) return Error(Errc::kCorrupt, "unsupported journal version");
    JournalState s;
    if (auto it = j.find("apps"); it != j.end()) {
      if (!it->is_object()) return Error(Errc::kCorrupt, "'apps' must be an object");
      for (const auto& [name, a] : it->items()) {
        if (!a.is_object()) return Error(Errc::kCorrupt, "apps." + name + " must be an object");
        AppState st;
        st.current = getString(a, "current");
        st.previous = getString(a, "previous");
        st.sequence = getU64(a, "sequence");
        if (auto r = a.find("releases"); r != a.end()) {
          if (!r->is_object()) return Error(Errc::kCorrupt, "apps." + name + ".releases must be an object");
          for (const auto& [v, info] : r->items()) {
            if (!info.is_object()) return Error(Errc::kCorrupt, "apps." + name + ".releases." + v + " must be an object");
            ReleaseInfo ri;
            ri.digest = getString(info, "digest");
            auto spec = common::fromHex(getString(info, "spec"));
            if (!spec) return Error(Errc::kCorrupt, "apps." + name + ".releases." + v + ".spec: bad hex");
            ri.spec = *spec;
            st.releases[v] = std::move(ri);
          }
        }
        s.apps[name] = std::move(st);
      }
    }
    if (auto it = j.find("order"); it != j.end() && !it->is_null()) {
      if (!it->is_object()) return Error(Errc::kCorrupt, "'order' must be an object");
      InFlightOrder o;
      o.order_id = getString(*it, "id");
      o.app = getString(*it, "app");
      o.version = getString(*it, "version");
      o.previous = getString(*it, "previous");
      o.previous_previous = getString(*it, "previous_previous");
      o.action = getString(*it, "action");
      o.sequence = getU64(*it, "sequence");
      o.phase = getString(*it, "phase");
      o.digest = getString(*it, "digest");
      auto spec = common::fromHex(getString(*it, "spec"));
      if (!spec) return Error(Errc::kCorrupt, "order.spec: bad hex");
      o.spec = *spec;
      s.order = std::move(o);
    }
    return s;
  } catch (const std::exception& e) {
    return Error(Errc::kCorrupt, std::string("journal: ") + e.what());
  }
}

}  // namespace flotilla::agent
