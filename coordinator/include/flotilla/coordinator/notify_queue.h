#pragma once
// NotifyQueue: one webhook target's notifications waiting to be delivered, in
// event order, and the retry schedule of the one at the head. Pure: the worker
// (notify_worker.h) says what happened and when; tested with a fake clock.
//
// - Bounded: pushing onto a full queue drops the oldest notification (the one
//   that has waited longest; the newest say where rollouts are now) and counts it.
// - Head of line: only the head is attempted, so a receiver gets events in
//   order; after a failure it is retried after backoffDelay(), the others wait.
// - Cursor: the last event sequence number a restarted worker need not read
//   again (everything up to it was delivered, dropped or not for this target).
//
// Not thread-safe: owned by one worker thread.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/notify_message.h"

namespace flotilla::coordinator {

inline constexpr common::Millis kNotifyRetryBase{std::chrono::milliseconds(500)};
inline constexpr common::Millis kNotifyRetryCap{std::chrono::seconds(60)};

// The wait after `failures` (>= 1) failed attempts in a row: base * 2^(failures-1)
// capped at `cap`, then jittered into [d/2, d) by `jitter` in [0, 1) ("equal
// jitter": targets that failed together do not retry together).
common::Millis backoffDelay(unsigned failures, double jitter, common::Millis base = kNotifyRetryBase,
                            common::Millis cap = kNotifyRetryCap);

class NotifyQueue {
 public:
  struct Item {
    std::int64_t seq = 0;
    Notification notification;
  };

  NotifyQueue(std::size_t capacity, std::int64_t cursor) : capacity_(capacity), scanned_(cursor) {}

  // Appends the notification for event `seq` (read in order); returns true
  // when the queue was full and the oldest was dropped to make room.
  bool push(Item item);
  // Every event up to `seq` has been read (pushed or not for this target).
  void scanned(std::int64_t seq);
  std::int64_t lastScanned() const { return scanned_; }

  // The head, when its (next) attempt is due at `now`.
  const Item* due(common::SteadyTime now) const;
  // When the head's next attempt is due; nullopt when empty.
  std::optional<common::SteadyTime> nextAttempt() const;

  // The head was delivered (or refused for good: give up): it leaves the queue.
  void pop();
  // The head's attempt at `now` failed; it is retried after backoffDelay(failures, jitter).
  void failed(common::SteadyTime now, double jitter);

  std::size_t size() const { return items_.size(); }
  unsigned failures() const { return failures_; }
  std::int64_t cursor() const { return items_.empty() ? scanned_ : items_.front().seq - 1; }

 private:
  std::size_t capacity_;
  std::int64_t scanned_;
  std::deque<Item> items_;
  unsigned failures_ = 0;                       // failed attempts of the head, in a row
  std::optional<common::SteadyTime> retry_at_;  // the head's next attempt; nullopt = now
};

}  // namespace flotilla::coordinator
