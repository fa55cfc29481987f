#pragma once
// Notifier: the [[notify]] targets of coordinator.toml, one NotifyWorker (and
// thread) each, and their part of /metrics. Built and started by the Server
// after the store is open; the reactor only reads the counters, once a second,
// for the live gauges. Nothing here ever waits on a receiver on the reactor's
// thread.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/notify_worker.h"

namespace flotilla::coordinator {

class Notifier {
 public:
  // Cursors are kept in `cursor_dir`, in notify-<target name>.cursor;
  // `start_seq` is where a target without one starts (the log's end now).
  Notifier(const std::vector<NotifyTarget>& targets, const StoreOptions& store, const std::filesystem::path& cursor_dir,
           std::int64_t start_seq, const common::Clock& clock);

  void start();
  void stop();

  // The flotilla_notify_* families in Prometheus text.
  std::string renderMetrics() const;

 private:
  std::vector<std::unique_ptr<NotifyWorker>> workers_;
};

struct NotifyTargetCounters {
  std::string target;
  NotifyWorker::Counters counters;
};
std::string renderNotifyMetrics(const std::vector<NotifyTargetCounters>& targets);

}  // namespace flotilla::coordinator
