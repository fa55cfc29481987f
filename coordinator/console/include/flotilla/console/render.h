#pragma once
// Pure text rendering for the console: control-protocol replies (the structs
// of protocol/control.h, already parsed) in, lines for people out. No I/O, no
// clock, no terminal state, so every shape of output is unit-tested
// (tests/unit/coordinator/console_render_test.cpp).
//
// Text comes from the coordinator and is treated as untrusted: an empty field
// renders as "-", and control characters in strings (an agent's failure
// message may carry anything) are replaced so they cannot move the cursor or
// recolour the terminal.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/common/result.h"
#include "flotilla/protocol/control.h"
#include "flotilla/protocol/control_flags.h"

namespace flotilla::console {

using nlohmann::json;

// Console exit codes (DESIGN.md section 2).
inline constexpr int kExitOk = 0;            // success; a watched rollout succeeded
inline constexpr int kExitNotSucceeded = 1;  // a watched rollout failed, rolled back or was aborted
inline constexpr int kExitUsage = 2;         // bad usage, invalid input, or a refused request
inline constexpr int kExitUnreachable = 3;   // coordinator unreachable, access denied, or a malformed reply
inline constexpr int kExitPolicy = 4;        // refused by a policy gate (docs/policy.md)

// A rollout state that will not change any more.
bool isTerminalState(std::string_view state);
// Exit code for a watched rollout that ended in `state`: 0 for "succeeded",
// 1 for "failed", "rolled_back", "aborted" (and any other final state).
int exitCodeForState(std::string_view state);
// Exit code for an error: 3 for permission, unavailable and timeout, 4 for policy_denied, else 2.
int exitCodeForError(Errc code);
// {"error": {"code": "<errcName>", "message": "..."}}: the --json form of an error.
json errorDoc(const Error& e);

// Field access that never throws: "" / 0 / nullopt when absent or of another type.
std::string jsonString(const json& j, std::string_view key);
std::int64_t jsonInt(const json& j, std::string_view key, std::int64_t fallback = 0);

// Replaces control characters (C0, DEL, ESC) with '?'; keeps UTF-8 bytes intact.
std::string sanitize(std::string_view text);

// "[#####.....]": `width` cells, filled in proportion done/total (never full
// until done == total; empty when total is 0).
std::string progressBar(std::size_t done, std::size_t total, std::size_t width = 10);

// "wave 1: [#####.....] 5/10 hosts healthy 4 failed 1 unreachable 0 running"
std::string waveLine(const protocol::control::WaveDoc& wave);

// The coordinator's gate for people: durations cut to whole seconds, rounded
// up ("bake 19s534ms left" -> "bake 20s left"); other words unchanged.
std::string gateText(std::string_view gate);

// "rollout web-3: web 2.4.1 running"
std::string statusHeadline(const protocol::control::RolloutStatus& status);

// The headline, the gate when there is one ("  gate: bake 3s left"), one wave
// line per wave (the current wave of a live rollout marked with '>'), and the
// host table when the document has hosts.
std::vector<std::string> statusBlock(const protocol::control::RolloutStatus& status);
std::string renderStatus(const protocol::control::RolloutStatus& status);

// Columns left-aligned, two spaces apart, no trailing spaces; one line per row.
std::string renderTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

// ID STATE LABELS RELEASES HEALTH, from an agents reply.
std::string renderAgents(const std::vector<protocol::control::AgentDoc>& agents);
// ID APP VERSION STATE WAVE GATE, from a status reply without a rollout.
std::string renderRolloutList(const std::vector<protocol::control::RolloutStatus>& rollouts);
// ID APP VERSION STATE SUBMITTED BY DURATION, from a history reply.
std::string renderHistory(const std::vector<protocol::control::HistoryEntry>& rollouts);

// The DORA report of a metrics reply (docs/metrics.md): a line naming the
// window, then SCOPE KEY VALUE BAND BASIS, four rows per scope (the fleet
// first, then each app), the raw figure beside its band.
std::string renderMetrics(const protocol::control::MetricsReply& report);

// The policy gates (docs/policy.md): "GATE STATE WHY", one row each, after the time it was asked.
std::string renderPolicy(const protocol::control::PolicyReply& reply);

// Release analysis (render_analysis.cpp). "wave 0: fail, score 50 (pass 95, marginal 75) at TIME".
std::string analysisHeadline(const protocol::control::AnalysisWaveDoc& w, double pass_score, double marginal_score);
// Per wave: the headline, the reason, then METRIC CANARY BASELINE CHANGE TOLERANCE/BOUND VERDICT WHY.
std::string renderAnalysis(const protocol::control::AnalysisReply& reply);
// What a watch shows of a wave being analysed: a line for the verdict so far, one per metric.
std::vector<std::string> analysisLines(const protocol::control::AnalysisWaveDoc& w);

// Feature flags (render_flags.cpp): `flags show` (hosts per version, then
// KEY STATE DEFAULT VARIANTS TARGETED) and `flags history` (ID KIND VERSION
// STATE SUBMITTED BY CHANGES).
std::string renderFlagsShow(const protocol::control::FlagsShowReply& reply, bool one_host);
std::string renderFlagsHistory(const protocol::control::FlagsHistoryReply& reply);

// "TIME KIND [AGENT] [wave N] MESSAGE (actor)". With `time_of_day`, TIME is
// HH:MM:SS instead of the full RFC 3339 timestamp (the watch view).
std::string eventLine(const protocol::control::EventDoc& event, bool time_of_day = false);
std::string renderEvents(const std::vector<protocol::control::EventDoc>& events);

// "12.3s" under a minute, "2m05s" under an hour, "1h02m" beyond.
std::string formatSeconds(double seconds);
// Seconds from submitted_at to finished_at of a status document.
std::optional<double> elapsedSeconds(const protocol::control::RolloutStatus& status);
// "rollout web-3 succeeded in 12.3s", "rollout web-3 failed in 40s: wave 0 failed: ...".
std::string summaryLine(std::string_view id, std::string_view state, std::optional<double> seconds,
                        std::string_view message);

}  // namespace flotilla::console
