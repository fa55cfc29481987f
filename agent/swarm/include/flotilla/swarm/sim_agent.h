#pragma once
// One simulated agent: the agent side of the wire protocol (docs/protocol.md)
// without a host to deploy to. It says hello with the join token and labels,
// heartbeats at the interval the welcome gives, verifies every order with
// protocol::OrderVerifier against the pinned plan key (real Ed25519, real
// sequence and expiry checks), optionally fetches the artifact with the
// agent's credit-based flow control and checks its digest, "applies" it for a
// configured time, and reports accepted -> healthy, or reverted with a given
// probability, keeping live_version and health like the real agent. Plan key
// rotation statements signed by the pinned key move the pin, as on the agent.
//
// Pure: no sockets or threads; time comes in as `now` (and from a Clock, read
// once to time order verification). The owner (Swarm) feeds it decoded
// messages, sends what it appends to the outbox on this agent's socket, and
// calls onTimer() when nextDeadline() passes, so tests drive it with made-up
// times and messages. Reactor thread only.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/crypto.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"
#include "flotilla/swarm/stats.h"

namespace flotilla::swarm {

// Shared by every agent of a swarm.
struct SimConfig {
  common::PublicKey plan_key{};
  std::string join_token;
  protocol::StringMap labels;
  common::Millis apply_time{0};                           // from accepted (or fetched) to the terminal report
  double fail_rate = 0;                                   // probability that an order ends reverted
  bool fetch = false;                                     // download the artifact before applying
  std::optional<common::Millis> heartbeat_override;       // ignore the welcome's interval (load tests)
  common::Millis hello_backoff{std::chrono::seconds(2)};  // first re-hello while unanswered
  common::Millis hello_backoff_max{std::chrono::seconds(30)};
  common::Millis fetch_timeout{std::chrono::minutes(5)};
  std::int64_t clock_skew_s = 300;
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
  enum class State { kIdle, kHelloSent, kPending, kOnline };

  explicit SimAgent(std::string id) : id_(std::move(id)) {}

  // The socket is connected (or queued to connect): say hello.
  void start(SimContext& ctx, const SimNow& now, std::vector<std::string>& out);
  void onMessage(SimContext& ctx, const protocol::CoordinatorMessage& msg, const SimNow& now,
                 std::vector<std::string>& out);
  // Heartbeats, hello retries, apply completion, fetch timeout: whatever is due.
  void onTimer(SimContext& ctx, const SimNow& now, std::vector<std::string>& out);
  // Earliest time onTimer has something to do; max() when nothing.
  common::SteadyTime nextDeadline() const;

  const std::string& id() const { return id_; }
  State state() const { return state_; }
  bool everWelcomed() const { return ever_welcomed_; }
  const protocol::StringMap& releases() const { return releases_; }
  const protocol::HealthMap& health() const { return health_; }
  std::uint64_t highestSequence(const std::string& app) const {
    auto it = sequences_.find(app);
    return it == sequences_.end() ? 0 : it->second;
  }
  bool busy() const { return current_.has_value(); }
  // The plan key this agent verifies orders against: the configured one, or
  // where a verified rotation statement moved the pin.
  const common::PublicKey& planKey(const SimConfig& config) const {
    return rotated_key_ ? *rotated_key_ : config.plan_key;
  }

 private:
  struct Work {
    protocol::VerifiedOrder order;
    common::SteadyTime received{};
    std::string previous;  // live version of the app when the order was taken up
  };
  struct Fetching {
    std::uint64_t received = 0;
    std::uint64_t requested = 0;
    common::Hasher hasher;
    common::SteadyTime deadline{};
  };

  void sendHello(SimContext& ctx, const SimNow& now, std::vector<std::string>& out);
  void sendHeartbeat(const SimNow& now, SimContext& ctx, std::vector<std::string>& out);
  void report(SimContext& ctx, const Work& w, protocol::Phase phase, const std::string& message,
              const std::string& live, const SimNow& now, std::vector<std::string>& out);
  void onOrder(SimContext& ctx, const protocol::SignedOrder& order, const SimNow& now, std::vector<std::string>& out);
  void onChunk(SimContext& ctx, const protocol::Chunk& chunk, const SimNow& now, std::vector<std::string>& out);
  void startNext(SimContext& ctx, const SimNow& now, std::vector<std::string>& out);
  void requestChunks(SimContext& ctx, std::vector<std::string>& out);
  void finish(SimContext& ctx, const SimNow& now, std::vector<std::string>& out);
  void fail(SimContext& ctx, protocol::Phase phase, const std::string& why, const SimNow& now,
            std::vector<std::string>& out);
  void goOffline(SimContext& ctx);

  std::string id_;
  State state_ = State::kIdle;
  bool ever_welcomed_ = false;
  common::Millis heartbeat_interval_{std::chrono::seconds(5)};
  common::Millis hello_backoff_{0};
  common::SteadyTime next_hello_ = common::SteadyTime::max();
  common::SteadyTime next_heartbeat_ = common::SteadyTime::max();
  common::SteadyTime apply_due_ = common::SteadyTime::max();
  protocol::StringMap releases_;
  protocol::HealthMap health_;
  std::map<std::string, std::uint64_t> sequences_;  // highest accepted sequence per app
  std::optional<common::PublicKey> rotated_key_;
  std::optional<Work> current_;
  std::optional<Fetching> fetch_;
  std::deque<Work> queue_;
  std::deque<std::string> outbox_;  // reports waiting for a welcome, as the agent keeps them
};

}  // namespace flotilla::swarm
