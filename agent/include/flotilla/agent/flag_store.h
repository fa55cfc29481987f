#pragma once
// The flag sets this agent serves, and what OFREP says about their freshness.
//
// The worker (its Deployer) publishes an app's flag set when it goes live on
// this host (a flag rollout's switch, a revert, the agent's start) and
// withdraws it when the app has none. The OFREP server's threads read them:
// each read takes the whole published map, an immutable snapshot, by
// shared_ptr under a short lock, so an evaluation never sees half an update
// and never holds the lock while it evaluates. The reactor says when the
// session with the coordinator comes and goes (how long the agent has been cut
// off, flotillaCoordinatorSilentSeconds). Counters are atomics.
//
// Owned by the Agent, lent to the worker, the reactor and the OFREP server;
// every member is safe from any thread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "flotilla/common/clock.h"
#include "flotilla/flags/flag_set.h"

namespace flotilla::agent {

// One app's live flag set.
struct LiveFlagSet {
  std::string app;      // "web" (the order's app is "flags:web")
  std::string version;  // the flag-set version, e.g. "f-0123456789abcdef"
  flags::FlagSet set;
  common::SysTime applied_at;  // when it went live on this host
};

class FlagStore {
 public:
  using Snapshot = std::map<std::string, std::shared_ptr<const LiveFlagSet>, std::less<>>;

  // Silent since `now` until the first session. `loaded` false: the agent's
  // worker has yet to publish the sets on disk (markLoaded), and readers that
  // wait (waitLoaded) see them rather than an empty store.
  explicit FlagStore(common::SteadyTime now, bool loaded = true);

  // Worker: every live set on this host is published (after its recovery).
  void markLoaded();
  // Any thread: waits up to `d` for markLoaded; whether it happened.
  bool waitLoaded(common::Millis d) const;

  // Worker: `set` is now app set->app's live flag set.
  void publish(std::shared_ptr<const LiveFlagSet> set);
  // Worker: the app has no live flag set any more.
  void withdraw(const std::string& app);
  // Any thread: every app's live set, as one immutable snapshot.
  std::shared_ptr<const Snapshot> snapshot() const;
  std::shared_ptr<const LiveFlagSet> find(std::string_view app) const;

  // Reactor: whether the agent has a session with the coordinator. Silent
  // since `now` when it goes from having one to not (and since the store's
  // creation, before the first).
  void sessionChanged(bool online, common::SteadyTime now);
  // How long the agent has been without a session; zero while it has one.
  common::Millis coordinatorSilence(common::SteadyTime now) const;

  // A flag set that arrived malformed and was refused (flag_sets_refused).
  void countRefused() { refused_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  void countEvaluations(std::uint64_t n) { evaluations_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t evaluations() const { return evaluations_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::int64_t kOnline = -1;

  mutable std::mutex mu_;
  mutable std::condition_variable loaded_cv_;
  std::shared_ptr<const Snapshot> sets_;  // guarded by mu_; the map itself is never changed
  std::atomic<bool> loaded_;              // set under mu_, so waitLoaded misses no wake-up
  // steady_clock ticks (ms) since which the agent is without a session, kOnline while it has one.
  std::atomic<std::int64_t> silent_since_ms_;
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> evaluations_{0};
};

}  // namespace flotilla::agent
