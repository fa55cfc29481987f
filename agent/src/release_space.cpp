#include "flotilla/agent/release_space.h"

#include <cstdio>
#include <limits>

#include <spdlog/spdlog.h>

namespace flotilla::agent {

namespace fs = std::filesystem;

namespace {

// The most an archive that extraction accepts can take: its content plus up to
// one block of rounding or directory per entry.
std::uint64_t mostAcceptedNeeds(const ExtractLimits& limits, std::uint64_t block_size) {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  if (block_size != 0 && limits.max_entries > (kMax - limits.max_bytes) / block_size) return kMax;
  return limits.max_bytes + limits.max_entries * block_size;
}

std::string roomMessage(const fs::path& dir, std::uint64_t free_bytes, const std::string& version,
                        std::uint64_t needed) {
  return dir.string() + " has " + describeBytes(free_bytes) + " free; release " + version + " needs " +
         describeBytes(needed) + " unpacked";
}

}  // namespace

std::string describeBytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  return std::string(buf) + " (" + std::to_string(bytes) + " bytes)";
}

Status checkReleaseFits(HostOs& os, const fs::path& archive, const fs::path& releases_dir, const std::string& version,
                        const ExtractLimits& limits) {
  auto space = os.diskSpace(releases_dir);
  if (!space) {
    spdlog::warn("cannot tell whether release {} fits: {}", version, space.error().message);
    return {};
  }
  if (space->free_bytes >= mostAcceptedNeeds(limits, space->block_size)) return {};
  auto need = os.unpackedSize(archive, space->block_size, limits);
  if (!need || !need->within_limits || need->bytes <= space->free_bytes) return {};
  return Error(Errc::kNoSpace, "disk full: " + roomMessage(releases_dir, space->free_bytes, version, need->bytes));
}

Error explainNoSpace(HostOs& os, const fs::path& archive, const fs::path& releases_dir, const std::string& version,
                     const ExtractLimits& limits, const Error& cause) {
  const std::string head = "disk full while extracting (" + cause.message + "): ";
  auto space = os.diskSpace(releases_dir);
  if (!space) return Error(Errc::kNoSpace, head + releases_dir.string() + " (" + space.error().message + ")");
  auto need = os.unpackedSize(archive, space->block_size, limits);
  if (!need)
    return Error(Errc::kNoSpace, head + releases_dir.string() + " has " + describeBytes(space->free_bytes) + " free");
  std::string message = head + roomMessage(releases_dir, space->free_bytes, version, need->bytes);
  // Bytes were not what ran out.
  if (need->bytes <= space->free_bytes)
    message += "; the bytes fit, so the file system is out of inodes or over a quota";
  return Error(Errc::kNoSpace, message);
}

}  // namespace flotilla::agent
