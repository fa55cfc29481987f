#pragma once
// AlarmWatch: polls the alarms of coordinator.toml ([[policy.alarm]],
// alarm_policy.h) while a rollout they cover is active, and stops the covered
// rollouts when one fires. Each alarm is asked every `interval`, through its
// own PrometheusSource (a worker thread; the reactor never waits on HTTP),
// never twice at once: a slow Prometheus delays the next poll rather than
// queueing polls. An answer acts on the rollouts covered when it arrives:
// firing rolls back (or pauses) each that is still running, an unreadable
// source pauses (on_error = "pause") or is logged; each is an event of the
// rollout naming the alarm, through the same path as an operator's action
// (actor "policy").
//
// Constructed, called and destroyed on the reactor thread; the zmq context
// outlives it.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/active_rollout.h"
#include "flotilla/coordinator/alarm_policy.h"
#include "flotilla/coordinator/prometheus_source.h"

namespace flotilla::coordinator {

class AlarmWatch {
 public:
  struct Hooks {
    // The active rollouts now.
    std::function<std::vector<ActiveRollout*>()> rollouts;
    // Records the action taken on `r` (ControlContext::operatorActed).
    std::function<void(ActiveRollout& r, const std::string& kind, const std::string& message, const std::string& actor)>
        acted;
  };
  AlarmWatch(zmq::context_t& ctx, const common::Clock& clock, std::vector<AlarmPolicy> alarms, Hooks hooks);

  bool empty() const { return alarms_.empty(); }
  // Sends the queries of alarms that are due and cover an active rollout.
  void tick(common::SteadyTime now);
  // When tick() next has something to send; nullopt: nothing is watched.
  std::optional<common::SteadyTime> nextDue() const;
  zmq::socket_t& socket() { return source_->socket(); }  // poll for ZMQ_POLLIN, then drain()
  // Acts on the answers that arrived.
  void drain();

 private:
  struct Watched {
    AlarmPolicy policy;
    common::SteadyTime next_due{};
    bool in_flight = false;
  };
  bool coversActive(const AlarmPolicy& alarm) const;
  void act(const AlarmPolicy& alarm, const AlarmDecision& d);

  const common::Clock& clock_;
  std::vector<Watched> alarms_;
  Hooks hooks_;
  std::unique_ptr<PrometheusSource> source_;
};

}  // namespace flotilla::coordinator
