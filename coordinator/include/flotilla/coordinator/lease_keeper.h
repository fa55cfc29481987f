#pragma once
// The leader's side of the leadership lease (leadership_lease.h, docs/ha.md):
// renews it on a thread of its own, over a connection of its own, so a busy
// reactor never delays a renewal, and says whether the reactor may still send
// orders.
//
// The leader keeps a local deadline on the steady clock: the time the last
// successful renew statement was SENT, plus the lease TTL, minus a margin.
// The database computed that lease's expiry from its own clock when the
// statement arrived, later than it was sent, so the local deadline always
// falls before any standby can see the lease expired, whatever the two
// machines' wall clocks say. mayOrder() is false from that deadline on.
//
// Leadership is lost (once, for good) when a renewal fails or finds the lease
// taken, or when the deadline passes while a renewal hangs (a watchdog thread
// sees to that). From that instant mayOrder() is false; the keeper logs
// "leadership lost at epoch N: why", lets the lease expire if it still can
// (release) and calls `on_lost` (from one of its threads), after which the
// owner stops and starts again as a standby (main.cpp re-executes itself).
// A failed renewal is not retried: a leader that cannot reach the database
// stops at once rather than hoping, and the lease's fencing keeps what it
// might still try to write out of the store.
//
// mayOrder(), epoch(), lost() and holder() may be called from any thread;
// start() and stop() from the owner's.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/leadership_lease.h"

namespace flotilla::coordinator {

// What the reactor asks of leadership before it sends an order. Without a
// lease (SQLite store) there is none: epoch 0, always may order.
class Leadership {
 public:
  virtual ~Leadership() = default;
  virtual std::uint64_t epoch() const = 0;
  virtual bool mayOrder() const = 0;
};

struct LeaseTiming {
  common::Millis ttl{std::chrono::seconds(10)};
  common::Millis renew_every{std::chrono::milliseconds(3333)};
  // Subtracted from the lease's end for the local deadline: covers clock
  // rate differences and the reactor's time to notice.
  common::Millis margin() const { return ttl / 5; }
};

// The local deadline of a lease whose renew statement was sent at `sent`.
inline common::SteadyTime leaseDeadline(common::SteadyTime sent, const LeaseTiming& t) {
  return sent + t.ttl - t.margin();
}

class LeaseKeeper final : public Leadership {
 public:
  // `sent` is when the statement that took the lease in `epoch` was sent: the
  // first deadline counts from it.
  LeaseKeeper(std::unique_ptr<LeadershipLease> lease, LeaseHolder me, std::uint64_t epoch, common::SteadyTime sent,
              LeaseTiming timing, const common::Clock& clock, std::function<void()> on_lost);
  ~LeaseKeeper() override;

  void start();
  // Stops the threads; releases the lease when it is still held (a clean
  // stop hands over at once instead of after a TTL).
  void stop();

  std::uint64_t epoch() const override { return epoch_; }
  bool mayOrder() const override;
  bool lost() const { return lost_.load(); }
  const std::string& holder() const { return me_.id; }

 private:
  void renewLoop();
  void watchdogLoop();
  void lose(const std::string& why);

  std::unique_ptr<LeadershipLease> lease_;  // renewLoop's, then stop()'s
  const LeaseHolder me_;
  const std::uint64_t epoch_;
  const LeaseTiming timing_;
  const common::Clock& clock_;
  std::function<void()> on_lost_;
  std::atomic<std::int64_t> deadline_ns_;  // steady clock, since its epoch
  std::atomic<bool> lost_{false};
  std::mutex mu_;  // guards stopping_; with cv_, wakes both loops
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread renewer_;
  std::thread watchdog_;
};

}  // namespace flotilla::coordinator
