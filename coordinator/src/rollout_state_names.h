#pragma once
// Internal to flotilla_coordinator: the stored name of a wave's state back to
// the state (rollout.h declares the other names; waves are read back only when
// a rollout is restored).

#include <optional>
#include <string_view>

#include "flotilla/coordinator/rollout.h"

namespace flotilla::coordinator {

std::optional<WaveState> waveStateFromString(std::string_view s);

}  // namespace flotilla::coordinator
