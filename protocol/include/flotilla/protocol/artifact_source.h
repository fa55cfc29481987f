#pragma once
// Where an artifact comes from and how its digest is named (docs/artifacts.md).
// An artifact is uploaded to the coordinator and named by its BLAKE2b-256, or
// served by an HTTP store at a URL the order carries inside its signature,
// named by BLAKE2b-256 or SHA-256. Plans write a store's digest with its
// algorithm as a prefix ("sha256:<64 hex>", "blake2b-256:<64 hex>") so which
// one is meant is never guessed. Pure functions: no I/O.

#include <optional>
#include <string>
#include <string_view>

#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"

namespace flotilla::protocol {

// A digest and the algorithm that made it; hex is 64 lowercase characters.
struct ArtifactDigest {
  common::DigestAlgorithm algorithm = common::DigestAlgorithm::kBlake2b256;
  std::string hex;
};

// "blake2b-256" | "sha256": the prefix in plans and the word in orders.
const char* digestAlgorithmName(common::DigestAlgorithm algorithm);
std::optional<common::DigestAlgorithm> digestAlgorithmFromName(std::string_view name);

// 64 lowercase hex characters.
bool isHexDigest(std::string_view s);

// "sha256:<64 hex>" or "blake2b-256:<64 hex>" (hex in either case, kept
// lowercase); kInvalidArgument saying what was expected otherwise.
Result<ArtifactDigest> parsePrefixedDigest(std::string_view text);
std::string prefixedDigest(const ArtifactDigest& digest);

// An artifact URL an agent may fetch: http:// or https://, a host, no
// user:password@ (credentials do not belong in a signed, logged plan), no
// spaces or control characters, at most kMaxArtifactUrl bytes. kInvalidArgument saying why.
inline constexpr std::size_t kMaxArtifactUrl = 2048;
Status checkArtifactUrl(std::string_view url);

}  // namespace flotilla::protocol
