#pragma once
// The agent's own binary as an app (docs/operations.md "Upgrading the agent"):
// what the agent and the coordinator must agree on about a self-upgrade.
// The agent tries the new binary for handoverTrial(), then hands over to it in
// the same process; the old agent's watchdog ends a new agent that has not
// reported within handoverDeadline(). The coordinator does not count a host lost
// while it hands over (it is silent on purpose) before handoverSilence().

#include <algorithm>
#include <chrono>

#include "flotilla/common/clock.h"

namespace flotilla::protocol {

inline constexpr const char* kAgentApp = "flotilla-agent";

// How long the new binary's trial (selftest) may take: the plan's health deadline, at least 5 s.
inline common::Millis handoverTrial(common::Millis health_deadline) {
  return std::max<common::Millis>(health_deadline, std::chrono::seconds(5));
}

// How long after the trial the new agent has to report before the old agent's
// watchdog stops it: twice the trial, at least 10 s.
inline common::Millis handoverDeadline(common::Millis trial) {
  return std::max<common::Millis>(2 * trial, std::chrono::seconds(10));
}

// How long a host may be silent from the start of its trial: the trial, then
// the watchdog's deadline. What the coordinator waits before it counts the
// host lost.
inline common::Millis handoverSilence(common::Millis health_deadline) {
  const auto trial = handoverTrial(health_deadline);
  return trial + handoverDeadline(trial);
}

}  // namespace flotilla::protocol
