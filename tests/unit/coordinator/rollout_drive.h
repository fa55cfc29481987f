#pragma once
// One Rollout engine driven by hand for its unit tests (rollout_test.cpp,
// rollout_analysis_test.cpp): `now` moves only when a test moves it, and the
// actions each call drains are kept for the test to read.
#include "flotilla/coordinator/rollout.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "flotilla/common/crypto.h"

using namespace std::chrono_literals;
using flotilla::Errc;
using flotilla::common::SteadyTime;
using flotilla::coordinator::HostState;
using flotilla::coordinator::orderHosts;
using flotilla::coordinator::planWaveEnds;
using flotilla::coordinator::resolveBudget;
using flotilla::coordinator::Rollout;
using flotilla::coordinator::RolloutAction;
using flotilla::coordinator::RolloutState;
using flotilla::coordinator::WaveState;
using flotilla::protocol::Amount;
using flotilla::protocol::Approval;
using flotilla::protocol::OnFailure;
using flotilla::protocol::Phase;
using flotilla::protocol::WavePolicy;
using Kind = RolloutAction::Kind;
using Ends = std::vector<std::size_t>;
using Ids = std::vector<std::string>;

namespace rollout_drive {

inline const bool kCryptoReady = flotilla::common::initCrypto().ok();

inline Amount count(double n) { return Amount{false, n}; }
inline Amount pct(double p) { return Amount{true, p}; }

// "h0", "h1", ...: already in rollout order (the engine does not reorder).
inline Ids hostNames(std::size_t n) {
  Ids out;
  for (std::size_t i = 0; i < n; ++i) out.push_back("h" + std::to_string(i));
  return out;
}

// A policy with no bake, automatic approval and a 10 minute deadline unless a
// test says otherwise.
inline WavePolicy policy(std::vector<Amount> sizes, std::size_t max_parallel = 10) {
  WavePolicy p;
  p.sizes = std::move(sizes);
  p.max_parallel = max_parallel;
  p.max_failed = count(0);
  p.max_unreachable = count(0);
  p.bake = 0ms;
  p.approval = Approval::kAuto;
  p.on_failure = OnFailure::kRollback;
  p.deadline = 10min;
  return p;
}

// One rollout driven by hand: `now` only moves when the test moves it, and
// `out` holds the actions drained by the last call.
struct Drive {
  // `analysis_window`: the plan has [analysis] (each wave waits for a verdict).
  Drive(WavePolicy p, std::size_t hosts, std::map<std::string, std::string> previous = {},
        std::optional<flotilla::common::Millis> analysis_window = std::nullopt)
      : rollout(Rollout::Config{"r-1", "web", "2.0", std::move(p), 5min, analysis_window}, hostNames(hosts),
                previous.empty() ? everyoneOn("1.0", hosts) : previous) {}

  static std::map<std::string, std::string> everyoneOn(const std::string& v, std::size_t hosts) {
    std::map<std::string, std::string> m;
    for (const auto& h : hostNames(hosts)) m[h] = v;
    return m;
  }

  std::vector<RolloutAction>& drain() {
    out = rollout.drainActions();
    return out;
  }
  void start() {
    rollout.start(now);
    drain();
  }
  void phase(const std::string& h, Phase p, bool rollback = false) {
    rollout.onHostPhase(h, rollback, p, "msg", now);
    drain();
  }
  void healthy(const std::string& h) { phase(h, Phase::kHealthy); }
  void rolledBack(const std::string& h) { phase(h, Phase::kHealthy, true); }
  void lost(const std::string& h) {
    rollout.onHostLost(h, now);
    drain();
  }
  void unhealthy(const std::string& h) {
    rollout.onHostUnhealthy(h, now);
    drain();
  }
  void tick() {
    rollout.tick(now);
    drain();
  }
  void advance(flotilla::common::Millis d) { now += d; }

  Ids targets(Kind k) const {
    Ids ids;
    for (const auto& a : out)
      if (a.kind == k) ids.push_back(a.agent_id);
    return ids;
  }
  Ids deploys() const { return targets(Kind::kDeploy); }
  Ids rollbacks() const {
    auto ids = targets(Kind::kRollback);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  Ids events() const {
    Ids kinds;
    for (const auto& a : out)
      if (a.kind == Kind::kEvent) kinds.push_back(a.event);
    return kinds;
  }
  bool hasEvent(const std::string& kind) const {
    auto e = events();
    return std::find(e.begin(), e.end(), kind) != e.end();
  }
  HostState hostState(const std::string& h) const {
    const auto* slot = rollout.host(h);
    REQUIRE(slot != nullptr);
    return slot->state;
  }
  WaveState waveState(std::size_t w) const { return rollout.waves().at(w).state; }

  SteadyTime now{std::chrono::hours(1000)};
  Rollout rollout;
  std::vector<RolloutAction> out;
};

}  // namespace rollout_drive
