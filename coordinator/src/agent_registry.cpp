#include "flotilla/coordinator/agent_registry.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "flotilla/coordinator/rollout.h"

namespace flotilla::coordinator {

namespace {

Admission refused(protocol::RefusalCode code, std::string detail) {
  return Admission{nullptr, protocol::Refusal{code, std::move(detail)}};
}

}  // namespace

std::string Agent::displayState() const {
  if (state == AgentState::kAccepted) return online ? "online" : "lost";
  return toString(state);
}

void AgentRegistry::load(std::vector<AgentRecord> records, common::SteadyTime rejoin_until) {
  for (auto& rec : records) {
    Agent a;
    a.record = std::move(rec);
    a.rejoin_until = rejoin_until;
    a.state = protocol::agentStateFromString(a.record.state).value_or(AgentState::kPending);
    if (a.denied()) denied_keys_.insert(a.record.curve_key);
    const std::string id = a.record.id;
    agents_.emplace(id, std::move(a));
  }
}

Agent* AgentRegistry::find(const std::string& id) {
  auto it = agents_.find(id);
  return it == agents_.end() ? nullptr : &it->second;
}

const Agent* AgentRegistry::find(const std::string& id) const {
  auto it = agents_.find(id);
  return it == agents_.end() ? nullptr : &it->second;
}

Agent* AgentRegistry::byRouting(const std::string& routing_id) {
  auto it = routing_.find(routing_id);
  if (it == routing_.end() || it->second->routing_id != routing_id) return nullptr;
  return it->second;
}

Admission AgentRegistry::hello(const std::string& routing_id, const std::string& key, const protocol::Hello& m,
                               std::int64_t now_ms, common::SteadyTime now, const UseToken& use_token) {
  if (m.agent_id.empty() || m.agent_id.size() > 128)
    return refused(protocol::RefusalCode::kInvalidAgentId, "invalid agent id");
  auto it = agents_.find(m.agent_id);
  if (it != agents_.end() && it->second.record.curve_key != key) {
    spdlog::warn("agent id {} claimed by a different key {}; refused", m.agent_id, key.substr(0, 16));
    return refused(protocol::RefusalCode::kIdTaken, "agent id '" + m.agent_id + "' is enrolled with another key");
  }
  if (it == agents_.end()) {
    Agent a;
    a.record.id = m.agent_id;
    a.record.curve_key = key;
    a.setState(AgentState::kPending);
    a.record.first_seen_ms = now_ms;
    it = agents_.emplace(m.agent_id, std::move(a)).first;
  }
  Agent& a = it->second;
  if (a.denied())
    return refused(a.state == AgentState::kRevoked ? protocol::RefusalCode::kRevoked : protocol::RefusalCode::kRejected,
                   "agent '" + m.agent_id + "' is " + a.record.state);
  if (a.state == AgentState::kPending && !m.join_token.empty()) {
    if (use_token(m.join_token)) {
      a.setState(AgentState::kAccepted);
      spdlog::info("agent {} enrolled with a join token", a.record.id);
    } else {
      spdlog::warn("agent {} presented an invalid or expired join token; pending", a.record.id);
    }
  }
  // A new connection from the same agent replaces the old one.
  if (!a.routing_id.empty() && a.routing_id != routing_id) routing_.erase(a.routing_id);
  a.routing_id = routing_id;
  routing_[routing_id] = &a;
  a.record.labels = m.labels;
  a.record.releases = m.releases;
  a.record.last_seen_ms = now_ms;
  a.last_seen = now;
  a.handover_until = {};  // a new session: any handover is over
  return Admission{&a, {}};
}

Admission AgentRegistry::session(const std::string& routing_id, const std::string& key) {
  Agent* a = byRouting(routing_id);
  if (a && a->state == AgentState::kAccepted && a->record.curve_key == key) return Admission{a, {}};
  if (a && a->state == AgentState::kPending)
    return refused(protocol::RefusalCode::kPending, "waiting for an operator to accept this agent");
  return refused(protocol::RefusalCode::kNotEnrolled, "say hello first");
}

Result<Agent*> AgentRegistry::decide(const std::string& id, AgentState to) {
  Agent* a = find(id);
  if (!a) return Error(Errc::kNotFound, "no agent '" + id + "'");
  if (to == AgentState::kAccepted && a->state != AgentState::kPending)
    return Error(Errc::kConflict, "agent '" + id + "' is " + a->record.state + ", not pending");
  if (to == AgentState::kRejected && a->state != AgentState::kPending)
    return Error(Errc::kConflict,
                 "agent '" + id + "' is " + a->record.state + "; only pending agents can be rejected (use revoke)");
  a->setState(to);
  if (to != AgentState::kAccepted) {
    denied_keys_.insert(a->record.curve_key);
    // Cut it off: it is no longer routable and every later message is refused.
    if (!a->routing_id.empty()) routing_.erase(a->routing_id);
    a->routing_id.clear();
  }
  return a;
}

std::vector<Agent*> AgentRegistry::silentSince(common::SteadyTime now, common::Millis expiry) {
  std::vector<Agent*> out;
  for (auto& [id, a] : agents_)
    if (a.online && now - a.last_seen > expiry && now >= a.handover_until) out.push_back(&a);
  return out;
}

std::vector<Agent*> AgentRegistry::notBack(common::SteadyTime now) {
  std::vector<Agent*> out;
  for (auto& [id, a] : agents_) {
    if (a.rejoin_until == common::SteadyTime{} || now < a.rejoin_until) continue;
    if (!a.online && a.state == AgentState::kAccepted) out.push_back(&a);
    a.rejoin_until = {};
  }
  return out;
}

std::vector<const Agent*> AgentRegistry::sorted() const {
  std::vector<const Agent*> out;
  out.reserve(agents_.size());
  for (const auto& [id, a] : agents_) out.push_back(&a);
  std::sort(out.begin(), out.end(), [](const Agent* x, const Agent* y) { return x->record.id < y->record.id; });
  return out;
}

std::vector<const Agent*> AgentRegistry::accepted(const std::map<std::string, std::string>& target) const {
  std::vector<const Agent*> out;
  for (const auto& [id, a] : agents_)
    if (a.state == AgentState::kAccepted && labelsMatch(target, a.record.labels)) out.push_back(&a);
  return out;
}

std::map<std::string, std::size_t> AgentRegistry::countByState() const {
  std::map<std::string, std::size_t> out{{"online", 0}, {"lost", 0}, {"pending", 0}, {"revoked", 0}, {"rejected", 0}};
  for (const auto& [id, a] : agents_) ++out[a.displayState()];
  return out;
}

}  // namespace flotilla::coordinator
