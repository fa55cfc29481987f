#pragma once
// NotifyWorker: delivers one [[notify]] target's notifications from a thread
// of its own, never the reactor's, so a slow or dead receiver never holds up a
// rollout (docs/notifications.md).
//
// The store is the queue's source: the worker opens its own read-only
// connection (as HttpEndpoint does) and reads the event log after a cursor it
// keeps in a file beside the store, so events recorded while the receiver is
// down, or while the coordinator is stopped, are still sent once it is back.
// Delivery is head-of-line: one event at a time, in event order, retried with
// backoff (NotifyQueue) until the receiver answers 2xx. The cursor is written
// after each delivery. At least once, in order, never exactly once: an attempt
// that timed out after the receiver took it, one cut by stop(), and a crash
// between a delivery and the cursor's write all send the event again, which
// the receiver sees by its X-Flotilla-Event-Id.
//
// Thread: start() and stop() from the owner's thread; counters() from any.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/notify_config.h"
#include "flotilla/coordinator/notify_queue.h"
#include "flotilla/coordinator/store.h"

namespace httplib {
class Client;
}

namespace flotilla::coordinator {

class NotifyWorker {
 public:
  struct Counters {
    std::uint64_t delivered = 0;
    std::uint64_t failed_attempts = 0;  // attempts that got no 2xx (each retry counts)
    std::uint64_t dropped = 0;          // given up: the queue overflowed, or the receiver refused one for good
    std::size_t queue_depth = 0;
  };

  // `cursor_file` keeps the cursor across restarts; without one, the worker
  // starts after `start_seq` (the log's end when the coordinator started).
  // `store` (storeOptions(config)) is only ever opened read-only.
  NotifyWorker(NotifyTarget target, StoreOptions store, std::filesystem::path cursor_file, std::int64_t start_seq,
               const common::Clock& clock);
  ~NotifyWorker();
  NotifyWorker(const NotifyWorker&) = delete;
  NotifyWorker& operator=(const NotifyWorker&) = delete;

  void start();
  // Ends the thread, cutting short an attempt in flight (it is retried after a
  // restart). Waits at most for a connection being opened (the target's
  // timeout) and the cursor's write.
  void stop();

  const NotifyTarget& target() const { return target_; }
  Counters counters() const;

 private:
  void run();
  // Queues the wanted events after the last one read; returns how many old ones that dropped.
  std::size_t readLog(NotifyQueue& queue);
  // With the store just opened: a cursor past the log's end starts again at
  // its end. False when the store does not answer (it is closed again).
  bool checkCursor(NotifyQueue& queue);
  bool wanted(const EventRecord& e, const RolloutRecord& r) const;
  const RolloutRecord* rolloutOf(const std::string& id);
  // One attempt at the head, the first failure in a row logged as a warning:
  // taken (2xx), refused for good (a 4xx other than 408 and 429) or to retry.
  enum class Outcome { kDelivered, kRefused, kFailed };
  Outcome attempt(const NotifyQueue::Item& item, unsigned failures);
  void saveCursor(std::int64_t cursor);
  void wait(const NotifyQueue& queue);

  const NotifyTarget target_;
  const StoreOptions store_options_;  // read-only
  const std::filesystem::path cursor_file_;
  const std::int64_t start_seq_;
  const common::Clock& clock_;
  std::unique_ptr<Store> store_;                    // worker thread only; null until opened or after an error
  std::map<std::string, RolloutRecord> rollouts_;   // worker thread only: app and version by rollout id
  std::int64_t saved_cursor_ = -1;                  // worker thread only
  std::mt19937_64 jitter_{std::random_device{}()};  // worker thread only

  std::thread thread_;
  mutable std::mutex mu_;  // guards stopping_, finished_, client_ and counters_
  std::condition_variable wake_;
  bool stopping_ = false;
  bool finished_ = false;              // run() has returned
  httplib::Client* client_ = nullptr;  // the attempt in flight, for stop() to cut short
  Counters counters_;
};

}  // namespace flotilla::coordinator
