#include "flotilla/coordinator/artifact_failures.h"

namespace flotilla::coordinator {

std::string ArtifactFailures::reasonOf(std::string_view message) {
  auto has = [message](std::string_view s) { return message.find(s) != std::string_view::npos; };
  if (message.rfind("artifact digest mismatch", 0) == 0) return "digest_mismatch";
  if (has("exceeds max_artifact_bytes")) return "too_large";
  if (message.rfind("fetching artifact: ", 0) != 0) return "";
  if (has(": truncated: ")) return "truncated";
  if (has(": longer than the order says")) return "too_long";
  if (has("fetch_timeout")) return "timeout";
  return "unavailable";
}

}  // namespace flotilla::coordinator
