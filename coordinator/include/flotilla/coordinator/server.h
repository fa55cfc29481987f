#pragma once
// The coordinator daemon: one reactor thread that owns every socket (agents'
// ROUTER, the control ROUTER, the ZAP handler), the store and all rollouts
// (through RolloutDriver).
// Poll timeouts come from the earliest deadline (a rollout's wave deadline or
// bake end, the next liveness check), never from a fixed sleep. Per-message
// work is O(1) in the fleet size: agents are found by hash, rollouts by app.
//
// Server keeps the sockets, the loop, the store transactions (begin/commit,
// the store-failure bookkeeping, re-saving after a failed transaction) and the
// outbox's signing and sending, and wires the parts that do the rest:
//   AgentRegistry    agents, enrolment, routing, liveness   (agent_registry.h)
//   OrderBook        open orders, outbox, sequences         (order_book.h, order_signing.h)
//   RolloutDriver    the active rollouts: starting, orders, (rollout_driver.h)
//                    events, persisting, finishing, resuming
//   Rollout          one rollout's waves and hosts          (rollout.h, active_rollout.h)
//   restoreRollout   resuming after a restart                (rollout_restore.h, host_record.h)
//   ReleaseAnalysis  analysed waves: samples, baseline,     (release_analysis.h, judge.h,
//                    verdicts                               prometheus_source.h)
//   Convergence      hosts to their apps' current release   (convergence.h)
//   ControlApi       one handler per control command         (control_api.h, control_docs.h)
//   Watchers         consoles following a rollout            (watchers.h)
//   FleetGauges      the live part of /metrics               (fleet_gauges.h, prometheus_writer.h)
//   DashboardFeed    the dashboard's live documents          (dashboard_feed.h, http_endpoint.h)
//   AlarmWatch       [[policy.alarm]]: stops covered rollouts (alarm_watch.h, alarm_policy.h)
//   Notifier         [[notify]] webhooks, from worker threads  (notifier.h, notify_worker.h)
// Its methods are spread by concern: server.cpp (reactor, transactions,
// outbox), server_agents.cpp (agent messages, liveness, convergence orders),
// server_control.cpp (what ControlApi asks of it beyond the driver).
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
#include "flotilla/coordinator/active_rollout.h"
#include "flotilla/coordinator/agent_registry.h"
#include "flotilla/coordinator/alarm_watch.h"
#include "flotilla/coordinator/artifact_failures.h"
#include "flotilla/coordinator/background_work.h"
#include "flotilla/coordinator/config.h"
#include "flotilla/coordinator/control_api.h"
#include "flotilla/coordinator/convergence.h"
#include "flotilla/coordinator/dashboard_feed.h"
#include "flotilla/coordinator/event_log.h"
#include "flotilla/coordinator/http_endpoint.h"
#include "flotilla/coordinator/lease_keeper.h"
#include "flotilla/coordinator/notifier.h"
#include "flotilla/coordinator/order_book.h"
#include "flotilla/coordinator/order_refusals.h"
#include "flotilla/coordinator/release_analysis.h"
#include "flotilla/coordinator/rollout.h"
#include "flotilla/coordinator/rollout_driver.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/coordinator/watchers.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

class Server : private ControlContext {
 public:
  Server(CoordinatorConfig config, const common::Clock& clock);
  ~Server();

  // Leading under the leadership lease (docs/ha.md; coordinator_run.h calls
  // it before start()): orders carry its epoch and leave only while it
  // allows, welcomes name the epoch, and every unit of work of the store is
  // fenced on the lease held by `holder`. Without it the coordinator leads
  // alone, in epoch 0, as it always did. `leadership` outlives the Server.
  void lead(const Leadership* leadership, std::string holder) {
    leadership_ = leadership;
    holder_ = std::move(holder);
  }
  // Opens the store, starts the ZAP handler, then binds the sockets.
  Status start();
  // The reactor loop; returns when stopped (signal or requestStop()).
  Status run();
  void requestStop();

 private:
  // --- reactor (server.cpp) ---
  Status bindSockets();
  Status bindControl();
  // One agent message: false when there is none, or it was malformed framing (dropped).
  bool receiveAgentMessage(std::string& rid, zmq::message_t& payload);
  void handleZap();
  void handleAgentMessage();
  void handleControlMessage();
  void afterWork(common::SteadyTime now);
  void sweepLiveness(common::SteadyTime now);
  void publishGauges();
  void publishDashboard();  // the dashboard's live documents (dashboard_feed.h), when it is served
  Status startNotifier();   // [[notify]]: the webhook workers, when there are targets
  std::optional<common::SteadyTime> nextDeadline() const;

  // --- agents (server_agents.cpp) ---
  void onHello(const std::string& rid, const std::string& key, const protocol::Hello& m);
  void onHeartbeat(Agent& a, const protocol::Heartbeat& m);
  void onReport(Agent& a, const protocol::Report& m);
  void onFetch(Agent& a, const protocol::Fetch& m);
  void sendToAgent(const std::string& rid, const std::string& payload);
  void refuse(const std::string& rid, protocol::RefusalCode code, const std::string& detail);
  void markLost(Agent& a, const std::string& why, common::SteadyTime now);
  void resendOrders(Agent& a);
  void retryOrders(common::SteadyTime now);
  // Converges `a` on the apps it lags behind (only `only_app`, when given).
  void maybeConverge(Agent& a, const std::string& only_app = "");

