#include "flotilla/agent/journal.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>

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

std::int64_t getI64(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (!it->is_number_integer()) throw std::runtime_error(std::string("'") + key + "' must be an integer");
  // A number too large for int64 is stored unsigned: refuse it rather than wrap.
  if (it->is_number_unsigned() &&
      it->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw std::runtime_error(std::string("'") + key + "' is out of range");
  return it->get<std::int64_t>();
}

std::optional<protocol::Phase> terminalPhase(const std::string& name) {
  for (auto i = 0; i <= static_cast<int>(protocol::Phase::kRefused); ++i) {
    auto p = static_cast<protocol::Phase>(i);
    if (name == protocol::toString(p)) return protocol::isTerminal(p) ? std::optional(p) : std::nullopt;
  }
  return std::nullopt;
}

json toJson(const FinishedOrder& f) {
  return {{"id", f.order_id},
          {"sequence", f.sequence},
          {"action", f.action},
          {"version", f.version},
          {"phase", protocol::toString(f.phase)},
          {"message", f.message},
          {"live_version", f.live_version},
          {"at_ms", f.at_ms}};
}

FinishedOrder finishedFromJson(const json& j, const std::string& where) {
  if (!j.is_object()) throw std::runtime_error(where + " must be an object");
  FinishedOrder f;
  f.order_id = getString(j, "id");
  f.sequence = getU64(j, "sequence");
  f.action = getString(j, "action");
  f.version = getString(j, "version");
  auto phase = terminalPhase(getString(j, "phase"));
  if (!phase) throw std::runtime_error(where + ".phase must name a terminal phase");
  f.phase = *phase;
  f.message = getString(j, "message");
  f.live_version = getString(j, "live_version");
  f.at_ms = getI64(j, "at_ms");
  return f;
}

}  // namespace

protocol::Report FinishedOrder::report(const std::string& app) const {
  protocol::Report r;
  r.order_id = order_id;
  r.app = app;
  r.version = version;
  r.sequence = sequence;
  r.phase = phase;
  r.message = message;
  r.live_version = live_version;
  r.at_ms = at_ms;
  return r;
}

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

Status Journal::save() {
  FLOTILLA_TRY(common::atomicWriteFile(file_, serialize(state_), 0600));
  ++saves_;
  return {};
}

std::string Journal::serialize(const JournalState& s) {
  json apps = json::object();
  for (const auto& [name, a] : s.apps) {
    json rel = json::object();
    for (const auto& [v, r] : a.releases)
      rel[v] = {{"digest", r.digest}, {"spec", common::toHex(common::asBytes(r.spec))}};
    apps[name] = {{"current", a.current}, {"previous", a.previous}, {"sequence", a.sequence}, {"releases", rel}};
    if (a.last_order) apps[name]["last_order"] = toJson(*a.last_order);
  }
  json j = {{"version", kJournalVersion}, {"apps", apps}};
  if (s.order) {
    const auto& o = *s.order;
    j["order"] = {{"id", o.order_id},
                  {"app", o.app},
                  {"version", o.version},
                  {"previous", o.previous},
                  {"previous_previous", o.previous_previous},
                  {"action", o.action},
                  {"sequence", o.sequence},
                  {"phase", o.phase},
                  {"digest", o.digest},
                  {"spec", common::toHex(common::asBytes(o.spec))}};
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
            if (!info.is_object())
              return Error(Errc::kCorrupt, "apps." + name + ".releases." + v + " must be an object");
            ReleaseInfo ri;
            ri.digest = getString(info, "digest");
            auto spec = common::fromHex(getString(info, "spec"));
            if (!spec) return Error(Errc::kCorrupt, "apps." + name + ".releases." + v + ".spec: bad hex");
            ri.spec = *spec;
            st.releases[v] = std::move(ri);
          }
        }
        if (auto lo = a.find("last_order"); lo != a.end() && !lo->is_null())
          st.last_order = finishedFromJson(*lo, "apps." + name + ".last_order");
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

OrderLedger::OrderLedger(const JournalState& s) {
  for (const auto& [app, a] : s.apps)
    if (a.last_order) finished_[app] = a.last_order->report(app);
  // recover() settles an order interrupted by a crash and reports it; until
  // then a copy of it is a repeat, not a new order.
  if (s.order) in_hand_[s.order->order_id] = InHand{s.order->app, s.order->sequence, std::nullopt};
}

void OrderLedger::accepted(const protocol::OrderBody& body) {
  in_hand_[body.order_id] = InHand{body.app, body.sequence, std::nullopt};
}

void OrderLedger::reported(const protocol::Report& r) {
  if (protocol::isTerminal(r.phase)) {
    in_hand_.erase(r.order_id);
    finished_[r.app] = r;
    return;
  }
  auto& h = in_hand_[r.order_id];
  h.app = r.app;
  h.sequence = r.sequence;
  h.latest = r;
}

OrderLedger::Repeat OrderLedger::repeatOf(const protocol::OrderBody& body) const {
  if (auto it = in_hand_.find(body.order_id);
      it != in_hand_.end() && it->second.app == body.app && it->second.sequence == body.sequence)
    return {true, it->second.latest};
  if (auto it = finished_.find(body.app);
      it != finished_.end() && it->second.order_id == body.order_id && it->second.sequence == body.sequence)
    return {true, it->second};
  return {};
}

std::vector<protocol::Report> OrderLedger::latestReports() const {
  std::vector<protocol::Report> out;
  for (const auto& [app, r] : finished_) out.push_back(r);
  for (const auto& [id, h] : in_hand_)
    if (h.latest) out.push_back(*h.latest);
  return out;
}

}  // namespace flotilla::agent
