#include "flotilla/protocol/control.h"

#include <algorithm>

namespace flotilla::protocol::control {

namespace {

// "" when absent or not a string: the console may leave optional fields out.
std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json orNull(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

std::optional<std::string> optText(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::size_t count(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::size_t>() : 0;
}

void putIfSet(json& j, const char* key, const std::string& v) {
  if (!v.empty()) j[key] = v;
}

}  // namespace

bool isTerminalRolloutState(std::string_view state) {
  return std::find(kTerminalRolloutStates.begin(), kTerminalRolloutStates.end(), state) != kTerminalRolloutStates.end();
}

// ---------------------------------------------------------------- requests

void to_json(json& j, const AgentsRequest&) { j = {{"cmd", kAgents}}; }

void to_json(json& j, const AgentActionRequest& r) { j = {{"cmd", r.cmd}, {"id", r.id}}; }
void from_json(const json& j, AgentActionRequest& r) {
  r.cmd = text(j, "cmd");
  r.id = text(j, "id");
}

void to_json(json& j, const RolloutRequest& r) {
  j = {{"cmd", kRollout}, {"plan", r.plan}, {"plan_name", r.plan_name}, {"artifact_digest", r.artifact_digest}};
  putIfSet(j, "release_signature", r.release_signature);
}
void from_json(const json& j, RolloutRequest& r) {
  r.plan = text(j, "plan");
  r.plan_name = text(j, "plan_name");
  r.artifact_digest = text(j, "artifact_digest");
  r.release_signature = text(j, "release_signature");
}

void to_json(json& j, const StatusRequest& r) {
  j = {{"cmd", kStatus}, {"hosts", r.hosts}};
  putIfSet(j, "rollout", r.rollout);
}
void from_json(const json& j, StatusRequest& r) {
  r.rollout = text(j, "rollout");
  r.hosts = j.value("hosts", false);
}

void to_json(json& j, const RolloutActionRequest& r) { j = {{"cmd", r.cmd}, {"rollout", r.rollout}}; }
void from_json(const json& j, RolloutActionRequest& r) {
  r.cmd = text(j, "cmd");
  r.rollout = text(j, "rollout");
}

void to_json(json& j, const RollbackRequest& r) {
  j = {{"cmd", kRollback}, {"app", r.app}};
  putIfSet(j, "to", r.to);
}
void from_json(const json& j, RollbackRequest& r) {
  r.app = text(j, "app");
  r.to = text(j, "to");
}

void to_json(json& j, const HistoryRequest& r) {
  j = {{"cmd", kHistory}, {"limit", r.limit}};
  putIfSet(j, "app", r.app);
}
void from_json(const json& j, HistoryRequest& r) {
  r.app = text(j, "app");
  r.limit = j.value("limit", std::int64_t{50});
}

void to_json(json& j, const EventsRequest& r) { j = {{"cmd", kEvents}, {"rollout", r.rollout}, {"after", r.after}}; }
void from_json(const json& j, EventsRequest& r) {
  r.rollout = text(j, "rollout");
  r.after = j.value("after", std::int64_t{0});
}

void to_json(json& j, const WatchRequest& r) { j = {{"cmd", kWatch}, {"rollout", r.rollout}, {"after", r.after}}; }
void from_json(const json& j, WatchRequest& r) {
  r.rollout = text(j, "rollout");
  r.after = j.value("after", std::int64_t{0});
}

void to_json(json& j, const MetricsRequest& r) {
  j = {{"cmd", kMetrics}, {"days", r.days}};
  putIfSet(j, "app", r.app);
}
void from_json(const json& j, MetricsRequest& r) {
  r.app = text(j, "app");
  r.days = j.value("days", std::int64_t{30});
}

// ---------------------------------------------------------------- replies

void to_json(json& j, const ErrorReply& r) {
  j = {{"ok", false}, {"error", {{"code", r.code}, {"message", r.message}}}};
}
void from_json(const json& j, ErrorReply& r) {
  auto it = j.find("error");
  const json err = it != j.end() && it->is_object() ? *it : json::object();
  r.code = text(err, "code");
  r.message = text(err, "message");
}

void to_json(json& j, const EventDoc& e) {
  j = {{"seq", e.seq}, {"rollout", e.rollout}, {"at", e.at}, {"kind", e.kind}, {"message", e.message}};
  j["agent"] = orNull(e.agent);
  j["wave"] = e.wave ? json(*e.wave) : json(nullptr);
  j["actor"] = orNull(e.actor);
}
void from_json(const json& j, EventDoc& e) {
  e.seq = j.value("seq", std::int64_t{0});
  e.rollout = text(j, "rollout");
  e.at = text(j, "at");
  e.kind = text(j, "kind");
  e.agent = optText(j, "agent");
  auto w = j.find("wave");
  e.wave = w != j.end() && w->is_number_integer() ? std::optional<int>(w->get<int>()) : std::nullopt;
  e.message = text(j, "message");
  e.actor = optText(j, "actor");
}

void to_json(json& j, const WaveDoc& w) {
  j = {{"index", w.index},
       {"hosts", w.hosts},
       {"done", w.done},
       {"healthy", w.healthy},
       {"failed", w.failed},
       {"unreachable", w.unreachable},
       {"max_failed", w.max_failed},
       {"max_unreachable", w.max_unreachable},
       {"state", w.state}};
}
void from_json(const json& j, WaveDoc& w) {
  w.index = count(j, "index");
  w.hosts = count(j, "hosts");
  w.done = count(j, "done");
  w.healthy = count(j, "healthy");
  w.failed = count(j, "failed");
  w.unreachable = count(j, "unreachable");
  w.max_failed = count(j, "max_failed");
  w.max_unreachable = count(j, "max_unreachable");
  w.state = text(j, "state");
}

void to_json(json& j, const HostDoc& h) {
  j = {{"id", h.id},       {"wave", h.wave},         {"state", h.state},
       {"phase", h.phase}, {"previous", h.previous}, {"message", h.message}};
}
void from_json(const json& j, HostDoc& h) {
  h.id = text(j, "id");
  h.wave = count(j, "wave");
  h.state = text(j, "state");
  h.phase = text(j, "phase");
  h.previous = text(j, "previous");
  h.message = text(j, "message");
}

void to_json(json& j, const RolloutStatus& s) {
  j = {{"id", s.id},
       {"app", s.app},
       {"version", s.version},
       {"state", s.state},
       {"gate", s.gate},
       {"current_wave", s.current_wave},
       {"submitted_by", s.submitted_by},
       {"submitted_at", orNull(s.submitted_at)},
       {"started_at", orNull(s.started_at)},
       {"finished_at", orNull(s.finished_at)},
       {"message", s.message},
       {"waves", s.waves}};
  if (s.hosts) j["hosts"] = *s.hosts;
}
void from_json(const json& j, RolloutStatus& s) {
  s.id = text(j, "id");
  s.app = text(j, "app");
  s.version = text(j, "version");
  s.state = text(j, "state");
  s.gate = text(j, "gate");
  s.current_wave = count(j, "current_wave");
  s.submitted_by = text(j, "submitted_by");
  s.submitted_at = optText(j, "submitted_at");
  s.started_at = optText(j, "started_at");
  s.finished_at = optText(j, "finished_at");
  s.message = text(j, "message");
  s.waves.clear();
  if (auto w = j.find("waves"); w != j.end() && w->is_array())
    for (const auto& x : *w) s.waves.push_back(x.is_object() ? x.get<WaveDoc>() : WaveDoc{});
  s.hosts.reset();
  if (auto h = j.find("hosts"); h != j.end() && h->is_array()) {
    s.hosts.emplace();
    for (const auto& x : *h) s.hosts->push_back(x.is_object() ? x.get<HostDoc>() : HostDoc{});
  }
}

void to_json(json& j, const AgentDoc& a) {
  j = {{"id", a.id},         {"state", a.state}, {"labels", a.labels},     {"releases", a.releases},
       {"health", a.health}, {"key", a.key},     {"busy", orNull(a.busy)}, {"last_seen", orNull(a.last_seen)}};
}

void to_json(json& j, const HistoryEntry& h) {
  j = {{"id", h.id},
       {"app", h.app},
       {"version", h.version},
       {"state", h.state},
       {"submitted_by", h.submitted_by},
       {"submitted_at", orNull(h.submitted_at)},
       {"started_at", orNull(h.started_at)},
       {"finished_at", orNull(h.finished_at)},
       {"message", h.message},
       {"commit", h.commit},
       {"committed_at", orNull(h.committed_at)}};
  if (h.duration) j["duration"] = *h.duration;
}

void to_json(json& j, const AgentsReply& r) { j = {{"ok", true}, {"agents", r.agents}}; }
void to_json(json& j, const AgentStateReply& r) { j = {{"ok", true}, {"id", r.id}, {"state", r.state}}; }
void to_json(json& j, const RolloutReply& r) { j = {{"ok", true}, {"rollout", r.rollout}}; }
void to_json(json& j, const RolloutListReply& r) { j = {{"ok", true}, {"rollouts", r.rollouts}}; }
void to_json(json& j, const HistoryReply& r) { j = {{"ok", true}, {"rollouts", r.rollouts}}; }
void to_json(json& j, const EventsReply& r) { j = {{"ok", true}, {"events", r.events}}; }
void to_json(json& j, const WatchReply& r) {
  j = {{"ok", true}, {"rollout", r.rollout}, {"events", r.events}, {"finished", r.finished}};
}

}  // namespace flotilla::protocol::control
