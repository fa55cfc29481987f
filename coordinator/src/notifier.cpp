#include "flotilla/coordinator/notifier.h"

#include "flotilla/coordinator/prometheus_writer.h"

namespace flotilla::coordinator {

Notifier::Notifier(const std::vector<NotifyTarget>& targets, const StoreOptions& store,
                   const std::filesystem::path& cursor_dir, std::int64_t start_seq, const common::Clock& clock) {
  for (const auto& t : targets)
    workers_.push_back(
        std::make_unique<NotifyWorker>(t, store, cursor_dir / ("notify-" + t.name + ".cursor"), start_seq, clock));
}

void Notifier::start() {
  for (auto& w : workers_) w->start();
}

void Notifier::stop() {
  for (auto& w : workers_) w->stop();
}

std::string Notifier::renderMetrics() const {
  std::vector<NotifyTargetCounters> all;
  for (const auto& w : workers_) all.push_back({w->target().name, w->counters()});
  return renderNotifyMetrics(all);
}

std::string renderNotifyMetrics(const std::vector<NotifyTargetCounters>& targets) {
  if (targets.empty()) return "";
  PrometheusWriter w;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    w.family(name, type, help);
    for (const auto& t : targets) w.sample(name, {{"target", t.target}}, static_cast<std::uint64_t>(value(t.counters)));
  };
  using C = NotifyWorker::Counters;
  family("flotilla_notify_delivered_total", "counter", "Notifications a webhook target accepted (2xx).",
         [](const C& c) { return c.delivered; });
  family("flotilla_notify_failed_attempts_total", "counter",
         "Delivery attempts that got no 2xx (connection error, timeout, 408, 429, 5xx); each retry counts.",
         [](const C& c) { return c.failed_attempts; });
  family("flotilla_notify_dropped_total", "counter",
         "Notifications given up: the target's queue was full (oldest dropped) or it refused one with a 4xx.",
         [](const C& c) { return c.dropped; });
  family("flotilla_notify_queue_depth", "gauge",
         "Notifications waiting for the target, the one being retried included.",
         [](const C& c) { return c.queue_depth; });
  return w.take();
}

}  // namespace flotilla::coordinator
