// The control protocol: JSON requests from the console, handled on the
// reactor thread (docs/protocol.md lists every command and field).
#include <spdlog/spdlog.h>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/server.h"

namespace flotilla::coordinator {

using nlohmann::json;

namespace {

json errorJson(Errc code, const std::string& message) {
  return {{"ok", false}, {"error", {{"code", errcName(code)}, {"message", message}}}};
}
json errorJson(const Error& e) { return errorJson(e.code, e.message); }

std::string rfc3339Ms(std::int64_t ms) {
  return ms > 0 ? common::formatRfc3339(common::fromUnixMillis(ms)) : std::string();
}

json timeOrNull(std::int64_t ms) { return ms > 0 ? json(rfc3339Ms(ms)) : json(nullptr); }

std::string str(const json& req, const char* key) {
  auto it = req.find(key);
  return it != req.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json historyEntry(const RolloutRecord& r) {
  json j = {{"id", r.id},
            {"app", r.app},
            {"version", r.version},
            {"state", r.state},
            {"submitted_by", r.submitted_by},
            {"submitted_at", timeOrNull(r.submitted_at_ms)},
            {"started_at", timeOrNull(r.started_at_ms)},
            {"finished_at", timeOrNull(r.finished_at_ms)},
            {"message", r.message},
            {"commit", r.commit},
            {"committed_at", r.committed_at_ms ? timeOrNull(*r.committed_at_ms) : json(nullptr)}};
  if (r.finished_at_ms > 0 && r.submitted_at_ms > 0)
    j["duration"] = static_cast<double>(r.finished_at_ms - r.submitted_at_ms) / 1000.0;
  return j;
}

}  // namespace

json Server::eventJson(const EventRecord& e) const {
  json j = {
      {"seq", e.seq}, {"rollout", e.rollout_id}, {"at", rfc3339Ms(e.at_ms)}, {"kind", e.kind}, {"message", e.message}};
  j["agent"] = e.agent_id.empty() ? json(nullptr) : json(e.agent_id);
  j["wave"] = e.wave >= 0 ? json(e.wave) : json(nullptr);
  j["actor"] = e.actor.empty() ? json(nullptr) : json(e.actor);
  return j;
}

json Server::statusJson(const ActiveRollout& r, bool with_hosts) const {
  const auto& eng = *r.engine;
  json waves = json::array();
  for (const auto& w : eng.waves()) {
    waves.push_back({{"index", w.index},
                     {"hosts", w.size()},
                     {"done", w.done()},
                     {"healthy", w.healthy},
                     {"failed", w.failed},
                     {"unreachable", w.unreachable},
                     {"max_failed", w.max_failed},
                     {"max_unreachable", w.max_unreachable},
                     {"state", toString(w.state)}});
  }
  json j = {{"id", r.record.id},
            {"app", r.plan.app},
            {"version", r.plan.version},
            {"state", toString(eng.state())},
            {"gate", eng.gate(clock_.steadyNow())},
            {"current_wave", eng.currentWave()},
            {"submitted_by", r.record.submitted_by},
            {"submitted_at", timeOrNull(r.record.submitted_at_ms)},
            {"started_at", timeOrNull(r.record.started_at_ms)},
            {"finished_at", timeOrNull(r.record.finished_at_ms)},
            {"message", eng.finalMessage()},
            {"waves", waves}};
  if (with_hosts) {
    json hosts = json::array();
    for (const auto& h : eng.hosts()) {
      hosts.push_back({{"id", h.agent_id},
                       {"wave", h.wave},
                       {"state", toString(h.state)},
                       {"phase", h.phase},
                       {"previous", h.previous_version},
                       {"message", h.message}});
    }
    j["hosts"] = hosts;
  }
  return j;
}

json Server::dispatchControl(const std::string& rid, const json& req) {
  const std::string cmd = req["cmd"].get<std::string>();
  std::string actor = str(req, "operator");
  const std::string peer = str(req, "_peer");
  if (actor.empty()) actor = "unknown";
  actor = peer.rfind("operator:", 0) == 0 ? peer + " (" + actor + ")" : actor + " (local)";
  if (cmd == "agents") return cmdAgents();
  if (cmd == "agent_accept" || cmd == "agent_reject" || cmd == "agent_revoke") return cmdAgentState(req, actor);
  if (cmd == "rollout") return cmdRollout(req, actor);
  if (cmd == "status") return cmdStatus(req);
  if (cmd == "pause" || cmd == "resume" || cmd == "promote" || cmd == "abort") return cmdOperator(cmd, req, actor);
  if (cmd == "rollback") return cmdRollback(req, actor);
  if (cmd == "history") return cmdHistory(req);
  if (cmd == "events") return cmdEvents(req);
  if (cmd == "watch") return cmdWatch(rid, req);
  if (cmd == "ping") return {{"ok", true}};
  return errorJson(Errc::kInvalidArgument, "unknown command '" + cmd + "'");
}

json Server::cmdAgents() {
  std::vector<const Agent*> sorted;
  sorted.reserve(agents_.size());
  for (const auto& [id, a] : agents_) sorted.push_back(&a);
  std::sort(sorted.begin(), sorted.end(), [](const Agent* x, const Agent* y) { return x->record.id < y->record.id; });
  json list = json::array();
  for (const Agent* a : sorted) {
    std::string state = a->record.state;
    if (state == "accepted") state = a->online ? "online" : "lost";
    list.push_back({{"id", a->record.id},
                    {"state", state},
                    {"labels", a->record.labels},
                    {"releases", a->record.releases},
                    {"health", a->health},
                    {"key", a->record.curve_key.substr(0, 16)},
                    {"busy", a->busy.empty() ? json(nullptr) : json(a->busy)},
                    {"last_seen", timeOrNull(a->record.last_seen_ms)}});
  }
  return {{"ok", true}, {"agents", list}};
}

json Server::cmdAgentState(const json& req, const std::string& actor) {
  const std::string cmd = req["cmd"].get<std::string>();
  const std::string id = str(req, "id");
  auto it = agents_.find(id);
  if (it == agents_.end()) return errorJson(Errc::kNotFound, "no agent '" + id + "'");
  Agent& a = it->second;
  const std::string to = cmd == "agent_accept" ? "accepted" : cmd == "agent_reject" ? "rejected" : "revoked";
  if (cmd == "agent_accept" && a.record.state != "pending")
    return errorJson(Errc::kConflict, "agent '" + id + "' is " + a.record.state + ", not pending");
  if (cmd == "agent_reject" && a.record.state != "pending")
    return errorJson(Errc::kConflict,
                     "agent '" + id + "' is " + a.record.state + "; only pending agents can be rejected (use revoke)");
  a.record.state = to;
  if (to != "accepted") {
    denied_keys_.insert(a.record.curve_key);
    // Cut it off: it is no longer routable and every later message is refused.
    if (!a.routing_id.empty()) routing_.erase(a.routing_id);
    a.routing_id.clear();
    if (a.online) markLost(a, "revoked by " + actor, clock_.steadyNow());
    a.online = false;
  }
  if (auto st = store_->upsertAgent(a.record); !st.ok()) return errorJson(st.error());
  spdlog::info("agent {} {} by {}", id, to, actor);
  return {{"ok", true}, {"id", id}, {"state", to}};
}

Result<std::string> Server::startRollout(protocol::Plan plan, const std::string& plan_text,
                                         const std::string& plan_name, const std::string& digest, std::uint64_t size,
                                         const std::string& actor, const std::string& kind,
                                         const std::string& release_signature) {
  if (!store_error_.empty())
    return Error(Errc::kUnavailable, "the coordinator's store is failing (" + store_error_ +
                                         "); no new rollout starts until it is writable again");
  if (active_by_app_.count(plan.app))
    return Error(Errc::kConflict, "rollout " + active_by_app_.at(plan.app) + " of app '" + plan.app +
                                      "' is still active; one active rollout per app (abort or wait for it)");
  std::vector<std::string> targets;
  std::map<std::string, std::string> previous;
  for (const auto& [id, a] : agents_) {
    if (a.record.state != "accepted" || !labelsMatch(plan.target_labels, a.record.labels)) continue;
    targets.push_back(id);
    if (auto r = a.record.releases.find(plan.app); r != a.record.releases.end()) previous[id] = r->second;
  }
  if (targets.empty()) {
    std::string labels;
    for (const auto& [k, v] : plan.target_labels) labels += (labels.empty() ? "" : ", ") + k + "=" + v;
    return Error(Errc::kInvalidArgument, plan_name + ": target.labels: no accepted agent matches {" + labels + "}");
  }
  auto count = store_->countRollouts(plan.app);
  if (!count) return count.error();
  const std::string id = plan.app + "-" + std::to_string(*count + 1);

  protocol::OrderSpec spec{plan.deploy, plan.health};
  auto spec_bytes = protocol::encodeSpec(spec);
  ReleaseRecord rel{plan.app, plan.version, digest, size, spec_bytes, plan_text, release_signature};
  FLOTILLA_TRY(store_->putRelease(rel));

  auto ar = std::make_unique<ActiveRollout>();
  const auto now_ms = common::toUnixMillis(clock_.systemNow());
  ar->record.id = id;
  ar->record.app = plan.app;
  ar->record.version = plan.version;
  ar->record.plan_name = plan_name;
  ar->record.artifact_digest = digest;
  ar->record.submitted_by = actor;
  ar->record.submitted_at_ms = now_ms;
  ar->record.started_at_ms = now_ms;
  ar->record.message = kind;
  if (plan.change) {
    ar->record.commit = plan.change->commit;
    if (plan.change->committed_at) ar->record.committed_at_ms = common::toUnixMillis(*plan.change->committed_at);
  }
  ar->spec = std::make_shared<const std::string>(std::move(spec_bytes));
  ar->artifact_digest = digest;
  ar->artifact_size = size;
  ar->release_signature = release_signature;
  ar->kind = kind;
  ar->plan_text = plan_text;
  ar->record.plan_text = plan_text;
  Rollout::Config cfg{id, plan.app, plan.version, plan.waves,
                      std::max(plan.waves.deadline, common::Millis(std::chrono::minutes(2)))};
  ar->engine = std::make_unique<Rollout>(cfg, orderHosts(id, targets), previous);
  ar->plan = std::move(plan);
  ar->record.state = toString(ar->engine->state());
  ar->record.snapshot = statusJson(*ar, false).dump();
  FLOTILLA_TRY(store_->insertRollout(ar->record));
  auto& r = *ar;
  rollouts_.emplace(id, std::move(ar));
  active_by_app_[r.plan.app] = id;
  recordEvent(r, "submitted", "", -1,
              kind + " of " + r.plan.app + " " + r.plan.version + " to " + std::to_string(targets.size()) +
                  " hosts from " + plan_name,
              actor);
  persistRollout(r);
  // The rollout is durable before any order leaves: if the store cannot take
  // it, nothing has happened and the operator is told why.
  if (auto st = store_->commit(); !st.ok() || write_failed_) {
    active_by_app_.erase(r.plan.app);
    rollouts_.erase(id);
    Error e = st.ok() ? Error(Errc::kIo, store_error_) : st.error();
    storeFailed(e);
    (void)store_->begin();
    return Error(Errc::kUnavailable, "the coordinator's store is failing (" + e.message + "); rollout not started");
  }
  if (auto st = store_->begin(); !st.ok()) storeFailed(st.error());
  r.engine->start(clock_.steadyNow());
  applyActions(r, clock_.steadyNow());
  persistRollout(r);
  return id;
}

json Server::cmdRollout(const json& req, const std::string& actor) {
  const std::string text = str(req, "plan");
  std::string name = str(req, "plan_name");
  if (name.empty()) name = "plan.toml";
  auto plan = protocol::parsePlan(text, name, "");
  if (!plan) return errorJson(plan.error());
  // The artifact came before, by upload_begin/upload_chunk/upload_end.
  const std::string digest = str(req, "artifact_digest");
  auto size = background_->storedArtifact(digest);
  if (!size) return errorJson(size.error().context(name + ": artifact.file"));
  const std::string release_sig = str(req, "release_signature");
  if (!release_sig.empty() &&
      (release_sig.size() != 128 || release_sig.find_first_not_of("0123456789abcdef") != std::string::npos))
    return errorJson(Errc::kInvalidArgument,
                     name + ": artifact.signature: not a release signature (128 hex characters)");
  auto id = startRollout(std::move(*plan), text, name, digest, *size, actor, "rollout", release_sig);
  if (!id) return errorJson(id.error());
  return {{"ok", true}, {"rollout", statusJson(*rollouts_.at(*id), false)}};
}

json Server::cmdStatus(const json& req) {
  const std::string id = str(req, "rollout");
  const bool hosts = req.value("hosts", false);
  if (id.empty()) {
    json list = json::array();
    for (const auto& [rid, r] : rollouts_) list.push_back(statusJson(*r, hosts));
    return {{"ok", true}, {"rollouts", list}};
  }
  if (auto* r = findRollout(id)) {
    json j = statusJson(*r, hosts);
    return {{"ok", true}, {"rollout", j}};
  }
  auto rec = store_->rollout(id);
  if (!rec) return errorJson(rec.error());
  if (!rec->has_value()) return errorJson(Errc::kNotFound, "no rollout '" + id + "'");
  json snap = json::parse((*rec)->snapshot, nullptr, false);
  if (!snap.is_object()) snap = json::object();
  snap["id"] = (*rec)->id;
  snap["state"] = (*rec)->state;
  snap["finished_at"] = timeOrNull((*rec)->finished_at_ms);
  snap["message"] = (*rec)->message;
  snap["gate"] = "";
  return {{"ok", true}, {"rollout", snap}};
}

json Server::cmdOperator(const std::string& cmd, const json& req, const std::string& actor) {
  const std::string id = str(req, "rollout");
  ActiveRollout* r = findRollout(id);
  if (!r) {
    auto rec = store_->rollout(id);
    if (rec.ok() && rec->has_value())
      return errorJson(Errc::kConflict, "rollout '" + id + "' is " + (*rec)->state + "; it can no longer be changed");
    return errorJson(Errc::kNotFound, "no rollout '" + id + "'");
  }
  const auto now = clock_.steadyNow();
  Status st;
  if (cmd == "pause")
    st = r->engine->pause(now);
  else if (cmd == "resume")
    st = r->engine->resume(now);
  else if (cmd == "promote")
    st = r->engine->promote(now);
  else
    st = r->engine->abort(now);
  if (!st.ok()) return errorJson(st.error());
  recordEvent(*r, "operator_" + cmd, "", -1, cmd + " by " + actor, actor);
  applyActions(*r, now);
  persistRollout(*r);
  return {{"ok", true}, {"rollout", statusJson(*r, false)}};
}

json Server::cmdRollback(const json& req, const std::string& actor) {
  const std::string app = str(req, "app");
  const std::string to = str(req, "to");
  if (!protocol::validAppName(app)) return errorJson(Errc::kInvalidArgument, "invalid app name '" + app + "'");
  if (auto it = active_by_app_.find(app); it != active_by_app_.end()) {
    if (!to.empty())
      return errorJson(Errc::kConflict, "rollout " + it->second + " is active; --to applies only when no rollout of " +
                                            app + " is active");
    auto* r = findRollout(it->second);
    auto st = r->engine->rollback(clock_.steadyNow());
    if (!st.ok()) return errorJson(st.error());
    recordEvent(*r, "operator_rollback", "", -1, "rollback by " + actor, actor);
    applyActions(*r, clock_.steadyNow());
    persistRollout(*r);
    return {{"ok", true}, {"rollout", statusJson(*r, false)}};
  }
  // No active rollout: roll the app to an earlier release as a new rollout.
  auto current = store_->currentReleases();
  if (!current) return errorJson(current.error());
  std::string cur = current->count(app) ? current->at(app) : "";
  std::string target = to;
  if (target.empty()) {
    auto hist = store_->rollouts(app, 1000);
    if (!hist) return errorJson(hist.error());
    bool seen_current = false;
    for (const auto& r : *hist) {
      if (r.state != "succeeded") continue;
      if (!seen_current && r.version == cur) {
        seen_current = true;
        continue;
      }
      if (seen_current && r.version != cur) {
        target = r.version;
        break;
      }
    }
    if (target.empty())
      return errorJson(Errc::kNotFound, "app '" + app + "' has no earlier successful release to roll back to");
  }
  auto rel = store_->release(app, target);
  if (!rel) return errorJson(rel.error());
  if (!rel->has_value())
    return errorJson(Errc::kNotFound, "no release " + target + " of app '" + app + "' is known to the coordinator");
  auto plan = protocol::parsePlan((*rel)->plan_text, app + "@" + target, "");
  if (!plan) return errorJson(plan.error());
  plan->waves = rollbackPolicy(plan->waves);
  plan->change.reset();
  auto id = startRollout(std::move(*plan), (*rel)->plan_text, app + "@" + target, (*rel)->artifact_digest,
                         (*rel)->artifact_size, actor, "rollback", (*rel)->release_signature);
  if (!id) return errorJson(id.error());
  return {{"ok", true}, {"rollout", statusJson(*rollouts_.at(*id), false)}};
}

json Server::cmdHistory(const json& req) {
  const std::string app = str(req, "app");
  std::size_t limit = req.value("limit", 50);
  auto list = store_->rollouts(app, limit);
  if (!list) return errorJson(list.error());
  json out = json::array();
  for (const auto& r : *list) {
    json j = historyEntry(r);
    if (auto* active = findRollout(r.id)) j["state"] = toString(active->engine->state());
    out.push_back(j);
  }
  return {{"ok", true}, {"rollouts", out}};
}

json Server::cmdEvents(const json& req) {
  const std::string id = str(req, "rollout");
  auto rec = store_->rollout(id);
  if (!rec) return errorJson(rec.error());
  if (!rec->has_value()) return errorJson(Errc::kNotFound, "no rollout '" + id + "'");
  auto events = store_->events(id, req.value("after", std::int64_t{0}));
  if (!events) return errorJson(events.error());
  json out = json::array();
  for (const auto& e : *events) out.push_back(eventJson(e));
  return {{"ok", true}, {"events", out}};
}

json Server::cmdWatch(const std::string& rid, const json& req) {
  json resp = cmdStatus(req);
  if (!resp.value("ok", false)) return resp;
  auto events = cmdEvents(req);
  resp["events"] = events.value("events", json::array());
  if (auto* r = findRollout(str(req, "rollout"))) {
    r->watchers.insert(rid);
    resp["finished"] = false;
  } else {
    resp["finished"] = true;
  }
  return resp;
}

}  // namespace flotilla::coordinator
