#pragma once
// ArtifactFailures: how many orders failed on their artifact's download or
// check, by reason, for /metrics (flotilla_artifact_failures_total,
// docs/artifacts.md). Agents report such a failure in phase `failed` with the
// Deployer's message ("fetching artifact: <url>: truncated: ...", "artifact
// digest mismatch: ..."). The text comes from the network, so only the fixed
// reasons below become label values; a failed order that is not about its
// artifact is not counted.
//
// Reactor thread only.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace flotilla::coordinator {

class ArtifactFailures {
 public:
  // digest_mismatch | truncated | too_long | too_large | timeout | unavailable, or "" when the
  // message is not about the artifact.
  static std::string reasonOf(std::string_view message);

  void count(std::string_view message) {
    if (auto reason = reasonOf(message); !reason.empty()) ++by_reason_[reason];
  }
  const std::map<std::string, std::uint64_t>& byReason() const { return by_reason_; }

 private:
  std::map<std::string, std::uint64_t> by_reason_;
};

}  // namespace flotilla::coordinator
