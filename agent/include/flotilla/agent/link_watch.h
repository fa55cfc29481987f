#pragma once
// What the socket monitor of the coordinator connection says, for the
// session and the endpoint failover: shared by flotilla-agent and
// flotilla-swarm, so the swarm notices a dead leader the way the agent does.
//
// The owner monitors its DEALER for ZMQ_EVENT_HANDSHAKE_SUCCEEDED and
// ZMQ_EVENT_DISCONNECTED (SIGKILLed coordinator: the TCP connection is reset;
// a silent one, SIGSTOPped: no ZMTP PONG within ZMQ_HEARTBEAT_TIMEOUT), feeds
// each event of a batch to onEvent() in order, then tells its session what
// the batch's Outcome says. A handshake is a link up (the failover waits for
// a welcome); a drop of the connection in use is a lost session (the failover
// moves on if no new one comes); a drop of a connection left by a redial
// counts for the session only.
//
// Pure: no sockets. One thread: the owner's reactor.

#include <cstdint>

#include "flotilla/agent/endpoint_failover.h"
#include "flotilla/common/clock.h"

namespace flotilla::agent {

class LinkWatch {
 public:
  // What the owner's session must hear after a batch, in this order.
  struct Outcome {
    bool dropped_first = false;  // a drop before the batch's first handshake: Session::disconnected()
    bool connected = false;      // a handshake: Session::connected() (hello again)
    bool dropped_after = false;  // a drop after the batch's last handshake: Session::disconnected()
  };

  // One monitor event (its ZMQ_EVENT_* id); other ids are ignored.
  void onEvent(std::uint16_t id, EndpointFailover& failover, common::SteadyTime now, Outcome& batch);
  // The socket was redialled: the connection it left no longer counts.
  void redialled() { up_ = false; }
  // A handshake succeeded and the connection has not dropped since.
  bool up() const { return up_; }

 private:
  bool up_ = false;
};

}  // namespace flotilla::agent
