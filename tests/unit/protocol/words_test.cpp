// The closed vocabularies of words.h: every value has one word that parses back
// to it, and words this build does not know never crash the parser.
#include <catch2/catch.hpp>

#include "flotilla/protocol/words.h"

using namespace flotilla::protocol;

TEST_CASE("words: every refusal code round trips through its word", "[protocol][words]") {
  for (auto c : {RefusalCode::kUnknown, RefusalCode::kMalformed, RefusalCode::kNotEnrolled, RefusalCode::kPending,
                 RefusalCode::kInvalidAgentId, RefusalCode::kIdTaken, RefusalCode::kRevoked, RefusalCode::kRejected,
                 RefusalCode::kFetchBadDigest, RefusalCode::kFetchNoArtifact})
    CHECK(refusalCodeFromString(toString(c)) == c);
  CHECK(std::string(toString(RefusalCode::kNotEnrolled)) == "not_enrolled");
}

TEST_CASE("words: an unknown refusal code parses as kUnknown", "[protocol][words]") {
  CHECK(refusalCodeFromString("rate_limited") == RefusalCode::kUnknown);
  CHECK(refusalCodeFromString("") == RefusalCode::kUnknown);
  CHECK(refusalCodeFromString("not enrolled: say hello first") == RefusalCode::kUnknown);
}

TEST_CASE("words: refusal codes say which fail a fetch and which ask for a hello", "[protocol][words]") {
  CHECK(isFetchRefusal(RefusalCode::kFetchBadDigest));
  CHECK(isFetchRefusal(RefusalCode::kFetchNoArtifact));
  CHECK_FALSE(isFetchRefusal(RefusalCode::kNotEnrolled));
  CHECK(asksForHello(RefusalCode::kNotEnrolled));
  CHECK(asksForHello(RefusalCode::kPending));
  CHECK_FALSE(asksForHello(RefusalCode::kRevoked));
  CHECK_FALSE(asksForHello(RefusalCode::kUnknown));
}

TEST_CASE("words: health states round trip, unknown words are unknown health", "[protocol][words]") {
  for (auto h : {HealthState::kUnknown, HealthState::kHealthy, HealthState::kUnhealthy})
    CHECK(healthStateFromString(toString(h)) == h);
  CHECK(std::string(toString(HealthState::kUnhealthy)) == "unhealthy");
  CHECK(healthStateFromString("degraded") == HealthState::kUnknown);
}

TEST_CASE("words: agent states round trip, anything else is not a state", "[protocol][words]") {
  for (auto s : {AgentState::kPending, AgentState::kAccepted, AgentState::kRejected, AgentState::kRevoked})
    CHECK(agentStateFromString(toString(s)) == s);
  CHECK(std::string(toString(AgentState::kAccepted)) == "accepted");
  CHECK_FALSE(agentStateFromString("online"));
  CHECK_FALSE(agentStateFromString(""));
}

TEST_CASE("words: order refusal reasons round trip, free text is not a reason", "[protocol][words]") {
  for (auto r :
       {RefusalReason::kMalformed, RefusalReason::kUnknownKey, RefusalReason::kBadSignature,
        RefusalReason::kWrongTarget, RefusalReason::kExpired, RefusalReason::kNotYetValid, RefusalReason::kReplay,
        RefusalReason::kBadSpec, RefusalReason::kUnsignedRelease, RefusalReason::kStaleEpoch})
    CHECK(refusalReasonFromString(toString(r)) == r);
  CHECK(std::string(toString(RefusalReason::kUnsignedRelease)) == "unsigned_release");
  CHECK_FALSE(refusalReasonFromString("agent exploded\"} 1\n"));
}
