#pragma once
// AgentRegistry: every agent the coordinator knows, by id and by the routing id
// of its current connection, with its enrolment state and liveness.
//
// It decides, without I/O: whether a hello is admitted (and what the refusal
// says when not), whether a later message comes from an enrolled session, what
// an operator's accept/reject/revoke does, and which agents went silent (time
// comes in as `now`). The caller persists records, answers on the socket and
// tells rollouts; join tokens are checked through a callback (they live in
// the store).
//
// Lookups are O(1) by hash; only the once-a-second sweep and the listings walk
// every agent. Agents' addresses are stable (node-based map). Reactor thread only.

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::coordinator {

// Enrolment state (protocol/words.h), stored as its name in AgentRecord::state.
using AgentState = protocol::AgentState;

struct Agent {
  AgentRecord record;  // record.state is toString(state)
  AgentState state = AgentState::kPending;
  std::string routing_id;  // current connection; empty when offline
  bool online = false;
  common::SteadyTime last_seen{};
  // Handing over to a new agent binary (protocol/agent_app.h): silent on
  // purpose, so not counted lost before this.
  common::SteadyTime handover_until{};
  // Known from the store when the coordinator started (a restart, or a
  // standby taking over) and not back since: until this time it is expected
  // back, so an order to it is held for it rather than counted unreachable.
  common::SteadyTime rejoin_until{};
  std::map<std::string, std::string> health;  // app -> state
  std::string busy;

  void setState(AgentState s) {
    state = s;
    record.state = toString(s);
  }
  bool denied() const { return state == AgentState::kRejected || state == AgentState::kRevoked; }
  // What `flotilla agents` and /metrics call it: online, lost, pending, rejected, revoked.
  std::string displayState() const;
};

// An agent admitted, or the refusal to answer with.
struct Admission {
  Agent* agent = nullptr;  // null when refused
  protocol::Refusal refusal;
  explicit operator bool() const { return agent != nullptr; }
};

class AgentRegistry {
 public:
  // Returns true when `token` (as the agent sent it) is a valid join token; uses it up.
  using UseToken = std::function<bool(const std::string& token)>;

  // The agents in the store, at start, each expected back until `rejoin_until`
  // (Agent::rejoin_until). A record whose state is not a known name is kept as
  // pending.
  void load(std::vector<AgentRecord> records, common::SteadyTime rejoin_until = {});

  Agent* find(const std::string& id);
  const Agent* find(const std::string& id) const;
  // The agent whose current connection is `routing_id`, or null.
  Agent* byRouting(const std::string& routing_id);
  // A revoked or rejected CURVE key (hex): turned away at the handshake, its messages dropped.
  bool deniedKey(const std::string& key) const { return denied_keys_.count(key) > 0; }

  // A hello on connection `routing_id` from CURVE key `key`: the refusal, or
  // the agent, now routed to that connection with its labels, releases and
  // last-seen updated. A pending agent with a valid join token becomes
  // accepted. `online` is left to the caller.
  Admission hello(const std::string& routing_id, const std::string& key, const protocol::Hello& m, std::int64_t now_ms,
                  common::SteadyTime now, const UseToken& use_token);
  // A message other than hello: the accepted agent of this session, or the
  // refusal to answer with (pending, or not enrolled).
  Admission session(const std::string& routing_id, const std::string& key);

  // An operator moves agent `id` to `to`. Accepting and rejecting need a
  // pending agent (kConflict otherwise); an unknown id is kNotFound. A
  // rejected or revoked agent loses its connection and its key is denied;
  // `online` is left to the caller (who marks it lost).
  Result<Agent*> decide(const std::string& id, AgentState to);

  // Online agents not heard from for longer than `expiry`.
  std::vector<Agent*> silentSince(common::SteadyTime now, common::Millis expiry);
  // Whether `a` is offline but still expected back (Agent::rejoin_until).
  static bool awaited(const Agent& a, common::SteadyTime now) { return !a.online && now < a.rejoin_until; }
  // Accepted agents loaded at start that did not come back by their
  // rejoin_until: each returned once (then no longer awaited).
  std::vector<Agent*> notBack(common::SteadyTime now);

  // Every agent, sorted by id.
  std::vector<const Agent*> sorted() const;
  // Accepted agents whose labels match `target`, in no particular order.
  std::vector<const Agent*> accepted(const std::map<std::string, std::string>& target) const;
  // Agents by displayState(); every state present.
  std::map<std::string, std::size_t> countByState() const;

 private:
  std::unordered_map<std::string, Agent> agents_;    // by agent id
  std::unordered_map<std::string, Agent*> routing_;  // routing id -> its agent
  std::unordered_set<std::string> denied_keys_;      // revoked or rejected CURVE keys (hex)
};

}  // namespace flotilla::coordinator
