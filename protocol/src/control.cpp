#include "flotilla/protocol/control.h"

#include "reply_fields.h"

#include <algorithm>

namespace flotilla::protocol::control {

namespace {

// "" when absent or not a string: the console may leave optional fields out.
std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json orNull(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

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
  putIfSet(j, "ci_signature", r.ci_signature);
  putIfSet(j, "break_glass", r.break_glass);
  if (r.artifact_size != 0) j["artifact_size"] = r.artifact_size;
}
void from_json(const json& j, RolloutRequest& r) {
  r.artifact_size = j.value("artifact_size", std::uint64_t{0});
  r.plan = text(j, "plan");
  r.plan_name = text(j, "plan_name");
  r.artifact_digest = text(j, "artifact_digest");
  r.release_signature = text(j, "release_signature");
  r.ci_signature = text(j, "ci_signature");
  r.break_glass = text(j, "break_glass");
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

void to_json(json& j, const UploadBeginRequest& r) {
  j = {{"cmd", kUploadBegin}, {"digest", r.digest}, {"size", r.size}};
}
void from_json(const json& j, UploadBeginRequest& r) {
  r.digest = text(j, "digest");
  r.size = j.value("size", std::uint64_t{0});
}

void to_json(json& j, const UploadChunkRequest& r) {
  j = {{"cmd", kUploadChunk}, {"upload_id", r.upload_id}, {"offset", r.offset}};
}
void from_json(const json& j, UploadChunkRequest& r) {
  r.upload_id = text(j, "upload_id");
  r.offset = j.value("offset", std::uint64_t{0});
}

void to_json(json& j, const UploadEndRequest& r) { j = {{"cmd", kUploadEnd}, {"upload_id", r.upload_id}}; }
void from_json(const json& j, UploadEndRequest& r) { r.upload_id = text(j, "upload_id"); }

// ---------------------------------------------------------------- replies

void to_json(json& j, const ErrorReply& r) {
  j = {{"ok", false}, {"error", {{"code", r.code}, {"message", r.message}}}};
  if (!r.leader.empty()) j["error"]["leader"] = r.leader;
}
void from_json(const json& j, ErrorReply& r) {
  auto it = j.find("error");
  const json err = it != j.end() && it->is_object() ? *it : json::object();
  r.code = text(err, "code");
  r.message = text(err, "message");
  r.leader = text(err, "leader");
}

MalformedReply::MalformedReply(std::string field, const std::string& problem)
    : std::runtime_error(field + ": " + problem), field_(std::move(field)) {}

namespace {

using detail::Fields;

Fields strictFields(const json& j) { return Fields(j, "", true); }

void readEvent(const Fields& f, EventDoc& e) {
  e.seq = f.integer("seq");
  e.rollout = f.str("rollout");
  e.at = f.str("at");
  e.kind = f.str("kind");
  e.agent = f.optStr("agent");
  e.wave = f.optInt("wave");
  e.message = f.str("message");
  e.actor = f.optStr("actor");
}

void readWave(const Fields& f, WaveDoc& w) {
  w.index = f.count("index");
  w.hosts = f.count("hosts");
  w.done = f.count("done");
  w.healthy = f.count("healthy");
  w.failed = f.count("failed");
  w.unreachable = f.count("unreachable");
  w.max_failed = f.count("max_failed");
  w.max_unreachable = f.count("max_unreachable");
  w.state = f.str("state");
}

void readHost(const Fields& f, HostDoc& h) {
  h.id = f.str("id");
  h.wave = f.count("wave");
  h.state = f.str("state");
  h.phase = f.str("phase");
  h.previous = f.str("previous");
  h.message = f.str("message");
}

void readStatus(const Fields& f, RolloutStatus& s) {
  s.id = f.str("id");
  s.app = f.str("app");
  s.version = f.str("version");
  s.state = f.str("state");
  s.gate = f.str("gate");
  s.current_wave = f.count("current_wave");
  s.submitted_by = f.str("submitted_by");
  s.submitted_at = f.optStr("submitted_at");
  s.started_at = f.optStr("started_at");
  s.finished_at = f.optStr("finished_at");
  s.message = f.str("message");
  s.waves = f.list<WaveDoc>("waves", readWave);
  s.hosts.reset();
  if (f.has("hosts")) s.hosts = f.list<HostDoc>("hosts", readHost);
  s.analysis.reset();
  if (f.has("analysis")) s.analysis = f.object<AnalysisWaveDoc>("analysis", true, detail::readAnalysisWave);
  s.approvals.reset();
  if (f.has("approvals")) s.approvals = f.object<ApprovalsDoc>("approvals", true, detail::readApprovals);
}

void readAgent(const Fields& f, AgentDoc& a) {
  a.id = f.str("id");
  a.state = f.str("state");
  a.labels = f.textMap("labels");
  a.releases = f.textMap("releases");
  a.health = f.textMap("health");
  a.key = f.str("key");
  a.busy = f.optStr("busy");
  a.last_seen = f.optStr("last_seen");
}

void readHistory(const Fields& f, HistoryEntry& h) {
  h.id = f.str("id");
  h.app = f.str("app");
  h.version = f.str("version");
  h.state = f.str("state");
  h.submitted_by = f.str("submitted_by");
  h.submitted_at = f.optStr("submitted_at");
  h.started_at = f.optStr("started_at");
  h.finished_at = f.optStr("finished_at");
  h.message = f.str("message");
  h.commit = f.str("commit");
  h.committed_at = f.optStr("committed_at");
  h.duration = f.optNumber("duration", true);  // only once finished
}

void readScope(const Fields& f, DoraScopeDoc& s) {
  s.deployment_frequency =
      f.object<DeploymentFrequencyDoc>("deployment_frequency", false, [](const Fields& g, DeploymentFrequencyDoc& d) {
         d.per_day = g.number("per_day");
         d.deployments = g.integer("deployments");
         d.flag_changes = g.has("flag_changes") ? g.integer("flag_changes") : 0;
         d.band = g.str("band");
       }).value_or(DeploymentFrequencyDoc{});
  s.lead_time = f.object<LeadTimeDoc>("lead_time", false, [](const Fields& g, LeadTimeDoc& d) {
                   d.median_seconds = g.optNumber("median_seconds");
                   d.rollouts = g.integer("rollouts");
                   d.from_submission = g.integer("from_submission");
                   d.band = g.str("band");
                 }).value_or(LeadTimeDoc{});
  s.change_failure_rate =
      f.object<ChangeFailureRateDoc>("change_failure_rate", false, [](const Fields& g, ChangeFailureRateDoc& d) {
         d.rate = g.optNumber("rate");
         d.failed = g.integer("failed");
         d.flag_failed = g.has("flag_failed") ? g.integer("flag_failed") : 0;
         d.finished = g.integer("finished");
         d.aborted = g.integer("aborted");
         d.band = g.str("band");
       }).value_or(ChangeFailureRateDoc{});
  s.recovery_time = f.object<RecoveryTimeDoc>("recovery_time", false, [](const Fields& g, RecoveryTimeDoc& d) {
                       d.median_seconds = g.optNumber("median_seconds");
                       d.recoveries = g.integer("recoveries");
                       d.unrecovered = g.integer("unrecovered");
                       d.band = g.str("band");
                     }).value_or(RecoveryTimeDoc{});
  s.rework_rate = f.object<ReworkRateDoc>("rework_rate", false, [](const Fields& g, ReworkRateDoc& d) {
                     d.rate = g.optNumber("rate");
                     d.unplanned = g.integer("unplanned");
                     d.deployments = g.integer("deployments");
                   }).value_or(ReworkRateDoc{});
}

json orNullNumber(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

void to_json(json& j, const EventDoc& e) {
  j = {{"seq", e.seq}, {"rollout", e.rollout}, {"at", e.at}, {"kind", e.kind}, {"message", e.message}};
  j["agent"] = orNull(e.agent);
  j["wave"] = e.wave ? json(*e.wave) : json(nullptr);
  j["actor"] = orNull(e.actor);
}
void from_json(const json& j, EventDoc& e) { readEvent(strictFields(j), e); }

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
void from_json(const json& j, WaveDoc& w) { readWave(strictFields(j), w); }

void to_json(json& j, const HostDoc& h) {
  j = {{"id", h.id},       {"wave", h.wave},         {"state", h.state},
       {"phase", h.phase}, {"previous", h.previous}, {"message", h.message}};
}
void from_json(const json& j, HostDoc& h) { readHost(strictFields(j), h); }

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
  if (s.analysis) j["analysis"] = *s.analysis;
  if (s.approvals) j["approvals"] = *s.approvals;
}
void from_json(const json& j, RolloutStatus& s) { readStatus(strictFields(j), s); }

RolloutStatus storedRolloutStatus(const json& j) {
  RolloutStatus s;
  if (j.is_object()) readStatus(Fields(j, "", false), s);
  return s;
}

void to_json(json& j, const AgentDoc& a) {
  j = {{"id", a.id},         {"state", a.state}, {"labels", a.labels},     {"releases", a.releases},
       {"health", a.health}, {"key", a.key},     {"busy", orNull(a.busy)}, {"last_seen", orNull(a.last_seen)}};
}
void from_json(const json& j, AgentDoc& a) { readAgent(strictFields(j), a); }

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
void from_json(const json& j, HistoryEntry& h) { readHistory(strictFields(j), h); }

void to_json(json& j, const DoraScopeDoc& s) {
  const auto& df = s.deployment_frequency;
  const auto& lt = s.lead_time;
  const auto& cfr = s.change_failure_rate;
  const auto& rt = s.recovery_time;
  const auto& rw = s.rework_rate;
  j = {
      {"deployment_frequency",
       {{"per_day", df.per_day},
        {"deployments", df.deployments},
        {"flag_changes", df.flag_changes},
        {"band", df.band}}},
      {"lead_time",
       {{"median_seconds", orNullNumber(lt.median_seconds)},
        {"rollouts", lt.rollouts},
        {"from_submission", lt.from_submission},
        {"band", lt.band}}},
      {"change_failure_rate",
       {{"rate", orNullNumber(cfr.rate)},
        {"failed", cfr.failed},
        {"flag_failed", cfr.flag_failed},
        {"finished", cfr.finished},
        {"aborted", cfr.aborted},
        {"band", cfr.band}}},
      {"recovery_time",
       {{"median_seconds", orNullNumber(rt.median_seconds)},
        {"recoveries", rt.recoveries},
        {"unrecovered", rt.unrecovered},
        {"band", rt.band}}},
      {"rework_rate", {{"rate", orNullNumber(rw.rate)}, {"unplanned", rw.unplanned}, {"deployments", rw.deployments}}}};
}
void from_json(const json& j, DoraScopeDoc& s) { readScope(strictFields(j), s); }

void to_json(json& j, const AgentsReply& r) { j = {{"ok", true}, {"agents", r.agents}}; }
void from_json(const json& j, AgentsReply& r) { r.agents = strictFields(j).list<AgentDoc>("agents", readAgent); }

void to_json(json& j, const AgentStateReply& r) { j = {{"ok", true}, {"id", r.id}, {"state", r.state}}; }
void from_json(const json& j, AgentStateReply& r) {
  const Fields f = strictFields(j);
  r.id = f.str("id");
  r.state = f.str("state");
}

void to_json(json& j, const RolloutReply& r) { j = {{"ok", true}, {"rollout", r.rollout}}; }
void from_json(const json& j, RolloutReply& r) {
  r.rollout = *strictFields(j).object<RolloutStatus>("rollout", false, readStatus);
}

void to_json(json& j, const RolloutListReply& r) { j = {{"ok", true}, {"rollouts", r.rollouts}}; }
void from_json(const json& j, RolloutListReply& r) {
  r.rollouts = strictFields(j).list<RolloutStatus>("rollouts", readStatus);
}

void to_json(json& j, const HistoryReply& r) { j = {{"ok", true}, {"rollouts", r.rollouts}}; }
void from_json(const json& j, HistoryReply& r) {
  r.rollouts = strictFields(j).list<HistoryEntry>("rollouts", readHistory);
}

void to_json(json& j, const EventsReply& r) { j = {{"ok", true}, {"events", r.events}}; }
void from_json(const json& j, EventsReply& r) { r.events = strictFields(j).list<EventDoc>("events", readEvent); }

void to_json(json& j, const WatchReply& r) {
  j = {{"ok", true}, {"rollout", r.rollout}, {"events", r.events}, {"finished", r.finished}};
}
void from_json(const json& j, WatchReply& r) {
  const Fields f = strictFields(j);
  r.rollout = *f.object<RolloutStatus>("rollout", false, readStatus);
  r.events = f.list<EventDoc>("events", readEvent);
  r.finished = f.boolean("finished");
}

void to_json(json& j, const MetricsReply& r) {
  j = {{"ok", true},
       {"app", orNull(r.app)},
       {"window_days", r.window_days},
       {"window_start", r.window_start},
       {"generated_at", r.generated_at},
       {"fleet", r.fleet ? json(*r.fleet) : json(nullptr)},
       {"apps", json::object()}};
  for (const auto& [app, scope] : r.apps) j["apps"][app] = scope;
}
void from_json(const json& j, MetricsReply& r) {
  const Fields f = strictFields(j);
  r.app = f.optStr("app");
  r.window_days = f.integer("window_days");
  r.window_start = f.str("window_start");
  r.generated_at = f.str("generated_at");
  r.fleet = f.object<DoraScopeDoc>("fleet", true, readScope);
  r.apps = f.objectMap<DoraScopeDoc>("apps", readScope);
}

void to_json(json& j, const UploadBeginReply& r) {
  if (r.stored)
    j = {{"ok", true}, {"stored", true}};
  else
    j = {{"ok", true}, {"upload_id", r.upload_id}, {"chunk_bytes", r.chunk_bytes}, {"credit", r.credit}};
}
void from_json(const json& j, UploadBeginReply& r) {
  const Fields f = strictFields(j);
  r.stored = f.has("stored") && f.boolean("stored");
  if (r.stored) return;
  r.upload_id = f.str("upload_id");
  r.chunk_bytes = f.count("chunk_bytes");
  r.credit = static_cast<std::uint32_t>(std::min<std::uint64_t>(f.count("credit"), UINT32_MAX));
}

void to_json(json& j, const UploadChunkReply& r) { j = {{"ok", true}, {"received", r.received}}; }
void from_json(const json& j, UploadChunkReply& r) { r.received = strictFields(j).count("received"); }

void to_json(json& j, const UploadEndReply& r) { j = {{"ok", true}, {"digest", r.digest}, {"size", r.size}}; }
void from_json(const json& j, UploadEndReply& r) {
  const Fields f = strictFields(j);
  r.digest = f.str("digest");
  r.size = f.count("size");
}

}  // namespace flotilla::protocol::control
