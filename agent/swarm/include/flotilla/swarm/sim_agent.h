#pragma once
// One simulated agent: the agent's own Session (agent/session.h: hello and
// backoff, pending, heartbeats, refusals, orders verified against the pinned
// plan key with real Ed25519, sequence, expiry and ledger checks, reports held
// for a welcome, the credit-based fetch window) without a host to deploy to.
// It optionally fetches the artifact and checks its digest, "applies" it for a
// configured time, and reports accepted -> healthy, or reverted with a given
// probability; with report_probation, accepted -> probation -> healthy, as the
// agent does (the coordinator asks an analysed wave's canaries to sample from
// probation on, so a swarm whose samples should be judged needs it). Plan key rotation statements signed by the pinned
// key move the pin, as on the agent. SampleRequests are answered with synthetic samples (sim_sampler.h).
//
// Pure: no sockets or threads; time comes in as `now` (and from a Clock, read
// once to time order verification). The owner (Swarm) feeds it decoded
// messages, sends what it appends to the outbox on this agent's socket, and
// calls onTimer() when nextDeadline() passes, so tests drive it with made-up
// times and messages. Reactor thread only.

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "flotilla/agent/session.h"
#include "flotilla/common/clock.h"
#include "flotilla/common/crypto.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"
#include "flotilla/swarm/sim_sampler.h"
#include "flotilla/swarm/stats.h"

namespace flotilla::swarm {

// Shared by every agent of a swarm.
struct SimConfig {
  common::PublicKey plan_key{};
  std::string join_token;
  protocol::StringMap labels;
  common::Millis apply_time{0};                      // from accepted (or fetched) to the terminal report
  double fail_rate = 0;                              // probability that an order ends reverted
  bool fetch = false;                                // download the artifact before applying
  bool report_probation = false;                     // report probation when the apply time starts
  std::optional<common::Millis> heartbeat_override;  // ignore the welcome's interval (load tests)
  common::Millis fetch_timeout{std::chrono::minutes(5)};
  std::int64_t clock_skew_s = 300;
  SampleModel samples;  // synthetic answers to SampleRequests
};

struct SimNow {
  common::SteadyTime steady{};
  common::SysTime sys{};
};

// What the reactor passes into every call.
struct SimContext {
  const SimConfig& config;
  const common::Clock& clock;  // only to time verification; `now` comes with each call
  SwarmStats& stats;
  std::mt19937_64& rng;
};

class SimAgent {
 public:
  using State = agent::Session::State;

  explicit SimAgent(std::string id) : id_(std::move(id)) {}

  // The socket is connected (or queued to connect): say hello.
  void start(SimContext& ctx, const SimNow& now, std::vector<std::string>& out);
  // The socket dials, and a connection event (start()) will say when it is up;
  // hello anyway after the session's fallback delay.
  void awaitConnection(const SimNow& now) { session_.awaitConnection(now.steady); }
  // The connection dropped (from the socket monitor): as the agent, arm the
  // session's reconnect check; the next start() says hello again.
  void disconnected(SimContext& ctx, const SimNow& now, std::vector<std::string>& out);
  void onMessage(SimContext& ctx, const protocol::CoordinatorMessage& msg, const SimNow& now,
                 std::vector<std::string>& out);
  // Heartbeats, hello retries, apply completion, fetch timeout: whatever is due.
  void onTimer(SimContext& ctx, const SimNow& now, std::vector<std::string>& out);
  // Earliest time onTimer has something to do; max() when nothing.
  common::SteadyTime nextDeadline() const;

  const std::string& id() const { return id_; }
  State state() const { return session_.state(); }
  bool everWelcomed() const { return session_.everWelcomed(); }
  const protocol::StringMap& releases() const { return session_.releases(); }
  const protocol::HealthMap& health() const { return session_.health(); }
  std::uint64_t highestSequence(const std::string& app) const { return session_.highestSequence(app); }
  bool busy() const { return current_.has_value(); }
  // The plan key this agent verifies orders against: the configured one, or
  // where a verified rotation statement moved the pin.
  const common::PublicKey& planKey(const SimConfig& config) const {
    return rotated_key_ ? *rotated_key_ : config.plan_key;
  }

 private:
  class Port;
  struct Work {
    protocol::VerifiedOrder order;
    common::SteadyTime received{};
    std::string previous;  // live version of the app when the order was taken up
  };

  void onOrder(SimContext& ctx, Port& port, const protocol::SignedOrder& order, const SimNow& now);
  void onChunk(SimContext& ctx, Port& port, const protocol::Chunk& chunk, const SimNow& now);
  void onRotation(SimContext& ctx, const protocol::Rotation& r);
  void report(Port& port, const Work& w, protocol::Phase phase, const std::string& message, const std::string& live,
              const SimNow& now);
  void startNext(SimContext& ctx, Port& port, const SimNow& now);
  void beginApply(SimContext& ctx, Port& port, const SimNow& now);
  void finish(SimContext& ctx, Port& port, const SimNow& now);
  void fail(SimContext& ctx, Port& port, const std::string& why, const SimNow& now);
  // Synthetic samples due now: to the outbox while online, counted as dropped otherwise.
  void sample(SimContext& ctx, const SimNow& now, std::vector<std::string>& out);
  // Keeps the swarm's online and pending counts in step with the session's state.
  void track(SimContext& ctx, State before) const;

  std::string id_;
  agent::Session session_;
  common::SteadyTime apply_due_ = common::SteadyTime::max();
  std::optional<common::PublicKey> rotated_key_;
  std::optional<Work> current_;
  std::optional<common::Hasher> hasher_;  // of the download in hand
  std::deque<Work> queue_;
  SimSampler sampler_;
};

}  // namespace flotilla::swarm
