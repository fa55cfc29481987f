#pragma once
// The rollout state machine: one rollout of one app across an ordered list of
// hosts, in waves. Pure: it owns no sockets and reads no clock. The reactor
// feeds it events (host phases, lost hosts, operator actions, `now`) and
// drains the actions it asks for (send an order, record an event). Every
// operation is O(1) or O(hosts in one wave); nothing scans the whole fleet.
//
// Not thread-safe; the coordinator's reactor thread owns every Rollout.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

// kAwaitingApproval: submitted, nothing deployed, waiting for operators'
// approvals (approvals.h) before start().
enum class RolloutState {
  kPending,
  kAwaitingApproval,
  kRunning,
  kPaused,
  kRollingBack,
  kSucceeded,
  kFailed,
  kRolledBack,
  kAborted
};
enum class WaveState { kPending, kRunning, kBaking, kAwaitingApproval, kSucceeded, kFailed };
enum class HostState {
  kPending,
  kDeploying,
  kHealthy,
  kFailed,
  kUnreachable,
  kRollingBack,
  kRolledBack,
  kRollbackFailed
};

const char* toString(RolloutState s);
const char* toString(WaveState s);
const char* toString(HostState s);
std::optional<RolloutState> rolloutStateFromString(std::string_view s);
bool isFinished(RolloutState s);

// Stable per-rollout host order: sorted by BLAKE2b(rollout_id + "/" + agent_id),
// so the canary differs between rollouts and a restart replays the same order.
std::vector<std::string> orderHosts(const std::string& rollout_id, std::vector<std::string> agent_ids);

// The policy of a rollback to an earlier release: one wave, every host at once,
// no bake, no approval, halt on failure. A rollback must be fast.
protocol::WavePolicy rollbackPolicy(protocol::WavePolicy p);

// Every label in `want` is present in `have` with the same value.
bool labelsMatch(const std::map<std::string, std::string>& want, const std::map<std::string, std::string>& have);

// Cumulative wave sizes resolved against `hosts`: the end index of each wave,
// strictly increasing, the last equal to `hosts` (a final wave is added when the
// plan's sizes stop short; empty waves are dropped).
std::vector<std::size_t> planWaveEnds(const std::vector<protocol::Amount>& sizes, std::size_t hosts);

// How many hosts a budget allows out of `wave_hosts`: counts as given,
// percentages rounded down (a "5%" budget on 10 hosts allows none).
std::size_t resolveBudget(const protocol::Amount& budget, std::size_t wave_hosts);

struct HostSlot {
  std::string agent_id;
  std::size_t wave = 0;
  HostState state = HostState::kPending;
  std::string phase;             // last phase reported
  std::string previous_version;  // live before this rollout touched it ("" = none)
  std::string message;
  bool moved = false;            // an order was sent to it
  bool reverted_itself = false;  // it reported kReverted: already back on previous
  std::string order_id;          // the order in hand, set by the coordinator when it sends one
  std::uint64_t sequence = 0;    // that order's sequence (a resent order keeps it)
};
std::optional<HostState> hostStateFromString(std::string_view s);

struct WaveSlot {
  std::size_t index = 0;
  std::size_t begin = 0, end = 0;  // [begin, end) into hosts()
  WaveState state = WaveState::kPending;
  std::size_t next = 0;  // next host index to dispatch
  std::size_t in_flight = 0;
  std::size_t healthy = 0, failed = 0, unreachable = 0;
  std::size_t max_failed = 0, max_unreachable = 0;
  common::SteadyTime started{}, deadline{}, bake_until{};
  std::size_t size() const { return end - begin; }
  std::size_t done() const { return healthy + failed + unreachable; }
};

// What an analysed wave's verdict lets it do (judge.h decides; the engine obeys).
enum class AnalysisDecision { kPass, kPause, kFail };

struct RolloutAction {
  // kAnalyze: wave `wave`'s bake is over and it waits for its verdict (onVerdict).
  enum class Kind { kDeploy, kRollback, kEvent, kAnalyze };
  Kind kind = Kind::kEvent;
  std::string agent_id;  // for kDeploy/kRollback, and host events
  std::string event;     // event kind for kEvent ("wave_started", ...)
  std::string message;
  int wave = -1;
};

class Rollout {
 public:
  struct Config {
    std::string id;
    std::string app;
    std::string version;
    protocol::WavePolicy policy;
    common::Millis rollback_deadline{std::chrono::minutes(5)};
    // Set when the plan has [analysis]: each wave bakes at least this long
    // (AnalysisSpec::window) and goes on only on a passing verdict.
    std::optional<common::Millis> analysis_window;
  };

  // `hosts` already ordered (orderHosts); `previous` maps agent -> live version.
  Rollout(Config config, std::vector<std::string> hosts, const std::map<std::string, std::string>& previous);

  // Starts the first wave (from kPending or kAwaitingApproval). When a hold
  // is set (setHold), the first wave waits for it like any other.
  void start(common::SteadyTime now);
  // Instead of starting: waits for approvals (`why` says for what) until
  // start(). Only abort applies meanwhile; nothing is deployed.
  void awaitApproval(const std::string& why);
  // A phase report from a host for this rollout's order (deploy or rollback).
  void onHostPhase(const std::string& agent_id, bool rollback_order, protocol::Phase phase, const std::string& message,
                   common::SteadyTime now);
  // The coordinator lost the host (heartbeats expired or disconnected).
  void onHostLost(const std::string& agent_id, common::SteadyTime now);
  // A heartbeat said the app on this host is unhealthy (counts during bake).
  void onHostUnhealthy(const std::string& agent_id, common::SteadyTime now);

