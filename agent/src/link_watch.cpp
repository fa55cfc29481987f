#include "flotilla/agent/link_watch.h"

#include <zmq.h>

namespace flotilla::agent {

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
