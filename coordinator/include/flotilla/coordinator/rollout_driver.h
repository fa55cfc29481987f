#pragma once
// RolloutDriver: the coordinator's active rollouts (by id, and by app: one
// active rollout per app) and what drives them: starting one, acting on its
// engine's actions (orders opened and queued in the OrderBook, events
// recorded), routing what agents say to the engine of their app's rollout,
// persisting a rollout, finishing it, and resuming unfinished ones after a
// restart.
//
// It owns the active rollouts and the release data orders carry; it talks to
// the rest of the daemon only through the parts it is given (the store, the
// order book, the event log, the watchers, the agent registry for who is
// online, convergence, a clock) and the hooks below. Store transactions stay
// with the caller: the driver writes inside the current one and asks, through
// `commit` and `commit_and_flush`, for the two commits it must order itself
// (a rollout is durable before its first order leaves; a large wave goes out
// in chunks of kOrderChunk orders, each committed before it is sent).
//
// Per-message work is O(1) in the fleet size: rollouts are found by id or app,
// agents by id. Reactor thread only.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/active_rollout.h"
#include "flotilla/coordinator/agent_registry.h"
#include "flotilla/coordinator/control_api.h"
#include "flotilla/coordinator/convergence.h"
#include "flotilla/coordinator/event_log.h"
#include "flotilla/coordinator/order_book.h"
#include "flotilla/coordinator/release_analysis.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/coordinator/watchers.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::coordinator {

class RolloutDriver {
 public:
  // Orders committed and sent together in a large wave.
  static constexpr std::size_t kOrderChunk = 500;

  // The parts the driver works with; all outlive it.
  struct Parts {
    Store& store;
    AgentRegistry& agents;
    OrderBook& orders;
    EventLog& events;
    Watchers& watchers;
    Convergence& convergence;
    ReleaseAnalysis& analysis;
    const common::Clock& clock;
  };

  // What the driver asks of the daemon.
  struct Hooks {
    // A store write failed: the caller tracks it (and has everything re-saved later).
    std::function<void(const Error&)> store_failed;
    // Commits the current transaction: an error when the commit or any write in it failed.
    std::function<Status()> commit;
    // Commits what is recorded and sends the outbox (a large wave's chunk).
    std::function<void()> commit_and_flush;
    // An online host a succeeded rollout could not reach: bring it to the new release.
    std::function<void(Agent&)> converge;
    // Sends a document to a watching console; false when it could not.
    Watchers::Send send_control;
  };

  // `resume_grace`: how long agents get to reconnect before a resumed
  // rollout's deadlines run (restoreRollout()).
  RolloutDriver(Parts parts, Hooks hooks, common::Millis resume_grace);

  // --- the active rollouts ---
  ActiveRollout* find(const std::string& id);
  std::vector<const ActiveRollout*> all() const;
  std::size_t size() const { return rollouts_.size(); }
  // The active rollout of `app`, "" when none.
  std::string activeOf(const std::string& app) const;
  bool appActive(const std::string& app) const { return active_by_app_.count(app) > 0; }
  // The earliest deadline of any rollout (a wave deadline, a bake end).
  std::optional<common::SteadyTime> nextDeadline() const;

  // --- from the control API ---
  // Starts a rollout over the accepted agents matching the plan's labels.
  // The caller has checked that the store is healthy.
  Result<std::string> start(RolloutStart start);
  // Records a rollout a policy gate refused (control_api.h): state
  // "refused", finished now, a `policy_refused` event naming the gate.
  Result<std::string> recordRefusal(const RolloutStart& start, const Error& why);
  // Records an operator's action on `r`, then acts on what the engine decided.
  void operatorActed(ActiveRollout& r, const std::string& kind, const std::string& message, const std::string& actor);

  // --- from agents ---
  // A report about open order `ref` (already closed when terminal).
  void onReport(const OrderRef& ref, const std::string& agent_id, protocol::Phase phase, const std::string& message);
  // An agent's app turned unhealthy: a host of the app's rollout, and of its
  // flag app's (flags:APP, judged by APP's health), fails during a bake.
  void onUnhealthy(const std::string& app, const std::string& agent_id);
  // Analysis samples from an agent, for the rollout they name.
  void onSamples(const std::string& agent_id, const protocol::Samples& m);
  // Analysis samples the Prometheus worker answered.
  void drainPrometheus();
  // An agent is online again: analysed rollouts ask it to sample again if it did.
  void onAgentBack(const std::string& agent_id);
  // An agent went silent or was cut off: every rollout hears of it.
  void onHostLost(const std::string& agent_id, common::SteadyTime now);
  // An agent known at start did not come back by its rejoin_until
  // (AgentRegistry::notBack): the orders held for it since are given up, its
  // hosts unreachable. Orders the previous coordinator had sent wait for it
  // until their (extended) deadlines, as before.
  void onRejoinMissed(const std::string& agent_id, common::SteadyTime now);

