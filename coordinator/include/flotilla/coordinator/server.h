#pragma once
// The coordinator daemon: one reactor thread that owns every socket (agents'
// ROUTER, the control ROUTER, the ZAP handler), the store and all rollouts.
// Poll timeouts come from the earliest deadline (a rollout's wave deadline or
// bake end, the next liveness check), never from a fixed sleep. Per-message
// work is O(1) in the fleet size: agents are found by hash, rollouts by app.
//
// run() blocks on the calling thread; requestStop() may be called from any
// thread or a signal handler context (it writes to an eventfd).

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/background_work.h"
#include "flotilla/coordinator/config.h"
#include "flotilla/coordinator/http_endpoint.h"
#include "flotilla/coordinator/rollout.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

class Server {
 public:
  Server(CoordinatorConfig config, const common::Clock& clock);
  ~Server();

  // Opens the store, starts the ZAP handler, then binds the sockets.
  Status start();
  // The reactor loop; returns when stopped (signal or requestStop()).
  Status run();
  void requestStop();

 private:
  struct Agent {
    AgentRecord record;
    std::string routing_id;  // current connection; empty when offline
    bool online = false;
    common::SteadyTime last_seen{};
    std::map<std::string, std::string> health;  // app -> state
    std::string busy;
    std::set<std::string> orders;  // order ids sent to it and not finished
  };

  struct ActiveRollout {
    std::unique_ptr<Rollout> engine;
    protocol::Plan plan;
    RolloutRecord record;
    std::shared_ptr<const std::string> spec;  // msgpack OrderSpec for this release
    std::string artifact_digest;
    std::uint64_t artifact_size = 0;
    std::string release_signature;
    std::string kind;                // "rollout" | "rollback" (a rollback plan has its waves overridden)
    std::string plan_text;           // as submitted, to rebuild the plan after a restart
    std::set<std::string> watchers;  // control routing ids following this rollout
    bool dirty = false;              // the snapshot in the store is stale
  };

  // An order sent and not finished. Resent with the same id and sequence (so
  // the agent recognises it) when its agent reconnects or stays silent.
  struct OrderRef {
    std::string rollout_id;
    std::string agent_id;
    std::string app, version;
    std::uint64_t sequence = 0;
    bool rollback = false;
    bool converge = false;  // brings a host to the app's current release outside any rollout
    bool reported = false;  // the agent said something about it
    common::SteadyTime last_sent{};
  };

  // --- reactor ---
  void handleZap();
  void handleAgentMessage();
  void handleControlMessage();
  void afterWork(common::SteadyTime now);
  void sweepLiveness(common::SteadyTime now);
  void publishGauges();
  std::optional<common::SteadyTime> nextDeadline() const;

  // --- agents ---
  void onHello(const std::string& rid, const std::string& key, const protocol::Hello& m);
  void onHeartbeat(Agent& a, const protocol::Heartbeat& m);
  void onReport(Agent& a, const protocol::Report& m);
  void onFetch(Agent& a, const protocol::Fetch& m);
  void sendToAgent(const std::string& rid, const std::string& payload);
  void refuse(const std::string& rid, protocol::RefusalCode code, const std::string& detail);
  void markLost(Agent& a, const std::string& why, common::SteadyTime now);
  void resendOrders(Agent& a);
  void retryOrders(common::SteadyTime now);
  void maybeConverge(Agent& a);
  Agent* agentByRouting(const std::string& rid);

  // --- rollouts ---
  void applyActions(ActiveRollout& r, common::SteadyTime now);
  void sendOrder(ActiveRollout& r, const std::string& agent_id, bool rollback, common::SteadyTime now);
  // Registers an order (by id, and in its agent's set) and queues it for
  // sending; returns its id, "ROLLOUT/AGENT/SEQUENCE" unless `order_id` is given.
  std::string openOrder(OrderRef ref, std::string order_id = {});
  void closeOrder(const std::string& order_id);
  // Signs the order `order_id` afresh and queues it in the outbox.
  void queueOrder(const std::string& order_id, OrderRef& ref);
  void flushOutbox();
  // Commits the store (tracking failures) and sends what waited for it.
  void commitAndFlush();
  Result<std::uint64_t> takeSequence(const std::string& app);
  Status restoreRollouts();
  void storeFailed(const Error& e);
  void resaveAfterFailure();
  void recordEvent(ActiveRollout& r, const std::string& kind, const std::string& agent, int wave,
                   const std::string& message, const std::string& actor = "");
  // For a rollout that may have finished (convergence orders record under the
  // rollout that set the app's current release).
  void recordEventFor(const std::string& rollout_id, ActiveRollout* r, const std::string& kind,
                      const std::string& agent, int wave, const std::string& message, const std::string& actor = "");
  void persistRollout(ActiveRollout& r);
  void finishRollout(ActiveRollout& r);

