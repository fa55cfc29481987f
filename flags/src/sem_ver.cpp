#include "flotilla/flags/sem_ver.h"

#include <cctype>

namespace flotilla::flags {
namespace {

constexpr std::uint64_t kMaxSafeInteger = 9007199254740991ull;

bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// A numeric identifier: 0 or no leading zero, within JS's safe integers.
std::optional<std::uint64_t> numericIdentifier(std::string_view s) {
  if (!allDigits(s) || (s.size() > 1 && s[0] == '0') || s.size() > 16) return std::nullopt;
  std::uint64_t value = std::stoull(std::string(s));
  if (value > kMaxSafeInteger) return std::nullopt;
  return value;
}

bool identifierChars(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  return true;
}

std::vector<std::string_view> split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t at = s.find(separator, start);
    parts.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::optional<SemVer> parseStrict(std::string_view text) {
  text = trim(text);
  if (text.size() > 256) return std::nullopt;
  if (!text.empty() && text[0] == 'v') text.remove_prefix(1);  // semver's own optional v
  std::string_view build;
  if (auto plus = text.find('+'); plus != std::string_view::npos) {
    build = text.substr(plus + 1);
    text = text.substr(0, plus);
    for (auto part : split(build, '.'))
      if (!identifierChars(part)) return std::nullopt;
  }
  std::string_view pre;
  bool hasPre = false;
  if (auto dash = text.find('-'); dash != std::string_view::npos) {
    pre = text.substr(dash + 1);
    text = text.substr(0, dash);
    hasPre = true;
  }
  auto core = split(text, '.');
  if (core.size() != 3) return std::nullopt;
  SemVer version;
  auto major = numericIdentifier(core[0]);
  auto minor = numericIdentifier(core[1]);
  auto patch = numericIdentifier(core[2]);
  if (!major || !minor || !patch) return std::nullopt;
  version.major = *major, version.minor = *minor, version.patch = *patch;
  if (hasPre) {
    for (auto part : split(pre, '.')) {
      if (!identifierChars(part)) return std::nullopt;
      if (allDigits(part) && !numericIdentifier(part)) return std::nullopt;
      version.prerelease.emplace_back(part);
    }
  }
  return version;
}

int comparePrereleaseIdentifier(const std::string& a, const std::string& b) {
  bool numA = allDigits(a), numB = allDigits(b);
  if (numA && numB) {
    auto x = std::stoull(a), y = std::stoull(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (numA) return -1;
  if (numB) return 1;
  return a < b ? -1 : (a > b ? 1 : 0);
}

}  // namespace

std::optional<SemVer> parseSemVer(std::string_view text) {
  if (!text.empty() && (text[0] == 'v' || text[0] == 'V')) text.remove_prefix(1);
  if (auto strict = parseStrict(text)) return strict;
  // "1" and "1.2" are completed to 1.0.0 and 1.2.0; nothing else is coerced.
  auto parts = split(text, '.');
  if (parts.size() > 2) return std::nullopt;
  for (auto part : parts)
    if (!allDigits(part) || part.size() > 16) return std::nullopt;
  SemVer version;
  version.major = std::stoull(std::string(parts[0]));
  if (parts.size() == 2) version.minor = std::stoull(std::string(parts[1]));
  if (version.major > kMaxSafeInteger || version.minor > kMaxSafeInteger) return std::nullopt;
  return version;
}

int compareSemVer(const SemVer& a, const SemVer& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.prerelease.empty() || b.prerelease.empty()) {
    if (a.prerelease.empty() && b.prerelease.empty()) return 0;
    return a.prerelease.empty() ? 1 : -1;
  }
  for (size_t i = 0; i < a.prerelease.size() && i < b.prerelease.size(); ++i) {
    int c = comparePrereleaseIdentifier(a.prerelease[i], b.prerelease[i]);
    if (c != 0) return c;
  }
  if (a.prerelease.size() == b.prerelease.size()) return 0;
  return a.prerelease.size() < b.prerelease.size() ? -1 : 1;
}

}  // namespace flotilla::flags
