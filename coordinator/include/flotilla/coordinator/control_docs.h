#pragma once
// The documents of the control protocol (protocol/control.h) made from the
// coordinator's state: a rollout's status, an event, a history entry, an
// agent. Pure: state and `now` in, document out.

#include <cstdint>
#include <optional>
#include <string>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/active_rollout.h"
#include "flotilla/coordinator/agent_registry.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/protocol/control.h"

namespace flotilla::coordinator {

// RFC 3339 of a unix time in ms, or nullopt when 0 (not yet).
std::optional<std::string> timeOrNull(std::int64_t ms);

protocol::control::RolloutStatus statusDoc(const ActiveRollout& r, bool with_hosts, common::SteadyTime now);
// What `r` waits for, for people: its engine's gate, or its approvals while it awaits them.
std::string gateOf(const ActiveRollout& r, common::SteadyTime now);
// A finished rollout, from its stored record and the snapshot taken when it was last saved.
protocol::control::RolloutStatus finishedStatusDoc(const RolloutRecord& rec);
protocol::control::EventDoc eventDoc(const EventRecord& e);
protocol::control::HistoryEntry historyEntry(const RolloutRecord& r);
protocol::control::AgentDoc agentDoc(const Agent& a);
// A verdict as the judge wrote it (toJson(Verdict)), placed at its wave; kInternal when it is not one.
Result<protocol::control::AnalysisWaveDoc> analysisWaveDoc(nlohmann::json verdict, std::int64_t wave, bool final,
                                                           std::optional<std::string> at);

}  // namespace flotilla::coordinator
