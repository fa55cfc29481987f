#pragma once
// Process resource limits for a program that holds many sockets. Each ZeroMQ
// socket costs a file descriptor for its mailbox plus one per TCP connection,
// so the usual soft limit of 1024 descriptors runs out early. flotilla-swarm
// calls this; the coordinator does not, and relies on its service unit's
// LimitNOFILE (scripts/systemd/flotilla-coordinator.service).

#include <cstdint>

#include "flotilla/common/result.h"

namespace flotilla::common {

// Raises the soft RLIMIT_NOFILE to the hard limit (an unprivileged process may
// always do that), or to the kernel's fs.nr_open when the hard limit is
// unlimited, and returns the soft limit now in force; a soft limit already
// that high is left alone. Idempotent; call it before creating sockets. Fails
// only if getrlimit/setrlimit fail.
Result<std::uint64_t> raiseFileLimit();

}  // namespace flotilla::common
