#include "flotilla/protocol/words.h"

#include <array>
#include <utility>

namespace flotilla::protocol {
namespace {

// One table per vocabulary: the enum value and its stable word, so toString and
// the parser cannot disagree.
template <typename E, std::size_t N>
using Words = std::array<std::pair<E, const char*>, N>;

constexpr Words<RefusalCode, 11> kRefusalCodes{{
    {RefusalCode::kUnknown, "unknown"},
    {RefusalCode::kMalformed, "malformed"},
    {RefusalCode::kNotEnrolled, "not_enrolled"},
    {RefusalCode::kPending, "pending"},
    {RefusalCode::kInvalidAgentId, "invalid_agent_id"},
    {RefusalCode::kIdTaken, "id_taken"},
    {RefusalCode::kRevoked, "revoked"},
    {RefusalCode::kRejected, "rejected"},
    {RefusalCode::kFetchBadDigest, "fetch_bad_digest"},
    {RefusalCode::kFetchNoArtifact, "fetch_no_artifact"},
    {RefusalCode::kNotLeader, "not_leader"},
}};

constexpr Words<HealthState, 3> kHealthStates{{
    {HealthState::kUnknown, "unknown"},
    {HealthState::kHealthy, "healthy"},
    {HealthState::kUnhealthy, "unhealthy"},
}};

constexpr Words<AgentState, 4> kAgentStates{{
    {AgentState::kPending, "pending"},
    {AgentState::kAccepted, "accepted"},
    {AgentState::kRejected, "rejected"},
    {AgentState::kRevoked, "revoked"},
}};

constexpr Words<RefusalReason, 10> kRefusalReasons{{
    {RefusalReason::kMalformed, "malformed"},
    {RefusalReason::kUnknownKey, "unknown_key"},
    {RefusalReason::kBadSignature, "bad_signature"},
    {RefusalReason::kWrongTarget, "wrong_target"},
    {RefusalReason::kExpired, "expired"},
    {RefusalReason::kNotYetValid, "not_yet_valid"},
    {RefusalReason::kReplay, "replay"},
    {RefusalReason::kBadSpec, "bad_spec"},
    {RefusalReason::kUnsignedRelease, "unsigned_release"},
    {RefusalReason::kStaleEpoch, "stale_epoch"},
}};

template <typename E, std::size_t N>
const char* wordOf(const Words<E, N>& words, E value) {
  for (const auto& [v, w] : words)
    if (v == value) return w;
  return "unknown";
}

template <typename E, std::size_t N>
std::optional<E> valueOf(const Words<E, N>& words, std::string_view word) {
  for (const auto& [v, w] : words)
    if (word == w) return v;
  return std::nullopt;
}

}  // namespace

const char* toString(RefusalCode c) { return wordOf(kRefusalCodes, c); }
RefusalCode refusalCodeFromString(std::string_view s) {
  return valueOf(kRefusalCodes, s).value_or(RefusalCode::kUnknown);
}
bool isFetchRefusal(RefusalCode c) { return c == RefusalCode::kFetchBadDigest || c == RefusalCode::kFetchNoArtifact; }
bool asksForHello(RefusalCode c) { return c == RefusalCode::kNotEnrolled || c == RefusalCode::kPending; }

const char* toString(HealthState h) { return wordOf(kHealthStates, h); }
HealthState healthStateFromString(std::string_view s) {
  return valueOf(kHealthStates, s).value_or(HealthState::kUnknown);
}

const char* toString(AgentState s) { return wordOf(kAgentStates, s); }
std::optional<AgentState> agentStateFromString(std::string_view s) { return valueOf(kAgentStates, s); }

const char* toString(RefusalReason r) { return wordOf(kRefusalReasons, r); }
std::optional<RefusalReason> refusalReasonFromString(std::string_view s) { return valueOf(kRefusalReasons, s); }

}  // namespace flotilla::protocol
