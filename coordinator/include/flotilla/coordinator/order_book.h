#pragma once
// OrderBook: the orders the coordinator sent and that are not finished, and
// the outbox of orders waiting to leave.
//
// An order is opened (registered by id and under its agent), queued (its body
// built and put in the outbox; queued again, with the same id and sequence, when
// its agent reconnects or stays silent, so the agent recognises a repeat), and
// closed when its agent reports a terminal phase or its rollout ends. Orders
// leave only after the store transaction recording them commits: the caller
// takes the outbox after the commit and signs it (order_signing.h).
//
// Sequences for a batch of orders of one app are reserved with one store
// statement; take() hands them out until the batch ends.
//
// Every operation is O(1) or O(log n) in the orders of one agent, except
// dueForRetry() and ofRollout(), which walk all open orders and run once a
// second or once per finished rollout. Pure: time comes in as `now`. Reactor
// thread only.

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::coordinator {

// An order sent and not finished.
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

// What an order of a release carries besides its identity.
struct ReleaseData {
  std::shared_ptr<const std::string> spec;  // msgpack OrderSpec; never null
  std::string digest, signature;
  std::uint64_t size = 0;
  // An artifact an HTTP store serves (plan artifact.url): agents fetch it
  // there, checked with `digest_algorithm`. "" = from the coordinator.
  std::string url;
  common::DigestAlgorithm digest_algorithm = common::DigestAlgorithm::kBlake2b256;
};
// Fills url and digest_algorithm from the plan the release was deployed with.
void setArtifactSource(ReleaseData& data, const protocol::Plan& plan);

// An order in the outbox: built, not yet signed.
struct OutgoingOrder {
  std::string agent_id;
  protocol::OrderBody body;
  std::shared_ptr<const std::string> spec;
};

class OrderBook {
 public:
  // Registers `ref`; its id is "ROLLOUT/AGENT/SEQUENCE" unless `order_id` is given.
  std::string open(OrderRef ref, std::string order_id = {});
  void close(const std::string& order_id);
  OrderRef* find(const std::string& order_id);
  std::size_t size() const { return orders_.size(); }

  // Ids of the open orders of agent `agent_id` (empty when none).
  const std::set<std::string>& ofAgent(const std::string& agent_id) const;
  // True when the agent has an open order for `app`.
  bool busyWith(const std::string& agent_id, const std::string& app) const;
  // Open orders of a rollout, convergence orders excepted.
  std::vector<std::string> ofRollout(const std::string& rollout_id) const;
  // Orders not reported and last sent `retry` or longer ago.
  std::vector<std::string> dueForRetry(common::SteadyTime now, common::Millis retry) const;

  // Builds order `order_id`'s body with `release` and puts it in the outbox;
  // its last_sent becomes `now`. Ignores an unknown id.
  void queue(const std::string& order_id, const ReleaseData& release, common::SteadyTime now);
  std::vector<OutgoingOrder> takeOutbox() { return std::move(outbox_); }
  bool outboxEmpty() const { return outbox_.empty(); }

  // Sequences [first, end) of `app` reserved for one batch of actions.
  void reserve(const std::string& app, std::uint64_t first, std::uint64_t end);
  // The next reserved sequence of `app`, or nullopt when none is left.
  std::optional<std::uint64_t> takeReserved(const std::string& app);
  // Unused reservations are dropped: a later sequence from the store is above
  // them, and a sequence never goes back.
  void endReservation() { seq_next_ = seq_end_ = 0; }

 private:
  std::unordered_map<std::string, OrderRef> orders_;                 // by order id
  std::unordered_map<std::string, std::set<std::string>> by_agent_;  // agent id -> its order ids
  std::vector<OutgoingOrder> outbox_;
  std::string seq_app_;
  std::uint64_t seq_next_ = 0, seq_end_ = 0;
};

}  // namespace flotilla::coordinator
