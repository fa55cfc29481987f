#pragma once
// The agent upgrading itself through Flotilla (docs/operations.md "Upgrading
// the agent"). The app named kSelfApp is the agent's own binary: a plan for it
// ships a tarball with `flotilla-agent` at its root, and goes out in waves
// like any release. On each host the Deployer stages it and switches
// `<apps_dir>/flotilla-agent/current` as usual, then, instead of a restart
// command and health checks:
//
//  1. trial: the new binary runs `selftest` (it loads agent.toml and the
//     keys, reads the journal, and completes a CURVE handshake with the
//     coordinator) while this agent keeps running and waits for it, up to the
//     plan's health deadline. A binary that does not start, crashes or cannot
//     reach the coordinator fails the step: `current` goes back, the old
//     agent stays, and the rollout treats the host as failed (its revert and
//     wave budget apply). The watchdog is the old agent itself, which does not
//     depend on the new binary working.
//  2. handover: the journal records the handover, the old agent stops its
//     session (bounded by kHandoverTeardownLimit) and execs the new binary in place (same pid: a supervisor such
//     as systemd sees one process throughout), with FLOTILLA_AGENT_HANDOVER
//     naming the order. The new agent reconnects, and once the coordinator
//     accepted its session it reports the order healthy. Had it died instead,
//     the next start finds the handover in the journal without that variable,
//     switches `current` back and reports the order reverted (systemd's
//     Restart= starts the agent again). Had it hung, or failed to reconnect,
//     a watchdog the old agent forked before the exec (watchHandover, old
//     code in a process of its own) kills it when the handover is still in
//     the journal after the deadline, and the same recovery follows.
//
// At every start (`flotilla-agent run`), launchTarget() says whether to exec
// the binary `current` names instead of the one started, so the installed
// binary keeps launching the version the fleet moved to.
//
// Free functions; selfTest() and launchTarget() run before the daemon starts.

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "flotilla/agent/config.h"
#include "flotilla/agent/journal.h"
#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/agent_app.h"

namespace flotilla::agent {

inline constexpr const char* kSelfApp = protocol::kAgentApp;
inline constexpr const char* kSelfBinary = "flotilla-agent";
// Set by the old agent when it execs the new one: the order being handed over.
inline constexpr const char* kHandoverEnv = "FLOTILLA_AGENT_HANDOVER";
// The journal phase of an order whose new agent binary is being handed over to.
inline constexpr const char* kHandoverPhase = "handover";
// Set by launchTarget()'s exec, so a launched binary does not launch again.
inline constexpr const char* kLaunchedEnv = "FLOTILLA_AGENT_LAUNCHED";

// The agent binary of self release `version` on this host.
std::filesystem::path selfBinary(const AgentConfig& config, const std::string& version);

// Whether the running process is `binary` (same file as /proc/self/exe).
bool runningBinaryIs(const std::filesystem::path& binary);

// `flotilla-agent selftest`: loads nothing more than `config` already holds,
// opens the journal, and completes a CURVE handshake with the coordinator
// within `timeout`: with any endpoint of the list (a standby holds the same
// key). An error says which step failed.
Status selfTest(const AgentConfig& config, common::Millis timeout);

// The binary `flotilla-agent run` should exec instead of itself: the one
// <apps_dir>/flotilla-agent/current names, when it exists, is not the running
// binary, this process was not itself launched or handed over, and no
// handover of the journal's order in hand is pending (a binary that took a
// handover and died is not launched again; recovery reverts it).
std::optional<std::filesystem::path> launchTarget(const AgentConfig& config, const JournalState& journal);

// How long the old agent's teardown (its last reports leaving, its threads
// ending) may take before the handover goes ahead without it.
inline constexpr common::Millis kHandoverTeardownLimit{10000};

// Destroys `daemon` on a thread of its own and waits up to `limit` for it;
// false when it did not end in time (the thread is left to the exec, which
// ends it). The old agent's last step before the exec must be bounded: a host
// whose teardown hangs would otherwise stay without a working agent.
class Agent;
bool closeForHandover(std::unique_ptr<Agent> daemon, common::Millis limit);

// The handover watchdog: returns once the journal in `state_dir` no longer
// has order `order_id` in hand (the new agent reported or reverted it) or
// process `agent` is gone; when neither happens within `deadline`, it kills
// `agent` with SIGKILL and returns. Reads the journal every 200 ms.
void watchHandover(const std::filesystem::path& state_dir, const std::string& order_id, common::Millis deadline,
                   pid_t agent);
// Runs watchHandover for this process (`getpid()`) in a detached process of
// its own (double fork, so the agent never has to reap it), with a deadline
// of twice `trial_deadline` and at least 10 s. Call just before exec, after
// the daemon's teardown (closeForHandover).
Status startHandoverWatchdog(const std::filesystem::path& state_dir, const std::string& order_id,
                             common::Millis trial_deadline);

}  // namespace flotilla::agent
