#pragma once
// Signing a batch of outgoing orders with the plan key. Ed25519 (~25 us an
// order) is the bulk of a large wave's work, so a batch of kParallelSignAt
// orders or more is signed on two threads: a helper signs the second half while
// the caller signs the first. Called on the reactor thread; the helper thread
// lives only for the call and touches only its half of the batch.

#include <cstddef>
#include <string>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/coordinator/order_book.h"

namespace flotilla::coordinator {

inline constexpr std::size_t kParallelSignAt = 64;

// Encoded SignedOrder messages, one per entry of `batch`, in order. The
// entries' bodies are moved from.
std::vector<std::string> signOrders(const std::vector<OutgoingOrder*>& batch, const common::SigningKeyPair& plan_key);

}  // namespace flotilla::coordinator
