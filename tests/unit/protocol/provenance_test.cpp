// CI provenance: the statement a CI key signs and the checks a coordinator
// makes of a plan's CI signature (protocol/provenance.h).
#include "flotilla/protocol/provenance.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using flotilla::Errc;
using flotilla::common::generateSigningKeyPair;
using flotilla::common::PublicKey;
using flotilla::common::SigningKeyPair;
using flotilla::protocol::CiClaim;
using flotilla::protocol::ciStatement;
using flotilla::protocol::parseCiSignature;
using flotilla::protocol::signCi;
using flotilla::protocol::verifyCi;
using nlohmann::json;

namespace {

const CiClaim kClaim{"web", "2.4.1", std::string(64, 'a'), 4096, "9f2c1ab", "refs/heads/main"};

struct Keys {
  SigningKeyPair ci = generateSigningKeyPair();
  SigningKeyPair other = generateSigningKeyPair();
  std::vector<PublicKey> listed{other.public_key, ci.public_key};
};

// The message of verifyCi's refusal; fails the test when it passes.
std::string refusal(std::string_view text, const CiClaim& expected, const std::vector<PublicKey>& keys) {
  auto st = verifyCi(text, expected, keys);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kPolicyDenied);
  return st.error().message;
}

// The signature file with one field replaced, as an edit after signing would.
std::string edited(const std::string& text, const char* key, const json& value) {
  json doc = json::parse(text);
  doc[key] = value;
  return doc.dump();
}

}  // namespace

TEST_CASE("provenance: the CI statement is domain-separated and length-prefixed", "[protocol][provenance]") {
  const std::string s = ciStatement(kClaim);
  CHECK(s.rfind("flotilla-ci-v1\n", 0) == 0);
  CHECK(s.find("ref 15 refs/heads/main\n") != std::string::npos);
  // A newline inside a field cannot make one claim read as another.
  CiClaim a = kClaim, b = kClaim;
  a.commit = "x\nref 1 y";
  a.ref = "";
  b.commit = "x";
  b.ref = "y";
  CHECK(ciStatement(a) != ciStatement(b));
}

TEST_CASE("provenance: a CI signature by a listed key over the same claim passes", "[protocol][provenance]") {
  Keys k;
  const std::string text = signCi(kClaim, k.ci);
  CHECK(verifyCi(text, kClaim, k.listed).ok());
  auto parsed = parseCiSignature(text);
  REQUIRE(parsed.ok());
  CHECK(parsed->claim.ref == "refs/heads/main");
  CHECK(parsed->key_id == flotilla::common::keyId(k.ci.public_key));
  // A plan with no [change] signs and checks empty commit and ref.
  CiClaim bare = kClaim;
  bare.commit.clear();
  bare.ref.clear();
  CHECK(verifyCi(signCi(bare, k.ci), bare, k.listed).ok());
}

TEST_CASE("provenance: each way a CI signature fails has its own message", "[protocol][provenance]") {
  Keys k;
  const std::string text = signCi(kClaim, k.ci);

  CHECK_THAT(refusal("", kClaim, k.listed), Catch::StartsWith("the plan carries no CI signature"));

  SigningKeyPair stranger = generateSigningKeyPair();
  CHECK_THAT(refusal(signCi(kClaim, stranger), kClaim, k.listed),
             Catch::Contains("is by key " + flotilla::common::keyId(stranger.public_key)) &&
                 Catch::Contains("not one of policy.provenance.ci_keys"));

  CiClaim altered = kClaim;
  altered.artifact_digest = std::string(64, 'b');
  CHECK_THAT(refusal(text, altered, k.listed), Catch::StartsWith("the artifact differs from what CI signed"));
  altered = kClaim;
  altered.artifact_size = 4097;
  CHECK_THAT(refusal(text, altered, k.listed), Catch::StartsWith("the artifact differs from what CI signed"));
  altered = kClaim;
  altered.commit = "0000000";
  CHECK(refusal(text, altered, k.listed) ==
        "change.commit differs from what CI signed (CI signed \"9f2c1ab\", the plan has \"0000000\")");
  altered = kClaim;
  altered.ref = "refs/heads/feature";
  CHECK(refusal(text, altered, k.listed) ==
        "change.ref differs from what CI signed (CI signed \"refs/heads/main\", the plan has \"refs/heads/feature\")");
  altered = kClaim;
  altered.version = "2.4.2";
  CHECK_THAT(refusal(text, altered, k.listed), Catch::StartsWith("CI signed web 2.4.1, not web 2.4.2"));

  // The claim in the file edited to match the altered plan: the signature no longer holds.
  CHECK_THAT(refusal(edited(text, "commit", "0000000"), altered, k.listed),
             Catch::StartsWith("the CI signature does not verify against CI key"));
  CHECK_THAT(refusal(edited(text, "signature", std::string(128, '0')), kClaim, k.listed),
             Catch::Contains("does not verify") && Catch::Contains("forged"));

  CHECK_THAT(refusal(text.substr(0, text.size() / 2), kClaim, k.listed),
             Catch::StartsWith("the CI signature is garbled: not a CI signature file"));
  CHECK_THAT(refusal(edited(text, "signature", "abcd"), kClaim, k.listed),
             Catch::StartsWith("the CI signature is garbled: signature: expected 128 hex characters, got 4"));
  CHECK_THAT(refusal(edited(text, "format", "flotilla-release-v1"), kClaim, k.listed),
             Catch::StartsWith("the CI signature is garbled: format:"));
  CHECK_THAT(refusal(edited(text, "artifact_size", "4096"), kClaim, k.listed),
             Catch::StartsWith("the CI signature is garbled: artifact_size: expected a byte count"));
  CHECK_THAT(refusal(std::string(20000, ' '), kClaim, k.listed), Catch::Contains("garbled"));
}