  // The analysis verdict on the current wave. kFail fails the wave (its
  // on_failure applies) and may come early, while the wave runs or bakes;
  // kPause pauses the rollout until an operator resumes (accepting the wave)
  // or rolls back; kPass lets a wave whose bake is over go on. Ignored when
  // the rollout is not running or the wave is past its analysis.
  void onVerdict(AnalysisDecision d, const std::string& message, common::SteadyTime now);
  // A policy gate (a freeze) holds the rollout at wave boundaries: while
  // `reason` is not empty, the next wave waits as for a manual approval; when
  // it is lifted ("") a wave held by it starts. `promote` overrides it.
  void setHold(const std::string& reason, common::SteadyTime now);
  // The current wave is sampled and judged (analysis on, wave running or baking, no verdict yet).
  bool analysing() const;

  Status pause(common::SteadyTime now);
  Status resume(common::SteadyTime now);
  Status promote(common::SteadyTime now);
  Status abort(common::SteadyTime now);
  // Operator-requested rollback of everything this rollout moved.
  Status rollback(common::SteadyTime now);

  // Deadlines and bake ends; call when nextDeadline() passes (extra calls are harmless).
  void tick(common::SteadyTime now);
  std::optional<common::SteadyTime> nextDeadline() const;

  std::vector<RolloutAction> drainActions();

  // The coordinator sent (or resent) `order_id` to a host of this rollout.
  void setOrder(const std::string& agent_id, const std::string& order_id, std::uint64_t sequence);
  // Indexes of hosts changed since the last call (each once), for the store.
  // Reported phases alone do not count: agents report them again after a restart.
  std::vector<std::size_t> drainDirtyHosts();
  // Every host again (the store lost a transaction and must be brought up to date).
  void markAllDirty();

  // Persistence across coordinator restarts. Times cross as unix milliseconds
  // through the two converters, since steady time does not survive a restart.
  nlohmann::json saveState(const std::function<std::int64_t(common::SteadyTime)>& to_wall) const;
  // Rebuilds a rollout from saveState() and its stored hosts (in host order).
  // After a restart: deadlines that passed (or pass before `not_before`) while
  // the coordinator was down move to `not_before`, so agents have time to reconnect and report;
  // an analysed wave that bakes bakes one more analysis window after `not_before`.
  void extendDeadlines(common::SteadyTime not_before);
  static Result<std::unique_ptr<Rollout>> restore(Config config, std::vector<HostSlot> hosts,
                                                  const nlohmann::json& state,
                                                  const std::function<common::SteadyTime(std::int64_t)>& from_wall);

  const Config& config() const { return config_; }
  RolloutState state() const { return state_; }
  const std::vector<HostSlot>& hosts() const { return hosts_; }
  const std::vector<WaveSlot>& waves() const { return waves_; }
  std::size_t currentWave() const { return current_; }
  const HostSlot* host(const std::string& agent_id) const;
  bool finished() const { return isFinished(state_); }
  // Why the rollout ended (empty while it runs).
  const std::string& finalMessage() const { return final_message_; }
  // What the rollout is waiting for, for people: "bake 12s left", "approval".
  std::string gate(common::SteadyTime now) const;

 private:
  void startWave(std::size_t w, common::SteadyTime now);
  void dispatch(common::SteadyTime now);
  void hostDone(std::size_t idx, HostState result, const std::string& message, common::SteadyTime now);
  void evaluateWave(common::SteadyTime now);
  void failWave(const std::string& why, common::SteadyTime now);
  void startRollback(common::SteadyTime now);
  void rollbackHostDone(std::size_t idx, bool ok, const std::string& message);
  void maybeFinishRollback(common::SteadyTime now);
  void finish(RolloutState s, const std::string& message);
  void event(std::string kind, std::string message, std::string agent = {}, int wave = -1);
  bool overBudget(const WaveSlot& w) const;
  HostSlot& touch(std::size_t idx);

  Config config_;
  RolloutState state_ = RolloutState::kPending;
  std::vector<HostSlot> hosts_;
  std::unordered_map<std::string, std::size_t> index_;
  std::vector<WaveSlot> waves_;
  std::size_t current_ = 0;
  bool failure_pending_ = false;  // paused because of a failure (on_failure = pause)
  bool analysis_done_ = false;    // the current wave has its verdict (or an operator's promote)
  bool analysis_paused_ = false;  // paused on a marginal verdict
  bool verdict_asked_ = false;    // kAnalyze sent for the current wave's bake end (not persisted: asked again)
  std::string hold_reason_;       // a policy gate holds the next wave ("" = none); recomputed, not persisted
  bool held_ = false;             // the wave awaiting approval waits for the hold, not for an operator
  std::size_t rollback_outstanding_ = 0;
  common::SteadyTime rollback_deadline_{};
  common::SteadyTime paused_at_{};
  std::string final_message_;
  std::vector<RolloutAction> actions_;
  std::vector<std::size_t> dirty_hosts_;
  std::vector<bool> host_dirty_;
};

}  // namespace flotilla::coordinator
