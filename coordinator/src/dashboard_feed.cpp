#include "flotilla/coordinator/dashboard_feed.h"

#include "flotilla/coordinator/control_docs.h"

namespace flotilla::coordinator {
namespace {

namespace control = protocol::control;

bool sameAgent(const control::AgentDoc& a, const control::AgentDoc& b) {
  return a.id == b.id && a.state == b.state && a.labels == b.labels && a.releases == b.releases &&
         a.health == b.health && a.key == b.key && a.busy == b.busy && a.last_seen == b.last_seen;
}

bool sameAgents(const std::vector<control::AgentDoc>& a, const std::vector<control::AgentDoc>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!sameAgent(a[i], b[i])) return false;
  return true;
}

bool sameIds(const std::vector<control::RolloutStatus>& a, const std::vector<control::RolloutStatus>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].id != b[i].id) return false;
  return true;
}

}  // namespace

DashboardFeed::DashboardFeed(std::chrono::milliseconds idle)
    : idle_(idle), last_read_(std::chrono::steady_clock::now()) {
  now_.rollouts = std::make_shared<const std::vector<control::RolloutStatus>>();
  now_.agents = std::make_shared<const std::vector<control::AgentDoc>>();
}

void DashboardFeed::publish(std::vector<control::RolloutStatus> rollouts, std::vector<control::AgentDoc> agents) {
  // Compared outside the lock: only the reactor writes, so now_'s pointers stay valid here.
  Snapshot last = latest();
  const bool rollouts_changed = rollouts != *last.rollouts;
  const bool agents_changed = !sameAgents(agents, *last.agents);
  if (!rollouts_changed && !agents_changed) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stale_ = false;
      ++publishes_;
    }
    changed_.notify_all();
    return;
  }
  auto r = rollouts_changed ? std::make_shared<const std::vector<control::RolloutStatus>>(std::move(rollouts))
                            : last.rollouts;
  auto a = agents_changed ? std::make_shared<const std::vector<control::AgentDoc>>(std::move(agents)) : last.agents;
  const bool set_changed = !sameIds(*r, *last.rollouts);
  {
    std::lock_guard<std::mutex> lock(mu_);
    now_.rollouts = std::move(r);
    now_.agents = std::move(a);
    ++now_.version;
    if (rollouts_changed) ++now_.rollouts_version;
    if (agents_changed) ++now_.agents_version;
    if (set_changed) ++now_.set_version;
    stale_ = false;
    ++publishes_;
  }
  changed_.notify_all();
}

bool DashboardFeed::wanted() {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::chrono::steady_clock::now() - last_read_ <= idle_) return true;
  stale_ = true;
  return false;
}

DashboardFeed::Snapshot DashboardFeed::latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

DashboardFeed::Snapshot DashboardFeed::read() const {
  std::unique_lock<std::mutex> lock(mu_);
  last_read_ = std::chrono::steady_clock::now();
  if (stale_) {
    const auto seen = publishes_;
    changed_.wait_for(lock, kFreshWait, [&] { return closed_ || publishes_ != seen; });
  }
  return now_;
}

std::uint64_t DashboardFeed::waitChange(std::uint64_t after, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  last_read_ = std::chrono::steady_clock::now();
  changed_.wait_for(lock, timeout, [&] { return closed_ || now_.version > after; });
  return now_.version;
}

void DashboardFeed::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  changed_.notify_all();
}

bool DashboardFeed::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

std::vector<control::RolloutStatus> feedRollouts(const std::vector<const ActiveRollout*>& active,
                                                 common::SteadyTime now, const InterimVerdict& interim) {
  std::vector<control::RolloutStatus> out;
  out.reserve(active.size());
  for (const ActiveRollout* r : active) {
    out.push_back(statusDoc(*r, true, now));
    if (auto v = interim(*r)) {
      const auto wave = static_cast<std::int64_t>(r->engine->currentWave());
      if (auto doc = analysisWaveDoc(toJson(*v), wave, false, std::nullopt)) out.back().analysis = std::move(*doc);
    }
  }
  return out;
}

std::vector<control::AgentDoc> feedAgents(const AgentRegistry& agents) {
  std::vector<control::AgentDoc> out;
  for (const Agent* a : agents.sorted()) out.push_back(agentDoc(*a));
  return out;
}

}  // namespace flotilla::coordinator
