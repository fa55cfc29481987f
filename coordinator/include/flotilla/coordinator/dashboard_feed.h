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
//
// On demand: building the documents costs the reactor time in proportion to
// the hosts, so it builds them only while someone reads them. Every read() and
// waitChange() (an open page's stream waits every half second) marks the feed
// wanted; when nobody has read it for `idle`, wanted() says no, the reactor
// skips publishing, and the feed is stale. The first read() of a stale feed
// waits for the reactor's next publish (about a second, at most kFreshWait),
// so nobody is shown old documents.

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

  static constexpr std::chrono::milliseconds kIdle{10000};
  static constexpr std::chrono::milliseconds kFreshWait{2000};

  explicit DashboardFeed(std::chrono::milliseconds idle = kIdle);

  // Reactor: whether anyone read the feed within `idle`; when not, the feed is
  // stale until the next publish() and the reactor need not build the documents.
  bool wanted();

  // Reactor: the documents now; the version grows only when they differ from the last ones.
  void publish(std::vector<protocol::control::RolloutStatus> rollouts, std::vector<protocol::control::AgentDoc> agents);
  // The documents now; of a stale feed, those of the next publish (or of now after kFreshWait).
  Snapshot read() const;
  // Blocks until the version is above `after`, `timeout` passed or the feed is closed; returns the version then.
  std::uint64_t waitChange(std::uint64_t after, std::chrono::milliseconds timeout) const;
  void close();
  bool closed() const;

 private:
  Snapshot latest() const;

  const std::chrono::milliseconds idle_;
  mutable std::mutex mu_;  // guards everything below
  mutable std::condition_variable changed_;
  Snapshot now_;
  bool closed_ = false;
  mutable std::chrono::steady_clock::time_point last_read_;  // by an HTTP thread
  bool stale_ = false;                                       // the reactor skipped publishing since the last publish
  std::uint64_t publishes_ = 0;                              // every publish, changed or not
};

// The reactor's documents for the feed: every active rollout with its hosts and, while a
// wave is analysed, its verdict so far (`interim`, as `flotilla analysis` shows it); every agent.
using InterimVerdict = std::function<std::optional<Verdict>(const ActiveRollout&)>;
std::vector<protocol::control::RolloutStatus> feedRollouts(const std::vector<const ActiveRollout*>& active,
                                                           common::SteadyTime now, const InterimVerdict& interim);
std::vector<protocol::control::AgentDoc> feedAgents(const AgentRegistry& agents);

}  // namespace flotilla::coordinator
