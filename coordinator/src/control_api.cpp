#include "flotilla/coordinator/control_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/control_docs.h"
#include "flotilla/coordinator/flag_rollouts.h"
#include "flotilla/protocol/control.h"
#include "flotilla/protocol/control_flags.h"
#include "flotilla/protocol/flag_app.h"

namespace flotilla::coordinator {

using nlohmann::json;
namespace control = protocol::control;

namespace {

json errorJson(Errc code, const std::string& message) { return control::ErrorReply{errcName(code), message}; }
json errorJson(const Error& e) { return errorJson(e.code, e.message); }

std::string text(const json& req, const char* key) {
  auto it = req.find(key);
  return it != req.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Who acts, for people: the identity the control socket authenticated
// (operator_identity.h), with the name the console gives in brackets; that
// name is only a label, never what a gate decides on.
std::string actorOf(const json& req) {
  const std::string claimed = text(req, "operator");
  const std::string peer = text(req, "_peer");
  if (peer.empty()) return (claimed.empty() ? std::string("unknown") : claimed) + " (local)";
  return claimed.empty() ? peer : peer + " (" + claimed + ")";
}

}  // namespace

ControlApi::ControlApi(ControlContext& ctx, ProvenanceGate provenance)
    : ctx_(ctx), provenance_(std::move(provenance)), flags_(std::make_unique<FlagRollouts>(ctx)) {
  handlers_ = {
      {control::kAgents, &ControlApi::agents},
      {control::kAgentAccept, &ControlApi::agentAction},
      {control::kAgentReject, &ControlApi::agentAction},
      {control::kAgentRevoke, &ControlApi::agentAction},
      {control::kRollout, &ControlApi::rollout},
      {control::kStatus, &ControlApi::status},
      {control::kPause, &ControlApi::rolloutAction},
      {control::kResume, &ControlApi::rolloutAction},
      {control::kPromote, &ControlApi::rolloutAction},
      {control::kAbort, &ControlApi::rolloutAction},
      {control::kRollback, &ControlApi::rollback},
      {control::kHistory, &ControlApi::history},
      {control::kEvents, &ControlApi::events},
      {control::kWatch, &ControlApi::watch},
      {control::kPing, &ControlApi::ping},
      {control::kAnalysis, &ControlApi::analysis},
      {control::kPolicy, &ControlApi::policy},
      {control::kApprove, &ControlApi::approve},
      {control::kFlagsPush, &ControlApi::flagsPush},
      {control::kFlagsKill, &ControlApi::flagsKill},
      {control::kFlagsShow, &ControlApi::flagsShow},
      {control::kFlagsHistory, &ControlApi::flagsHistory},
  };
}

ControlApi::~ControlApi() = default;

json ControlApi::handle(const std::string& routing_id, const json& req) {
  if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string())
    return errorJson(Errc::kInvalidArgument, "request must be a JSON object with \"cmd\"");
  const std::string cmd = req["cmd"].get<std::string>();
  auto it = handlers_.find(cmd);
  if (it == handlers_.end()) return errorJson(Errc::kInvalidArgument, "unknown command '" + cmd + "'");
  const std::string actor = actorOf(req);
  const std::string identity = text(req, "_peer");
  try {
    return (this->*(it->second))(Call{routing_id, req, actor, identity});
  } catch (const json::exception& e) {
    // A field of the wrong type (protocol/control.h's from_json).
    return errorJson(Errc::kInvalidArgument, std::string("bad request: ") + e.what());
  }
}

json ControlApi::ping(const Call&) { return {{"ok", true}}; }

json ControlApi::agents(const Call&) {
  control::AgentsReply reply;
  for (const Agent* a : ctx_.agents().sorted()) reply.agents.push_back(agentDoc(*a));
  return reply;
}

json ControlApi::agentAction(const Call& c) {
  const auto r = c.req.get<control::AgentActionRequest>();
  const AgentState to = r.cmd == control::kAgentAccept   ? AgentState::kAccepted
                        : r.cmd == control::kAgentReject ? AgentState::kRejected
                                                         : AgentState::kRevoked;
  auto decided = ctx_.agents().decide(r.id, to);
  if (!decided) return errorJson(decided.error());
  Agent& a = **decided;
  if (to != AgentState::kAccepted) {
    if (a.online) ctx_.cutOff(a, "revoked by " + c.actor);
    a.online = false;
  }
  if (auto st = ctx_.store().upsertAgent(a.record); !st.ok()) return errorJson(st.error());
  spdlog::info("agent {} {} by {}", r.id, toString(to), c.actor);
  return control::AgentStateReply{r.id, toString(to)};
}

json ControlApi::rollout(const Call& c) {
  auto r = c.req.get<control::RolloutRequest>();
  const std::string name = r.plan_name.empty() ? "plan.toml" : r.plan_name;
  auto plan = protocol::parsePlan(r.plan, name, "");
  if (!plan) return errorJson(plan.error());
  // Flag sets are checked and planned by the coordinator itself (flag_rollouts.h).
  if (protocol::flaggedApp(plan->app))
    return errorJson(Errc::kInvalidArgument, name + ": app: \"" + plan->app +
                                                 "\" is a flag app; flag sets roll out with `flotilla flags push`");
  auto size = artifactLength(*plan, name, r);
  if (!size) return errorJson(size.error());
  const std::string& sig = r.release_signature;
  if (!sig.empty() && (sig.size() != 128 || sig.find_first_not_of("0123456789abcdef") != std::string::npos))
    return errorJson(Errc::kInvalidArgument,
                     name + ": artifact.signature: not a release signature (128 hex characters)");
  RolloutStart start{std::move(*plan), r.plan, name, r.artifact_digest, *size, c.actor, "rollout", sig, std::nullopt};
  if (auto st = provenance_.check(start.plan, name, r.artifact_digest, *size, r.ci_signature); !st.ok())
    return refuse(start, st.error());
  return admitAndStart(std::move(start), c, r.break_glass);
}

// The artifact came before, by upload_begin/upload_chunk/upload_end; or an
// HTTP store serves it (artifact.url) and the coordinator never holds the
// bytes: the plan names digest and length, or the console computed them from
// its local copy and sent them. Returns the length; r.artifact_digest is the hex digest.
Result<std::uint64_t> ControlApi::artifactLength(const protocol::Plan& plan, const std::string& name,
                                                 control::RolloutRequest& r) {
  if (plan.artifact_url.empty()) {
    auto size = ctx_.storedArtifact(r.artifact_digest);
    if (!size) return size.error().context(name + ": artifact.file");
    return size;
  }
  if (plan.artifact_digest) {
    r.artifact_digest = plan.artifact_digest->hex;
    return plan.artifact_length;
  }
  if (!protocol::isHexDigest(r.artifact_digest) || r.artifact_size == 0)
    return Error(Errc::kInvalidArgument, name +
                                             ": artifact.url: with artifact.file the console sends the local "
                                             "copy's BLAKE2b-256 and length; this request has none");
  return r.artifact_size;
}

// A gate's refusal is recorded as a rollout that ended "refused", its
// decision an event, like every other decision of a gate.
json ControlApi::refuse(const RolloutStart& start, const Error& e) {
  spdlog::warn("rollout of {} by {} refused: {}", start.plan_name, start.actor, e.message);
  if (e.code != Errc::kPolicyDenied) return errorJson(e);
  auto id = ctx_.recordRefusal(start, e);
  if (!id) {
    spdlog::error("the refusal of {} could not be recorded: {}", start.plan_name, id.error().message);
    return errorJson(e);
  }
  return errorJson(e.code, e.message + " (recorded as rollout " + *id + ")");
}

json ControlApi::admitAndStart(RolloutStart start, const Call& c, const std::string& break_glass) {
  // Policy gates (docs/policy.md): refused now, waiting for approvals, or
  // past closed gates by break-glass.
  const auto now = common::fromUnixMillis(ctx_.nowMs());
  auto admitted = ctx_.policyGates().admit(start.plan, now, c.identity, break_glass);
  if (!admitted) return refuse(start, admitted.error());
  const protocol::Plan gated = start.plan;
  // A break-glass start says so wherever the rollout's submitter shows (status, history).
  if (!admitted->overridden.empty()) start.actor = c.actor + " [break-glass: " + break_glass + "]";
  start.approval = std::move(admitted->approval);
  auto id = ctx_.startRollout(std::move(start));
  if (!id) return errorJson(id.error());
  ActiveRollout* started = ctx_.findRollout(*id);
  recordGates(*started, gated, admitted->overridden, break_glass, c.actor);
  return control::RolloutReply{statusDoc(*started, false, ctx_.steadyNow())};
}

json ControlApi::status(const Call& c) {
  const auto r = c.req.get<control::StatusRequest>();
  if (r.rollout.empty()) {
    control::RolloutListReply list;
    for (const auto* active : ctx_.activeRollouts())
      list.rollouts.push_back(statusDoc(*active, r.hosts, ctx_.steadyNow()));
    return list;
  }
  if (auto* active = ctx_.findRollout(r.rollout))
    return control::RolloutReply{statusDoc(*active, r.hosts, ctx_.steadyNow())};
  auto rec = ctx_.store().rollout(r.rollout);
  if (!rec) return errorJson(rec.error());
  if (!rec->has_value()) return errorJson(Errc::kNotFound, "no rollout '" + r.rollout + "'");
  return control::RolloutReply{finishedStatusDoc(**rec)};
}

json ControlApi::rolloutAction(const Call& c) {
  const auto r = c.req.get<control::RolloutActionRequest>();
  ActiveRollout* active = ctx_.findRollout(r.rollout);
  if (!active) {
    auto rec = ctx_.store().rollout(r.rollout);
    if (rec.ok() && rec->has_value())
      return errorJson(Errc::kConflict,
                       "rollout '" + r.rollout + "' is " + (*rec)->state + "; it can no longer be changed");
    return errorJson(Errc::kNotFound, "no rollout '" + r.rollout + "'");
  }
  const auto now = ctx_.steadyNow();
  Rollout& eng = *active->engine;
  const Status st = r.cmd == control::kPause     ? eng.pause(now)
                    : r.cmd == control::kResume  ? eng.resume(now)
                    : r.cmd == control::kPromote ? eng.promote(now)
                                                 : eng.abort(now);
  if (!st.ok()) return errorJson(st.error());
  ctx_.operatorActed(*active, "operator_" + r.cmd, r.cmd + " by " + c.actor, c.actor);
  return control::RolloutReply{statusDoc(*active, false, ctx_.steadyNow())};
}

json ControlApi::rollback(const Call& c) {
  const auto r = c.req.get<control::RollbackRequest>();
  if (!protocol::validOrderApp(r.app)) return errorJson(Errc::kInvalidArgument, "invalid app name '" + r.app + "'");
  const std::string active_id = ctx_.activeRolloutOf(r.app);
  if (active_id.empty()) return rollbackToEarlier(r.app, r.to, c.actor);
  if (!r.to.empty())
    return errorJson(Errc::kConflict, "rollout " + active_id + " is active; --to applies only when no rollout of " +
                                          r.app + " is active");
  auto* active = ctx_.findRollout(active_id);
  auto st = active->engine->rollback(ctx_.steadyNow());
  if (!st.ok()) return errorJson(st.error());
  ctx_.operatorActed(*active, "operator_rollback", "rollback by " + c.actor, c.actor);
  return control::RolloutReply{statusDoc(*active, false, ctx_.steadyNow())};
}

// No active rollout: roll the app to an earlier release as a new rollout.
json ControlApi::rollbackToEarlier(const std::string& app, const std::string& to, const std::string& actor) {
  auto current = ctx_.store().currentReleases();
  if (!current) return errorJson(current.error());
  const std::string cur = current->count(app) ? current->at(app) : "";
  std::string target = to;
  if (target.empty()) {
    auto hist = ctx_.store().rollouts(app, 1000);
    if (!hist) return errorJson(hist.error());
    bool seen_current = false;
    for (const auto& h : *hist) {
      if (h.state != "succeeded") continue;
      if (!seen_current && h.version == cur) {
        seen_current = true;
        continue;
      }
      if (seen_current && h.version != cur) {
        target = h.version;
        break;
      }
    }
    if (target.empty())
      return errorJson(Errc::kNotFound, "app '" + app + "' has no earlier successful release to roll back to");
  } else {
    // Only back to what was deployed before: a release that never went out
    // (refused, awaiting approval, failed) does not go out as a "rollback".
    auto hist = ctx_.store().rollouts(app, 1000);
    if (!hist) return errorJson(hist.error());
    const bool deployed = std::any_of(hist->begin(), hist->end(), [&](const RolloutRecord& h) {
      return h.version == target && h.state == "succeeded";
    });
    if (!deployed)
      return errorJson(Errc::kNotFound, "no rollout of " + app + " " + target +
                                            " ever succeeded; --to names a release that was deployed before");
  }
  auto rel = ctx_.store().release(app, target);
  if (!rel) return errorJson(rel.error());
  if (!rel->has_value())
    return errorJson(Errc::kNotFound, "no release " + target + " of app '" + app + "' is known to the coordinator");
  auto plan = protocol::parsePlan((*rel)->plan_text, app + "@" + target, "");
  if (!plan) return errorJson(plan.error());
  plan->waves = rollbackPolicy(plan->waves);
  plan->analysis.reset();  // a rollback is fast: no analysis
  plan->change.reset();
  auto id = ctx_.startRollout(RolloutStart{std::move(*plan), (*rel)->plan_text, app + "@" + target,
                                           (*rel)->artifact_digest, (*rel)->artifact_size, actor, "rollback",
                                           (*rel)->release_signature, std::nullopt});
  if (!id) return errorJson(id.error());
  return control::RolloutReply{statusDoc(*ctx_.findRollout(*id), false, ctx_.steadyNow())};
}

json ControlApi::history(const Call& c) {
  const auto r = c.req.get<control::HistoryRequest>();
  auto list = ctx_.store().rollouts(r.app, static_cast<std::size_t>(r.limit));
  if (!list) return errorJson(list.error());
  control::HistoryReply reply;
  for (const auto& rec : *list) {
    auto entry = historyEntry(rec);
    if (auto* active = ctx_.findRollout(rec.id)) entry.state = toString(active->engine->state());
    reply.rollouts.push_back(std::move(entry));
  }
  return reply;
}

json ControlApi::events(const Call& c) {
  const auto r = c.req.get<control::EventsRequest>();
  auto rec = ctx_.store().rollout(r.rollout);
  if (!rec) return errorJson(rec.error());
  if (!rec->has_value()) return errorJson(Errc::kNotFound, "no rollout '" + r.rollout + "'");
  auto events = ctx_.store().events(r.rollout, r.after);
  if (!events) return errorJson(events.error());
  control::EventsReply reply;
  for (const auto& e : *events) reply.events.push_back(eventDoc(e));
  return reply;
}

json ControlApi::watch(const Call& c) {
  const auto r = c.req.get<control::WatchRequest>();
  json resp = status(c);
  if (!resp.value("ok", false)) return resp;
  json events_reply = events(c);
  resp["events"] = events_reply.value("events", json::array());
  if (auto* active = ctx_.findRollout(r.rollout)) {
    ctx_.watch(active->record.id, c.routing_id);
    resp["finished"] = false;
  } else {
    resp["finished"] = true;
  }
  return resp;
}

}  // namespace flotilla::coordinator
