#pragma once
// DashboardFeed: the live documents the dashboard (docs/dashboard.md) reads
// that only the reactor knows, handed over to the HTTP threads the way
// LiveGauges hands over /metrics: every active rollout's status with its hosts
// and every agent, as the control protocol's documents (protocol/control.h),
// and a version that grows by one each time any of them changed, with one
// version per kind of change, so a page redraws only what a change touches:
// `rollouts` (an active rollout's document), `agents` (an agent's), `set` (a
// rollout started or finished: what the store's history and DORA keys rest on).
//
// Threads: the reactor calls publish() about once a second (it compares and
// swaps shared pointers under a short lock, never waits on a reader); HTTP
// threads call read() and waitChange(). close() wakes every waiter for good
// (the endpoint stopping), so no stream outlives the server.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/active_rollout.h"
#include "flotilla/coordinator/agent_registry.h"
#include "flotilla/coordinator/judge.h"
#include "flotilla/protocol/control.h"

namespace flotilla::coordinator {

class DashboardFeed {
 public:
  struct Snapshot {
    std::uint64_t version = 0;  // any change
    std::uint64_t rollouts_version = 0, agents_version = 0, set_version = 0;
    std::shared_ptr<const std::vector<protocol::control::RolloutStatus>> rollouts;  // with hosts
    std::shared_ptr<const std::vector<protocol::control::AgentDoc>> agents;
  };

  DashboardFeed();

  // Reactor: the documents now; the version grows only when they differ from the last ones.
  void publish(std::vector<protocol::control::RolloutStatus> rollouts, std::vector<protocol::control::AgentDoc> agents);
  Snapshot read() const;
  // Blocks until the version is above `after`, `timeout` passed or the feed is closed; returns the version then.
  std::uint64_t waitChange(std::uint64_t after, std::chrono::milliseconds timeout) const;
  void close();
  bool closed() const;

 private:
  mutable std::mutex mu_;  // guards everything below
  mutable std::condition_variable changed_;
  Snapshot now_;
  bool closed_ = false;
};

// The reactor's documents for the feed: every active rollout with its hosts and, while a
// wave is analysed, its verdict so far (`interim`, as `flotilla analysis` shows it); every agent.
using InterimVerdict = std::function<std::optional<Verdict>(const ActiveRollout&)>;
std::vector<protocol::control::RolloutStatus> feedRollouts(const std::vector<const ActiveRollout*>& active,
                                                           common::SteadyTime now, const InterimVerdict& interim);
std::vector<protocol::control::AgentDoc> feedAgents(const AgentRegistry& agents);

}  // namespace flotilla::coordinator
