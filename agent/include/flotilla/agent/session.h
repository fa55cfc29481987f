#pragma once
// One agent's session with the coordinator (docs/protocol.md), shared by
// flotilla-agent and flotilla-swarm so the swarm measures the real protocol
// code: hello with backoff and jitter until welcomed, pending, heartbeats at
// the welcome's interval, the typed refusals, orders checked against the
// sequences and the ledger (a repeated order id is answered with its latest
// report, never run twice), reports held while there is no welcome and re-sent
// after each one, the artifact download window (asked again after each new
// session), and the check that a dropped connection came back.
//
// Pure: no sockets, threads or clocks. The owner feeds it decoded messages and
// `now`, calls onTimer() when nextDeadline() passes, and acts on what the calls
// return; frames go out through the SessionPort passed into each call (the
// session keeps no pointer to it, so ten thousand simulated sessions cost no
// sink each). One thread: the owner's reactor.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/agent/fetch_window.h"
#include "flotilla/agent/journal.h"
#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"

namespace flotilla::agent {

// The first re-hello of an unanswered hello; doubles up to kHelloBackoffMax,
// each wait plus up to half of it again as jitter.
inline constexpr common::Millis kHelloBackoffMin{1000};
inline constexpr common::Millis kHelloBackoffMax{30000};
// Hello again this often while an operator has not accepted the agent, plus
// up to kPendingHelloJitter, so pending agents that came back together after a
// coordinator restart do not keep arriving in bunches.
inline constexpr common::Millis kPendingHelloInterval{5000};
inline constexpr common::Millis kPendingHelloJitter{kPendingHelloInterval / 2};
// Hello again after a refusal that an immediate hello would not cure
// (revoked, id taken, malformed, a code this build does not know), plus up to
// kRefusedHelloJitter for the same reason.
inline constexpr common::Millis kRefusedHelloDelay{30000};
inline constexpr common::Millis kRefusedHelloJitter{kRefusedHelloDelay / 2};
// The first hello if no connection event says the connection is up.
inline constexpr common::Millis kFirstHelloFallback{3000};
// After a dropped connection: if no new one by then (plus jitter), reconnect by
// hand (libzmq gives up on a connection it closed for a protocol error).
inline constexpr common::Millis kReconnectCheckDelay{5000};
inline constexpr common::Millis kReconnectCheckJitter{5000};
// Heartbeats until a welcome says otherwise, never faster than the floor and
// never slower than the ceiling (a welcome's interval is a peer's number: one
// near its type's limit would overflow the deadline into the past, and the
// session would heartbeat in a busy loop).
inline constexpr common::Millis kDefaultHeartbeatInterval{5000};
inline constexpr common::Millis kMinHeartbeatInterval{10};
inline constexpr common::Millis kMaxHeartbeatInterval{std::chrono::hours(1)};

// The owner's side of a session, passed into every call that may send.
class SessionPort {
 public:
  // One frame for the coordinator; `type` says what it holds (for counting).
  virtual void send(protocol::MsgType type, std::string frame) = 0;
  // A uniformly random duration in [0, max], for jitter.
  virtual common::Millis jitter(common::Millis max) = 0;
  // Fills the hello's identity (agent id, labels, join token, agent version);
  // the session adds the live releases.
  virtual void identify(protocol::Hello& hello) = 0;
  // The heartbeat interval to use when a welcome offers `offered`.
  virtual common::Millis heartbeatInterval(common::Millis offered) { return offered; }
  // A new session began with `r` again, a report from the ledger (already sent).
  virtual void resent(const protocol::Report& r) { (void)r; }
  // The coordinator accepted a new session (each time one begins).
  virtual void online() {}

 protected:
  ~SessionPort() = default;
};

class Session {
 public:
  enum class State : std::uint8_t {
    kIdle,       // no hello yet
    kHelloSent,  // said hello (or was refused): waiting for a welcome
    kPending,    // welcomed as pending: an operator must accept this agent
    kOnline,     // welcomed as accepted: heartbeats, orders, reports
  };

  // What onOrder made of an order.
  struct OrderDecision {
    enum class Kind : std::uint8_t {
      kNotOnline,       // before an accepted welcome: ignored
      kBadCopy,         // a repeated order id whose copy does not verify: ignored, no report
      kRepeatQueued,    // a repeat of an order still waiting: its reports will follow
      kRepeatAnswered,  // a repeat: its latest report was sent again
      kRefused,         // failed verification: a refused report was sent (or held)
      kAccepted,        // verified: `order` is the owner's to run
    };
    Kind kind = Kind::kNotOnline;
    std::string order_id;           // from the still unverified body ("" if it does not decode)
    std::string note;               // for logs: the refusal or why a copy was ignored
    protocol::VerifiedOrder order;  // kAccepted only
  };

