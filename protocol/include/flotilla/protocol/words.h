#pragma once
// The closed vocabularies that cross processes: why the coordinator refused an
// agent's message, an app's health, an agent's enrolment state, and why an agent
// refused an order. Each has one stable string per value (the wire and store
// form, docs/protocol.md) and a parser. Words from a newer peer that this build
// does not know parse to a kUnknown value (or nullopt where no such value makes
// sense), never to a crash. Pure.

#include <cstdint>
#include <optional>
#include <string_view>

namespace flotilla::protocol {

// Why the coordinator refused a message from an agent (the Refusal message).
enum class RefusalCode : std::uint8_t {
  kUnknown = 0,      // a code this build does not know (a newer coordinator)
  kMalformed,        // the agent's message did not decode
  kNotEnrolled,      // this connection has not said hello (or the coordinator restarted)
  kPending,          // enrolled, waiting for an operator to accept the agent
  kInvalidAgentId,   // the hello's agent id is empty or too long
  kIdTaken,          // the agent id is enrolled with another key
  kRevoked,          // an operator revoked the agent
  kRejected,         // an operator rejected the agent
  kFetchBadDigest,   // a fetch named something that is not a digest
  kFetchNoArtifact,  // a fetch named an artifact the coordinator does not have
  kNotLeader,        // this coordinator is a standby; the detail names the leader's agent endpoint ("" = unknown)
};
const char* toString(RefusalCode c);
RefusalCode refusalCodeFromString(std::string_view s);
// The refusal answers a Fetch: it fails the download in hand, nothing else.
bool isFetchRefusal(RefusalCode c);
// Saying hello again at once is the cure (a coordinator that lost the session).
bool asksForHello(RefusalCode c);

// An app's health as the agent last checked it (heartbeat.health).
enum class HealthState : std::uint8_t {
  kUnknown = 0,  // not checked yet, nothing live, or a word this build does not know
  kHealthy,
  kUnhealthy,
};
const char* toString(HealthState h);
HealthState healthStateFromString(std::string_view s);

// An agent's enrolment as the coordinator records it.
enum class AgentState : std::uint8_t {
  kPending = 0,
  kAccepted,
  kRejected,
  kRevoked,
};
const char* toString(AgentState s);
// nullopt for a word that is not a state: a stored state must be one of these.
std::optional<AgentState> agentStateFromString(std::string_view s);

// Why an agent refused an order (OrderVerifier); the string is the prefix of
// the refused report's message, "<reason>: <detail>".
enum class RefusalReason : std::uint8_t {
  kMalformed,
  kUnknownKey,
  kBadSignature,
  kWrongTarget,
  kExpired,
  kNotYetValid,
  kReplay,           // sequence not above the highest accepted for the app
  kBadSpec,          // spec bytes do not match the signed digest, or do not decode
  kUnsignedRelease,  // release keys are configured and no one of them signed this artifact
  kStaleEpoch,       // signed by a coordinator whose leadership epoch is below the highest seen (docs/ha.md)
};
const char* toString(RefusalReason r);
// nullopt for a word that is not a reason (a newer agent's, or free text).
std::optional<RefusalReason> refusalReasonFromString(std::string_view s);

}  // namespace flotilla::protocol
