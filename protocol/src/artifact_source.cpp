#include "flotilla/protocol/artifact_source.h"

#include <algorithm>
#include <cctype>

namespace flotilla::protocol {

const char* digestAlgorithmName(common::DigestAlgorithm algorithm) {
  return algorithm == common::DigestAlgorithm::kSha256 ? "sha256" : "blake2b-256";
}

std::optional<common::DigestAlgorithm> digestAlgorithmFromName(std::string_view name) {
  if (name == "blake2b-256") return common::DigestAlgorithm::kBlake2b256;
  if (name == "sha256") return common::DigestAlgorithm::kSha256;
  return std::nullopt;
}

bool isHexDigest(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Result<ArtifactDigest> parsePrefixedDigest(std::string_view text) {
  const auto colon = text.find(':');
  const auto algorithm =
      colon == std::string_view::npos ? std::nullopt : digestAlgorithmFromName(text.substr(0, colon));
  if (!algorithm)
    return Error(Errc::kInvalidArgument,
                 "expected \"sha256:<64 hex>\" or \"blake2b-256:<64 hex>\" (the algorithm is written as a prefix)");
  std::string hex(text.substr(colon + 1));
  std::transform(hex.begin(), hex.end(), hex.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (!isHexDigest(hex))
    return Error(Errc::kInvalidArgument, std::string("a ") + digestAlgorithmName(*algorithm) +
                                             " digest is 64 hex characters after the prefix, got " +
                                             std::to_string(hex.size()) + " characters" +
                                             (hex.size() == 64 ? " that are not all hex" : ""));
  return ArtifactDigest{*algorithm, std::move(hex)};
}

std::string prefixedDigest(const ArtifactDigest& digest) {
  return std::string(digestAlgorithmName(digest.algorithm)) + ":" + digest.hex;
}

Status checkArtifactUrl(std::string_view url) {
  auto bad = [](const std::string& why) { return Error(Errc::kInvalidArgument, why); };
  if (url.size() > kMaxArtifactUrl) return bad("longer than " + std::to_string(kMaxArtifactUrl) + " bytes");
  for (unsigned char ch : url)
    if (ch <= 0x20 || ch >= 0x7f) return bad("spaces, control and non-ASCII characters must be percent-encoded");
  std::size_t start = 0;
  if (url.rfind("https://", 0) == 0)
    start = 8;
  else if (url.rfind("http://", 0) == 0)
    start = 7;
  else
    return bad("expected an http:// or https:// URL");
  const auto end = url.find_first_of("/?#", start);
  const std::string_view authority = url.substr(start, end == std::string_view::npos ? url.npos : end - start);
  if (authority.empty() || authority.front() == ':') return bad("the URL names no host");
  if (authority.find('@') != std::string_view::npos)
    return bad("user:password@ is not allowed: credentials do not belong in a plan");
  return {};
}

}  // namespace flotilla::protocol
