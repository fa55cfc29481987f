#pragma once
// Process resource limits for programs that hold many sockets: a coordinator
// with thousands of connected agents, or flotilla-swarm simulating them. Each
// ZeroMQ socket costs a file descriptor for its mailbox plus one per TCP
// connection, so the usual soft limit of 1024 descriptors runs out early.

#include <cstdint>

#include "flotilla/common/result.h"

namespace flotilla::common {

// Raises the soft RLIMIT_NOFILE to the hard limit (an unprivileged process may
// always do that) and returns the soft limit now in force. Idempotent; call it
// from main before creating sockets. Fails only if getrlimit/setrlimit fail.
Result<std::uint64_t> raiseFileLimit();

}  // namespace flotilla::common