  // --- store transactions and the outbox (server.cpp) ---
  RolloutDriver::Hooks rolloutHooks();
  void flushOutbox();
  // Commits the store (tracking failures) and sends what waited for it.
  void commitAndFlush();
  void storeFailed(const Error& e);
  void resaveAfterFailure();

  // --- ControlContext, for ControlApi (server_control.cpp) ---
  AgentRegistry& agents() override { return agents_; }
  Store& store() override { return *store_; }
  common::SteadyTime steadyNow() const override { return clock_.steadyNow(); }
  std::int64_t nowMs() const override;
  Result<std::uint64_t> storedArtifact(const std::string& digest) const override {
    return background_->storedArtifact(digest);
  }
  const std::filesystem::path& artifactsDir() const override { return config_.artifacts_dir; }
  ActiveRollout* findRollout(const std::string& id) override { return rollouts_->find(id); }
  std::vector<const ActiveRollout*> activeRollouts() const override { return rollouts_->all(); }
  std::string activeRolloutOf(const std::string& app) const override { return rollouts_->activeOf(app); }
  std::optional<Verdict> interimVerdict(const ActiveRollout& r) const override { return analysis_->interim(r); }
  const PolicyGates& policyGates() const override { return policy_; }
  void brokeGlass() override { ++break_glass_; }
  void cutOff(Agent& a, const std::string& why) override { markLost(a, why, clock_.steadyNow()); }
  Result<std::string> startRollout(RolloutStart start) override;
  Result<std::string> recordRefusal(const RolloutStart& start, const Error& why) override {
    return rollouts_->recordRefusal(start, why);
  }
  void operatorActed(ActiveRollout& r, const std::string& kind, const std::string& message,
                     const std::string& actor) override {
    rollouts_->operatorActed(r, kind, message, actor);
  }
  void watch(const std::string& rollout_id, const std::string& routing_id) override {
    watchers_.add(rollout_id, routing_id);
  }
  // False when the message could not be queued (the console is gone, or its queue is full).
  bool sendControl(const std::string& rid, const std::string& text);

  CoordinatorConfig config_;
  const common::Clock& clock_;
  const Leadership* leadership_ = nullptr;  // nullptr: leads alone (no lease)
  std::string holder_;                      // the lease holder id, with leadership_
  std::unique_ptr<Store> store_;
  zmq::context_t ctx_;
  zmq::socket_t zap_;
  zmq::socket_t agents_sock_;
  zmq::socket_t control_sock_;
  int stop_fd_ = -1;
  int signal_fd_ = -1;
  // Disk and long store reads off the reactor (uploads, agents' fetches, metrics).
  std::unique_ptr<BackgroundWork> background_;

  AgentRegistry agents_;
  std::unordered_set<std::string> operator_keys_;  // hex CURVE keys allowed on a TCP control endpoint
  EventLog events_{clock_, [this](const EventRecord& e) { return store_->appendEvent(e); },
                   [this](const EventRecord& e) { rollouts_->publishEvent(e); }};
  Watchers watchers_;  // consoles following rollouts
  // Orders are sent only after the transaction recording them commits, so a
  // crash never leaves an order out in the world that the store does not know.
  OrderBook orders_;
  Convergence convergence_;    // apps' current releases; hosts tried this run
  std::string store_error_;    // the last store failure while it lasts ("" = healthy)
  bool write_failed_ = false;  // a write of this reactor iteration failed
  // After a failed transaction, what it held is written again once the store
  // takes writes: every active rollout in full, and rollouts that finished.
  bool resave_ = false;
  common::SteadyTime next_sweep_{};
  PolicyGates policy_;                     // freezes and break-glass, from [policy]
  std::uint64_t break_glass_ = 0;          // rollouts started past closed gates since start
  OrderRefusals refusals_;                 // order refusals reported by agents, by reason
  ArtifactFailures artifact_failures_;     // orders failed on their artifact, by reason
  std::uint64_t dropped_from_denied_ = 0;  // messages from revoked/rejected keys, dropped unanswered
  std::shared_ptr<LiveGauges> gauges_ = std::make_shared<LiveGauges>();
  // The dashboard's live documents (dashboard_feed.h), published with the gauges when it is served.
  std::shared_ptr<DashboardFeed> feed_ = std::make_shared<DashboardFeed>();
  std::unique_ptr<HttpEndpoint> http_;
  ControlApi control_api_{*this, ProvenanceGate(config_.ci_keys)};
  // Analysis metrics read from Prometheus servers, on a worker thread.
  std::unique_ptr<PrometheusSource> prometheus_;
  // Samples and verdicts of analysed rollouts; made in start(), once the store is open.
  std::unique_ptr<ReleaseAnalysis> analysis_;
  // The active rollouts and what drives them; made in start(), once the store is open.
  std::unique_ptr<RolloutDriver> rollouts_;
  // [[policy.alarm]] queries, polled while a rollout they cover runs; made in start().
  std::unique_ptr<AlarmWatch> alarms_;
  // [[notify]] webhooks, delivered by worker threads reading the store; made in start().
  std::unique_ptr<Notifier> notifier_;
};

}  // namespace flotilla::coordinator