  // --- control (control.cpp) ---
  nlohmann::json dispatchControl(const std::string& rid, const nlohmann::json& req);
  nlohmann::json cmdAgents();
  nlohmann::json cmdAgentState(const nlohmann::json& req, const std::string& actor);
  nlohmann::json cmdRollout(const nlohmann::json& req, const std::string& actor);
  nlohmann::json cmdStatus(const nlohmann::json& req);
  nlohmann::json cmdOperator(const std::string& cmd, const nlohmann::json& req, const std::string& actor);
  nlohmann::json cmdRollback(const nlohmann::json& req, const std::string& actor);
  nlohmann::json cmdHistory(const nlohmann::json& req);
  nlohmann::json cmdEvents(const nlohmann::json& req);
  nlohmann::json cmdWatch(const std::string& rid, const nlohmann::json& req);
  Result<std::string> startRollout(protocol::Plan plan, const std::string& plan_text, const std::string& plan_name,
                                   const std::string& digest, std::uint64_t size, const std::string& actor,
                                   const std::string& kind, const std::string& release_signature);
  nlohmann::json statusJson(const ActiveRollout& r, bool with_hosts) const;
  nlohmann::json eventJson(const EventRecord& e) const;
  void pushToWatchers(ActiveRollout& r, const nlohmann::json& doc);
  void sendControl(const std::string& rid, const nlohmann::json& doc);
  ActiveRollout* findRollout(const std::string& id);

  CoordinatorConfig config_;
  const common::Clock& clock_;
  std::unique_ptr<Store> store_;
  zmq::context_t ctx_;
  zmq::socket_t zap_;
  zmq::socket_t agents_sock_;
  zmq::socket_t control_sock_;
  int stop_fd_ = -1;
  int signal_fd_ = -1;
  // Disk and long store reads off the reactor (uploads, agents' fetches, metrics).
  std::unique_ptr<BackgroundWork> background_;

  std::unordered_map<std::string, Agent> agents_;    // by agent id
  std::unordered_map<std::string, Agent*> routing_;  // routing id -> its agent (nodes of agents_ never move)
  std::unordered_set<std::string> operator_keys_;    // hex CURVE keys allowed on a TCP control endpoint
  std::unordered_set<std::string> denied_keys_;      // revoked or rejected CURVE keys (hex)
  std::unordered_map<std::string, std::unique_ptr<ActiveRollout>> rollouts_;  // active, by id
  std::unordered_map<std::string, std::string> active_by_app_;                // app -> rollout id
  std::unordered_map<std::string, OrderRef> orders_;                          // outstanding orders by id
  // Orders are sent only after the transaction recording them commits, so a
  // crash never leaves an order out in the world that the store does not know.
  // Signed and sent one by one at flush, so agents start verifying while the
  // rest of a large wave is still being signed.
  struct Outgoing {
    std::string agent_id;
    protocol::OrderBody body;
    std::shared_ptr<const std::string> spec;
  };
  std::vector<Outgoing> outbox_;
  // What orders of releases other than an active rollout's carry (rollbacks, convergence).
  struct ReleaseData {
    std::shared_ptr<const std::string> spec;
    std::string digest, signature;
    std::uint64_t size = 0;
  };
  std::map<std::pair<std::string, std::string>, ReleaseData> release_cache_;
  // Sequences reserved for the orders of one batch of actions: [seq_next_, seq_end_) of seq_app_.
  std::string seq_app_;
  std::uint64_t seq_next_ = 0, seq_end_ = 0;
  std::map<std::string, AppRecord> current_apps_;  // app -> its current release
  std::set<std::string> converge_attempted_;       // "agent\napp\nversion", once per run
  std::string store_error_;                        // the last store failure while it lasts ("" = healthy)
  bool write_failed_ = false;                      // a write of this reactor iteration failed
  // After a failed transaction, what it held is written again once the store
  // takes writes: every active rollout in full, and rollouts that finished.
  bool resave_ = false;
  std::vector<RolloutRecord> unsaved_finals_;
  common::SteadyTime next_sweep_{};
  std::map<std::string, std::uint64_t> refusals_;
  std::uint64_t dropped_from_denied_ =
      0;  // messages from revoked/rejected keys, dropped unanswered  // order refusals reported by agents, by reason
  std::shared_ptr<LiveGauges> gauges_ = std::make_shared<LiveGauges>();
  std::unique_ptr<HttpEndpoint> http_;
  std::uint64_t rollout_counter_ = 0;
};

}  // namespace flotilla::coordinator
