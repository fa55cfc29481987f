#include "flotilla/coordinator/notify_queue.h"

#include <algorithm>

namespace flotilla::coordinator {

common::Millis backoffDelay(unsigned failures, double jitter, common::Millis base, common::Millis cap) {
  common::Millis d = base;
  for (unsigned i = 1; i < failures && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  jitter = std::clamp(jitter, 0.0, 1.0);
  const auto half = d.count() / 2;
  return common::Millis(half + static_cast<common::Millis::rep>(static_cast<double>(d.count() - half) * jitter));
}

bool NotifyQueue::push(Item item) {
  scanned_ = std::max(scanned_, item.seq);
  bool dropped = false;
  if (items_.size() >= capacity_) {
    pop();
    dropped = true;
  }
  items_.push_back(std::move(item));
  return dropped;
}

void NotifyQueue::scanned(std::int64_t seq) { scanned_ = std::max(scanned_, seq); }

const NotifyQueue::Item* NotifyQueue::due(common::SteadyTime now) const {
  if (items_.empty() || (retry_at_ && now < *retry_at_)) return nullptr;
  return &items_.front();
}

std::optional<common::SteadyTime> NotifyQueue::nextAttempt() const {
  if (items_.empty()) return std::nullopt;
  return retry_at_ ? *retry_at_ : common::SteadyTime::min();
}

void NotifyQueue::pop() {
  if (!items_.empty()) items_.pop_front();
  failures_ = 0;
  retry_at_.reset();
}

void NotifyQueue::failed(common::SteadyTime now, double jitter) {
  ++failures_;
  retry_at_ = now + backoffDelay(failures_, jitter);
}

}  // namespace flotilla::coordinator
