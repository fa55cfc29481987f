#include "flotilla/coordinator/convergence.h"

#include "flotilla/coordinator/rollout.h"
#include "flotilla/protocol/flag_app.h"

namespace flotilla::coordinator {

void Convergence::load(std::vector<AppRecord> apps) {
  for (auto& app : apps) setCurrent(std::move(app));
}

void Convergence::setCurrent(AppRecord app) {
  const std::string name = app.app;
  current_[name] = std::move(app);
}

std::string Convergence::key(const std::string& agent_id, const AppRecord& app) {
  return agent_id + "\n" + app.app + "\n" + app.current_version;
}

std::vector<Convergence::Candidate> Convergence::candidates(
    const Agent& a, const std::function<bool(const std::string& app)>& busy) const {
  std::vector<Candidate> out;
  if (!a.online || a.state != AgentState::kAccepted) return out;
  for (const auto& [app, cur] : current_) {
    if (!labelsMatch(cur.target, a.record.labels)) continue;
    // A flag set is the app's: it waits until the host runs the app (its health checks are the app's).
    if (auto base = protocol::flaggedApp(app); base && !a.record.releases.count(*base)) continue;
    auto live = a.record.releases.find(app);
    if (live != a.record.releases.end() && live->second == cur.current_version) continue;
    if (tried_.count(key(a.record.id, cur)) || busy(app)) continue;
    out.push_back({&cur, live == a.record.releases.end() ? std::nullopt : std::optional<std::string>(live->second)});
  }
  return out;
}

bool Convergence::mayConverge(const std::optional<std::string>& host_state) {
  return !host_state || *host_state == toString(HostState::kPending) ||
         *host_state == toString(HostState::kUnreachable);
}

void Convergence::markTried(const std::string& agent_id, const AppRecord& app) { tried_.insert(key(agent_id, app)); }

std::string Convergence::eventMessage(const Candidate& c, std::uint64_t sequence) {
  return (c.live ? "live " + *c.live : std::string("no release")) + ", converging to " + c.app->current_version +
         " (sequence " + std::to_string(sequence) + ")";
}

}  // namespace flotilla::coordinator
