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
// zmtpHeartbeat() is how the owner sets ZMQ_HEARTBEAT_IVL and
// ZMQ_HEARTBEAT_TIMEOUT from agent.toml's [coordinator] link_timeout: the
// longest a connection may stay silent (the coordinator paused, its host
// frozen, the network partitioned: TCP says nothing) before it counts as
// dropped. libzmq sends a PING every interval and drops the connection when
// nothing at all arrives within the timeout after one, so silence is noticed
// within interval + timeout = link_timeout. Every PING is a CURVE message the
// coordinator's I/O threads answer: from the figures of docs/performance.md
// ("ZMTP heartbeats"), 10,000 agents at a 5 s interval cost it 1-2.5% of a
// core more than at 10 s.
//
// Pure: no sockets. One thread: the owner's reactor.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "flotilla/agent/endpoint_failover.h"
#include "flotilla/common/clock.h"

namespace flotilla::agent {

// With several endpoints a silent leader is noticed within 10 s, so the agent
// moves on to the one that took over; with one there is nowhere else to go,
// and 40 s (PINGs every 10 s) keeps the fleet's PINGs few.
inline constexpr common::Millis kLinkTimeoutOne{40000};
inline constexpr common::Millis kLinkTimeoutSeveral{10000};

struct ZmtpHeartbeat {
  int interval_ms = 0;  // ZMQ_HEARTBEAT_IVL
  int timeout_ms = 0;   // ZMQ_HEARTBEAT_TIMEOUT
};

// link_timeout as configured, or the default for `endpoints` endpoints. The
// interval is half of it, at most 10 s; the timeout is the rest.
ZmtpHeartbeat zmtpHeartbeat(std::optional<common::Millis> link_timeout, std::size_t endpoints);

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
