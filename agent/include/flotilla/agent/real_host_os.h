#pragma once
// The HostOs of a running agent: each call delegates to the code that does the
// work (common::runProcess, agent::runHealthCheck, common::atomicSymlink,
// agent::extractArchive, statvfs). Stateless apart from the crash point, so one
// instance may serve a Deployer for the life of the agent's worker thread.
//
// Crash points are compiled in only when the build is configured with
// -DFLOTILLA_CRASH_POINTS=ON (scripts/test.sh does): then the constructor reads
// FLOTILLA_TEST_CRASH_AT once and crashPoint() SIGKILLs the process at the
// point it names. Any other build has neither the hook nor the variable's name.
// The same builds read FLOTILLA_TEST_PAUSE_AT="POINT=MS" in pausePoint(): the
// process sleeps MS milliseconds there, as a loaded host would.

#include <string>

#include "flotilla/agent/host_os.h"

namespace flotilla::agent {

class RealHostOs final : public HostOs {
 public:
  RealHostOs();

  Result<common::ProcessResult> runProcess(const common::ProcessSpec& spec) override;
  Status runHealthCheck(const protocol::HealthCheck& check, const CheckContext& ctx) override;
  Status switchLink(const std::filesystem::path& link, const std::filesystem::path& target) override;
  std::optional<std::string> linkTarget(const std::filesystem::path& link) override;
  Status removeLink(const std::filesystem::path& link) override;
  Status extractArchive(const std::filesystem::path& archive, const std::filesystem::path& dest_dir,
                        const ExtractLimits& limits) override;
  Result<UnpackedSize> unpackedSize(const std::filesystem::path& archive, std::uint64_t block_size,
                                    const ExtractLimits& limits) override;
  Result<DiskSpace> diskSpace(const std::filesystem::path& dir) override;
  void crashPoint(std::string_view point) override;
  // Sleeps at `point` when FLOTILLA_TEST_PAUSE_AT names it (crash-point builds only).
  static void pausePoint(std::string_view point);

 private:
  std::string crash_at_;  // the armed point; "" = never (always, without crash points)
};

}  // namespace flotilla::agent
