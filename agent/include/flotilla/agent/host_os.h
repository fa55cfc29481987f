#pragma once
// The deployer's seam to the host operating system, in the spirit of LevelDB's
// Env: everything the Deployer does that a unit test cannot do cheaply, safely
// or on demand in a temporary directory goes through this interface.
//   - processes: before_switch hooks and restart commands
//   - health checks (http, tcp, exec)
//   - the release switch: the app's `current` symlink, replaced atomically with
//     its directory fsynced
//   - artifacts: extraction, the unpacked size, the free space where they land
//   - crash points: named places where a test build may kill the agent
// Plain bookkeeping under the configured directories (the journal, downloads,
// renaming a staged release, pruning) stays on the real file system; tests
// point those directories at a temporary one.
//
// RealHostOs (real_host_os.h) delegates to common/process, agent/health,
// common/fs and agent/extract; tests/support/fake_host_os.h records calls and
// scripts outcomes. The agent owns one and lends it to its Deployer, which
// calls it from the agent's worker thread only.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "flotilla/agent/extract.h"
#include "flotilla/agent/health.h"
#include "flotilla/common/process.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::agent {

// Room on the file system that holds a directory (statvfs).
struct DiskSpace {
  std::uint64_t free_bytes = 0;  // available to this (unprivileged) process
  std::uint64_t block_size = 0;  // the unit a file's size is rounded up to
};

class HostOs {
 public:
  virtual ~HostOs() = default;

  // Runs a hook or restart command to completion (common::runProcess):
  // an error only when it could not be started.
  virtual Result<common::ProcessResult> runProcess(const common::ProcessSpec& spec) = 0;

  // One run of one health check (agent::runHealthCheck): ok() = it passed.
  virtual Status runHealthCheck(const protocol::HealthCheck& check, const CheckContext& ctx) = 0;

  // Points `link` at `target` (stored as given, relative) atomically and
  // fsyncs the link's directory, so the switch survives a power cut.
  virtual Status switchLink(const std::filesystem::path& link, const std::filesystem::path& target) = 0;
  // The last component of what `link` points at; nullopt when there is no link.
  virtual std::optional<std::string> linkTarget(const std::filesystem::path& link) = 0;
  // Removes `link` if it exists and fsyncs its directory.
  virtual Status removeLink(const std::filesystem::path& link) = 0;

  // Extracts `archive` into `dest_dir`, which must not exist (agent::extractArchive).
  // A full disk is Errc::kNoSpace.
  virtual Status extractArchive(const std::filesystem::path& archive, const std::filesystem::path& dest_dir,
                                const ExtractLimits& limits) = 0;
  // What extracting `archive` would take on a file system of `block_size`
  // blocks (agent::unpackedSize); reads the archive, writes nothing.
  virtual Result<UnpackedSize> unpackedSize(const std::filesystem::path& archive, std::uint64_t block_size,
                                            const ExtractLimits& limits) = 0;
  virtual Result<DiskSpace> diskSpace(const std::filesystem::path& dir) = 0;

  // A named point in the deployer's phases (listed in deployer.h). Builds
  // configured with -DFLOTILLA_CRASH_POINTS=ON may kill the process here; in
  // any other build it does nothing.
  virtual void crashPoint(std::string_view point) = 0;
};

}  // namespace flotilla::agent
