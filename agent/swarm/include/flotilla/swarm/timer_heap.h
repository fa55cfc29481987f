#pragma once
// A min-heap of per-slot deadlines for one reactor: each slot (a simulated
// agent, by index) has at most one live deadline. Rescheduling a slot pushes a
// new entry and leaves the old one in the heap; entries that no longer match
// the slot's current deadline are skipped when they surface (lazy deletion),
// so schedule() and popDue() are O(log n) with no search.
//
// Not thread-safe: owned by the reactor thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

#include "flotilla/common/clock.h"

namespace flotilla::swarm {

class TimerHeap {
 public:
  explicit TimerHeap(std::size_t slots = 0) : current_(slots, kNone) {}

  void resize(std::size_t slots) { current_.resize(slots, kNone); }

  // Sets slot's deadline to `at`, replacing any earlier one.
  void schedule(std::size_t slot, common::SteadyTime at) {
    current_[slot] = at;
    heap_.push(Entry{at, slot});
  }
  void cancel(std::size_t slot) { current_[slot] = kNone; }

  // The earliest live deadline, if any.
  std::optional<common::SteadyTime> next() {
    dropStale();
    if (heap_.empty()) return std::nullopt;
    return heap_.top().at;
  }

  // Removes and returns one slot whose deadline is <= now (its deadline is
  // cleared: the caller reschedules it), or nothing when none is due.
  std::optional<std::size_t> popDue(common::SteadyTime now) {
    dropStale();
    if (heap_.empty() || heap_.top().at > now) return std::nullopt;
    const std::size_t slot = heap_.top().slot;
    heap_.pop();
    current_[slot] = kNone;
    return slot;
  }

  std::size_t entries() const { return heap_.size(); }

 private:
  static constexpr common::SteadyTime kNone = common::SteadyTime::max();
  struct Entry {
    common::SteadyTime at;
    std::size_t slot;
    bool operator>(const Entry& o) const { return at > o.at; }
  };

  void dropStale() {
    while (!heap_.empty() && current_[heap_.top().slot] != heap_.top().at) heap_.pop();
  }

  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  std::vector<common::SteadyTime> current_;
};

}  // namespace flotilla::swarm
