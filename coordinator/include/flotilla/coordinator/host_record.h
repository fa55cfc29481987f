#pragma once
// The one mapping between a rollout's host (HostSlot, the engine's) and its
// row in the store (RolloutHostRecord). Pure.

#include <cstddef>
#include <optional>

#include "flotilla/coordinator/rollout.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {

RolloutHostRecord toHostRecord(std::size_t idx, const HostSlot& h);
// nullopt when the row's state is not a HostState name.
std::optional<HostSlot> fromHostRecord(RolloutHostRecord row);

}  // namespace flotilla::coordinator