  // --- the reactor's iteration ---
  // Once a second: each rollout held (or no longer held) at its wave
  // boundaries by what `hold_of` says ("" = nothing: policy freezes).
  void applyHolds(const std::function<std::string(const ActiveRollout&)>& hold_of, common::SteadyTime now);
  // At start-up, after restore(), inside its transaction: approvals by
  // identities the configuration no longer lets approve stop counting (an
  // approval_dropped event each). Who may approve changes only with the
  // configuration, that is at a start.
  void forgetIneligibleApprovals(const ApprovalGate& gate);
  // Once a second, for rollouts awaiting approval: one approved while a
  // freeze was closed starts once `closed_gate` says nothing holds it ("");
  // approvals older than their ttl stop counting (an approval_expired event each).
  void sweepApprovals(const std::function<std::string(const ActiveRollout&)>& closed_gate);
  // Once a second: watchers of every rollout get a fresh status (gates count down).
  void markWatchTicks();
  // Runs due deadlines, acts on actions, persists what changed, finishes what ended.
  void advance(common::SteadyTime now);

  // --- orders (rollouts' and convergence's) ---
  // Registers an order and queues it when its agent is online; returns its id,
  // "ROLLOUT/AGENT/SEQUENCE" unless `order_id` is given.
  std::string openOrder(OrderRef ref, std::string order_id = {});
  // Queues order `order_id` in the outbox (signed afresh when it leaves).
  void queueOrder(const std::string& order_id);

  // --- events ---
  // For a rollout that may have finished (convergence orders record under the
  // rollout that set the app's current release).
  void recordEventFor(const std::string& rollout_id, const std::string& kind, const std::string& agent, int wave,
                      const std::string& message, const std::string& actor = "");
  // An event recorded: to the watchers of its rollout while it is active.
  void publishEvent(const EventRecord& e);

  // --- the store ---
  // At start-up, inside a transaction: resumes unfinished rollouts (orders in
  // hand open again under their ids) and closes those that cannot resume.
  Status restore();
  // After a failed transaction: rollouts that finished in it are written
  // again, and every active rollout is re-saved in full.
  void resave();
  // A transaction committed: finished rollouts are durable.
  void committed() { unsaved_finals_.clear(); }

 private:
  void applyActions(ActiveRollout& r, common::SteadyTime now);
  // The analysis verdict `v` on wave `wave`: recorded as an event, then the engine acts on it.
  void applyVerdict(ActiveRollout& r, std::size_t wave, const Verdict& v, common::SteadyTime now);
  void sendOrder(ActiveRollout& r, const std::string& agent_id, bool rollback, common::SteadyTime now);
  Result<std::uint64_t> takeSequence(const std::string& app);
  // What an order carries of its release: the active rollout's, else the store's (cached).
  std::optional<ReleaseData> releaseFor(const OrderRef& ref);
  // Closes a stored rollout that cannot resume, saying why.
  Status failUnresumable(RolloutRecord rec, const std::string& why, std::int64_t sys_ms);
  Status resume(std::unique_ptr<ActiveRollout> rollout);
  void recordEvent(ActiveRollout& r, const std::string& kind, const std::string& agent, int wave,
                   const std::string& message, const std::string& actor = "");
  // Writes the rollout to the store, then pushes its status to its watchers.
  void persist(ActiveRollout& r);
  void pushStatus(ActiveRollout& r, common::SteadyTime now);
  void finish(ActiveRollout& r);
  nlohmann::json statusJson(const ActiveRollout& r) const;
  void pushToWatchers(const std::string& rollout_id, const nlohmann::json& doc);

  Store& store_;
  AgentRegistry& agents_;
  OrderBook& orders_;
  EventLog& events_;
  Watchers& watchers_;
  Convergence& convergence_;
  ReleaseAnalysis& analysis_;
  const common::Clock& clock_;
  Hooks hooks_;
  common::Millis resume_grace_;
  // Orders opened for an agent not back since this coordinator started, not
  // sent yet: order id -> agent id (sendOrder, onRejoinMissed).
  std::unordered_map<std::string, std::string> held_for_rejoin_;

  std::unordered_map<std::string, std::unique_ptr<ActiveRollout>> rollouts_;  // active, by id
  std::unordered_map<std::string, std::string> active_by_app_;                // app -> rollout id
  // What orders of releases other than an active rollout's carry (rollbacks, convergence).
  std::map<std::pair<std::string, std::string>, ReleaseData> release_cache_;
  // Finished rollouts written in a transaction that has not committed yet.
  std::vector<RolloutRecord> unsaved_finals_;
};

}  // namespace flotilla::coordinator
