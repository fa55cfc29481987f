#pragma once
// Semantic versions for flagd's `sem_ver` targeting operator, parsed and compared as
// @openfeature/flagd-core does (npm semver underneath): SemVer 2.0.0 strings, a leading v or V
// dropped, partial numeric versions ("1", "1.2") completed with zeros; build metadata ignored
// when comparing; a prerelease sorts below its release. Pure; any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flotilla::flags {

struct SemVer {
  std::uint64_t major = 0;
  std::uint64_t minor = 0;
  std::uint64_t patch = 0;
  std::vector<std::string> prerelease;  // dot-separated identifiers
};

// nullopt when the text is not a version flagd accepts ("not-a-version", "2.0.0.0").
std::optional<SemVer> parseSemVer(std::string_view text);

// <0, 0 or >0, as npm semver's compare (precedence; build metadata ignored).
int compareSemVer(const SemVer& a, const SemVer& b);

}  // namespace flotilla::flags
