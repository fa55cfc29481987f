#pragma once
// Which coordinator endpoint the agent's socket dials, and when it moves to
// another (issue 12, docs/ha.md "Agents and consoles"). The agent dials one
// endpoint of its list at a time. It moves:
//  - when a standby answers not_leader: to the leader it names (see
//    protocol/endpoint_list.h for which names are followed), else to the next
//    endpoint; the first move after a session is immediate;
//  - when the session with the current endpoint is lost (the connection
//    dropped) and no new one began within kLostPatience plus jitter;
//  - when, after a move, no CURVE handshake came within kConnectPatience, or
//    no welcome within kWelcomePatience of the handshake.
// An endpoint left that way is unreachable for kUnreachableFor: moves skip
// it, and a not_leader naming it (a standby that still sees the dead leader's
// lease) is treated as naming nobody. When every other endpoint is
// unreachable the agent dials the same endpoint again, so agents wait at the
// standby that is about to lead instead of knocking at a dead leader.
// Once every endpoint was tried without a welcome, each further move waits
// longer: kSwitchBackoffMin doubling up to kSwitchBackoffMax, plus up to half
// of it again as jitter, so a fleet that lost its leader spreads out instead
// of cycling through the standbys in lockstep. A welcome ends the search.
//
// With a single endpoint and no leader named elsewhere, it never moves on its
// own: the session's reconnect check (session.h) redials as before.
//
// Pure: no sockets; the owner passes `now`, calls onTimer() when
// nextDeadline() passes and dials what it returns. Jitter comes from the
// function given at construction. One thread: the agent's reactor.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/protocol/endpoint_list.h"

namespace flotilla::agent {

inline constexpr common::Millis kLostPatience{2000};
inline constexpr common::Millis kLostJitter{2000};
inline constexpr common::Millis kConnectPatience{3000};
inline constexpr common::Millis kWelcomePatience{10000};
inline constexpr common::Millis kUnreachableFor{5000};
inline constexpr common::Millis kSwitchBackoffMin{500};
inline constexpr common::Millis kSwitchBackoffMax{5000};

class EndpointFailover {
 public:
  // A uniformly random duration in [0, max].
  using Jitter = std::function<common::Millis(common::Millis max)>;

  EndpointFailover(std::vector<std::string> endpoints, Jitter jitter);

  const std::string& current() const { return list_.current(); }
  const protocol::EndpointList& list() const { return list_; }

  // The socket dialled current() for the first time.
  void start(common::SteadyTime now);
  // A CURVE handshake with current() succeeded.
  void linkUp(common::SteadyTime now);
  // The connection to current() dropped.
  void lost(common::SteadyTime now);
  // A welcome (accepted or pending): current() leads; stop searching.
  void welcomed();
  // A not_leader refusal naming `leader` ("" = unknown).
  void notLeader(const std::string& leader, common::SteadyTime now);

  // The endpoint to dial now instead of the current one (possibly the same
  // one again), if a move is due.
  std::optional<std::string> onTimer(common::SteadyTime now);
  // When onTimer has something to do; max() when nothing.
  common::SteadyTime nextDeadline() const { return move_at_; }
  // Moves since the last welcome.
  int moves() const { return moves_; }

 private:
  // Whether there is anywhere else to go than current().
  bool hasAlternative() const { return list_.size() > 1 || !list_.onList(); }
  bool unreachable(const std::string& endpoint, common::SteadyTime now) const;
  // Moves the list to where the next dial goes.
  void choose(common::SteadyTime now);
  // The extra wait before the next move: nothing during the first round of the list.
  common::Millis backoff();

  protocol::EndpointList list_;
  Jitter jitter_;
  common::SteadyTime move_at_ = common::SteadyTime::max();
  std::optional<std::string> redirect_;  // the leader a not_leader named, for the next move
  bool searching_ = true;                // no welcome from current() yet
  int moves_ = 0;
  std::map<std::string, common::SteadyTime> unreachable_until_;
};

}  // namespace flotilla::agent
