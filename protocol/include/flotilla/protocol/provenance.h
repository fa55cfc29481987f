#pragma once
// CI provenance (docs/policy.md, "Provenance"): a detached statement, signed
// by a CI key (`flotilla keygen PREFIX --ci`), that CI built this release of
// this app from this commit and ref. `flotilla sign PLAN --key CI.key --ci`
// writes it to the plan's artifact.ci_signature file; the console sends the
// file's text with the rollout request, and a coordinator with
// [policy.provenance] ci_keys checks it before the rollout starts.
//
// The file is one JSON object: the claim in clear (so a refusal can say which
// field changed), the signing key's id, and the Ed25519 signature, in hex, over
// ciStatement(claim). Pure functions, callable from any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"

namespace flotilla::protocol {

inline constexpr std::string_view kCiDomain = "flotilla-ci-v1";
// A CI signature file is a few hundred bytes; anything far bigger is not one.
inline constexpr std::size_t kMaxCiSignatureBytes = 16 * 1024;

// What CI vouches for: the release and the change it was built from.
struct CiClaim {
  std::string app;
  std::string version;
  std::string artifact_digest;  // BLAKE2b-256 hex
  std::uint64_t artifact_size = 0;
  std::string commit;  // the plan's change.commit, "" when it has none
  std::string ref;     // the plan's change.ref, "" when it has none
};

// The signed bytes: kCiDomain, then each field as "name length value\n", so no
// value (a ref may hold anything) can run into the next one, and a CI
// signature never verifies as a release signature or an order.
std::string ciStatement(const CiClaim& claim);

// The CI signature file's text (JSON, ends with a newline) for `claim`.
std::string signCi(const CiClaim& claim, const common::SigningKeyPair& ci_key);

struct CiSignature {
  CiClaim claim;
  std::string key_id;  // common::keyId of the signing key
  common::Signature signature{};
};

// Parses a CI signature file; a malformed one is an invalid_argument error
// naming what is wrong ("signature: expected 128 hex characters").
Result<CiSignature> parseCiSignature(std::string_view text);

// Checks, in this order, stopping at the first that fails: there is a
// signature; it parses; its key is one of `ci_keys`; the signature verifies
// over the claim it carries; and that claim is `expected`, field by field.
// Every failure is a policy_denied error whose message says which check failed
// (and, for a changed field, what CI signed and what the rollout has).
Status verifyCi(std::string_view text, const CiClaim& expected, const std::vector<common::PublicKey>& ci_keys);

}  // namespace flotilla::protocol
