#include "flotilla/agent/link_watch.h"

#include <zmq.h>

#include <algorithm>

namespace flotilla::agent {

ZmtpHeartbeat zmtpHeartbeat(std::optional<common::Millis> link_timeout, std::size_t endpoints) {
  const common::Millis total = link_timeout.value_or(endpoints > 1 ? kLinkTimeoutSeveral : kLinkTimeoutOne);
  const auto interval = std::min<std::int64_t>(10000, total.count() / 2);
  return {static_cast<int>(interval), static_cast<int>(total.count() - interval)};
}

void LinkWatch::onEvent(std::uint16_t id, EndpointFailover& failover, common::SteadyTime now, Outcome& batch) {
  if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
    batch.connected = true;
    batch.dropped_after = false;
    up_ = true;
    failover.linkUp(now);
  } else if (id == ZMQ_EVENT_DISCONNECTED) {
    // Only the connection in use counts: one left by a redial is already gone.
    if (up_) failover.lost(now);
    up_ = false;
    if (batch.connected)
      batch.dropped_after = true;
    else
      batch.dropped_first = true;
  }
}

}  // namespace flotilla::agent