  // What became due in onTimer that only the owner can do.
  struct Due {
    bool reconnect = false;      // no new connection since it dropped: reconnect by hand
    bool fetch_expired = false;  // the download in hand passed its deadline and is over
  };

  Session() = default;

  // What the agent remembered across a restart (its journal): orders in hand
  // and finished, the highest sequence accepted per app, the live releases.
  void restore(OrderLedger ledger, std::map<std::string, std::uint64_t> sequences, protocol::StringMap releases);

  // ---- the connection
  // The first hello goes out at now + kFirstHelloFallback unless connected() comes first.
  void awaitConnection(common::SteadyTime now);
  // A new connection: the coordinator on the other end may not know it, so
  // say hello now, with the backoff reset.
  void connected(common::SteadyTime now, SessionPort& port);
  // The connection dropped: arm the reconnect check (if not armed).
  void disconnected(common::SteadyTime now, SessionPort& port);

  // ---- from the coordinator
  void onWelcome(const protocol::Welcome& w, common::SteadyTime now, SessionPort& port);
  // A fetch refusal ends the download in hand and returns the error to fail it
  // with (nothing when there is none); any other code ends the session: hello
  // again at once (not_enrolled, pending) or after kRefusedHelloDelay plus jitter.
  std::optional<Error> onRefusal(const protocol::Refusal& r, common::SteadyTime now, SessionPort& port);
  // `ctx` carries the keys, agent id and skew; the session fills in the time
  // and the app's highest sequence.
  OrderDecision onOrder(const protocol::SignedOrder& order, protocol::VerifyContext ctx, common::SysTime now,
                        SessionPort& port);
  // Counts a chunk into the download in hand and asks for more. kStale when
  // there is none or it is another's; an error ends the download.
  Result<FetchWindow::Fit> onChunk(const protocol::Chunk& c, SessionPort& port);

  // ---- from the owner's work
  // An order's progress: remembered in the ledger, sent, or held until a welcome.
  void report(const protocol::Report& r, SessionPort& port);
  // The worker's view of the host; a change is heartbeated at once when online.
  void updateState(protocol::StringMap releases, protocol::HealthMap health, std::string busy, common::SteadyTime now,
                   SessionPort& port);
  void setHealth(const std::string& app, protocol::HealthState h) { health_[app] = h; }
  void setBusy(std::string order_id) { busy_ = std::move(order_id); }
  // A heartbeat now, if online (the owner's state changed).
  void heartbeat(common::SteadyTime now, SessionPort& port);
  // Starts a download and sends its first requests; replaces any in hand.
  void beginFetch(std::string digest, std::uint64_t size, common::SteadyTime deadline, SessionPort& port);
  void abandonFetch() { fetch_.reset(); }

  // ---- time
  Due onTimer(common::SteadyTime now, SessionPort& port);
  // Earliest time onTimer has something to do; max() when nothing.
  common::SteadyTime nextDeadline() const;

  State state() const { return state_; }
  bool online() const { return state_ == State::kOnline; }
  bool everWelcomed() const { return ever_welcomed_; }
  bool fetching() const { return fetch_.has_value(); }
  const protocol::StringMap& releases() const { return releases_; }
  const protocol::HealthMap& health() const { return health_; }
  const std::string& busy() const { return busy_; }
  std::uint64_t highestSequence(const std::string& app) const;

 private:
  void sendHello(common::SteadyTime now, SessionPort& port);
  void sendHeartbeat(common::SteadyTime now, SessionPort& port);
  void sendReport(const protocol::Report& r, SessionPort& port);
  void onAccepted(SessionPort& port);
  void requestChunks(SessionPort& port);

  State state_ = State::kIdle;
  bool ever_welcomed_ = false;
  common::Millis heartbeat_interval_ = kDefaultHeartbeatInterval;
  common::Millis hello_backoff_ = kHelloBackoffMin;
  common::SteadyTime next_hello_ = common::SteadyTime::max();
  common::SteadyTime next_heartbeat_ = common::SteadyTime::max();
  common::SteadyTime reconnect_check_ = common::SteadyTime::max();
  protocol::StringMap releases_;  // app -> live version
  protocol::HealthMap health_;
  std::string busy_;                                // order id in hand, "" when idle
  std::map<std::string, std::uint64_t> sequences_;  // highest accepted order sequence per app
  OrderLedger ledger_;
  std::vector<protocol::Report> outbox_;  // reports waiting for a welcome, in order
  std::optional<FetchWindow> fetch_;
};

}  // namespace flotilla::agent
