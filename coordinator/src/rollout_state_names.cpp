#include "rollout_state_names.h"

namespace flotilla::coordinator {

const char* toString(RolloutState s) {
  switch (s) {
    case RolloutState::kPending:
      return "pending";
    case RolloutState::kAwaitingApproval:
      return "awaiting_approval";
    case RolloutState::kRunning:
      return "running";
    case RolloutState::kPaused:
      return "paused";
    case RolloutState::kRollingBack:
      return "rolling_back";
    case RolloutState::kSucceeded:
      return "succeeded";
    case RolloutState::kFailed:
      return "failed";
    case RolloutState::kRolledBack:
      return "rolled_back";
    case RolloutState::kAborted:
      return "aborted";
  }
  return "unknown";
}

std::optional<RolloutState> rolloutStateFromString(std::string_view s) {
  for (auto st : {RolloutState::kPending, RolloutState::kAwaitingApproval, RolloutState::kRunning,
                  RolloutState::kPaused, RolloutState::kRollingBack, RolloutState::kSucceeded, RolloutState::kFailed,
                  RolloutState::kRolledBack, RolloutState::kAborted})
    if (s == toString(st)) return st;
  return std::nullopt;
}

const char* toString(WaveState s) {
  switch (s) {
    case WaveState::kPending:
      return "pending";
    case WaveState::kRunning:
      return "running";
    case WaveState::kBaking:
      return "baking";
    case WaveState::kAwaitingApproval:
      return "awaiting_approval";
    case WaveState::kSucceeded:
      return "succeeded";
    case WaveState::kFailed:
      return "failed";
  }
  return "unknown";
}

const char* toString(HostState s) {
  switch (s) {
    case HostState::kPending:
      return "pending";
    case HostState::kDeploying:
      return "deploying";
    case HostState::kHealthy:
      return "healthy";
    case HostState::kFailed:
      return "failed";
    case HostState::kUnreachable:
      return "unreachable";
    case HostState::kRollingBack:
      return "rolling_back";
    case HostState::kRolledBack:
      return "rolled_back";
    case HostState::kRollbackFailed:
      return "rollback_failed";
  }
  return "unknown";
}

std::optional<HostState> hostStateFromString(std::string_view s) {
  for (auto st : {HostState::kPending, HostState::kDeploying, HostState::kHealthy, HostState::kFailed,
                  HostState::kUnreachable, HostState::kRollingBack, HostState::kRolledBack, HostState::kRollbackFailed})
    if (s == toString(st)) return st;
  return std::nullopt;
}

std::optional<WaveState> waveStateFromString(std::string_view s) {
  for (auto st : {WaveState::kPending, WaveState::kRunning, WaveState::kBaking, WaveState::kAwaitingApproval,
                  WaveState::kSucceeded, WaveState::kFailed})
    if (s == toString(st)) return st;
  return std::nullopt;
}

bool isFinished(RolloutState s) {
  return s == RolloutState::kSucceeded || s == RolloutState::kFailed || s == RolloutState::kRolledBack ||
         s == RolloutState::kAborted;
}

}  // namespace flotilla::coordinator
