#include "flotilla/agent/real_host_os.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "flotilla/common/fs.h"

#ifdef FLOTILLA_CRASH_POINTS
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>
#endif

namespace flotilla::agent {

namespace fs = std::filesystem;

RealHostOs::RealHostOs() {
#ifdef FLOTILLA_CRASH_POINTS
  if (const char* at = std::getenv("FLOTILLA_TEST_CRASH_AT"); at && *at) {
    crash_at_ = at;
    spdlog::warn("FLOTILLA_TEST_CRASH_AT={}: this agent kills itself at that point (fault injection for tests only)",
                 crash_at_);
  }
#endif
}

Result<common::ProcessResult> RealHostOs::runProcess(const common::ProcessSpec& spec) {
  return common::runProcess(spec);
}

Status RealHostOs::runHealthCheck(const protocol::HealthCheck& check, const CheckContext& ctx) {
  return agent::runHealthCheck(check, ctx);
}

Status RealHostOs::switchLink(const fs::path& link, const fs::path& target) {
  return common::atomicSymlink(link, target);
}

std::optional<std::string> RealHostOs::linkTarget(const fs::path& link) {
  std::error_code ec;
  auto t = fs::read_symlink(link, ec);
  if (ec) return std::nullopt;
  return t.filename().string();
}

Status RealHostOs::removeLink(const fs::path& link) {
  std::error_code ec;
  fs::remove(link, ec);
  if (ec) return Error(Errc::kIo, "removing " + link.string() + ": " + ec.message());
  return common::fsyncDir(link.parent_path());
}

Status RealHostOs::extractArchive(const fs::path& archive, const fs::path& dest_dir, const ExtractLimits& limits) {
  return agent::extractArchive(archive, dest_dir, limits);
}

Result<UnpackedSize> RealHostOs::unpackedSize(const fs::path& archive, std::uint64_t block_size,
                                              const ExtractLimits& limits) {
  return agent::unpackedSize(archive, block_size, limits);
}

Result<DiskSpace> RealHostOs::diskSpace(const fs::path& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0)
    return Error(Errc::kIo, "statvfs " + dir.string() + ": " + std::strerror(errno));
  const std::uint64_t unit = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
  return DiskSpace{static_cast<std::uint64_t>(st.f_bavail) * unit, unit};
}

void RealHostOs::crashPoint([[maybe_unused]] std::string_view point) {
#ifdef FLOTILLA_CRASH_POINTS
  if (crash_at_.empty() || point != crash_at_) return;
  spdlog::critical("FLOTILLA_TEST_CRASH_AT={}: killing the agent with SIGKILL", crash_at_);
  spdlog::default_logger()->flush();
  ::raise(SIGKILL);
#endif
}

void RealHostOs::pausePoint([[maybe_unused]] std::string_view point) {
#ifdef FLOTILLA_CRASH_POINTS
  const char* at = std::getenv("FLOTILLA_TEST_PAUSE_AT");
  if (!at) return;
  const std::string_view spec(at);
  const auto eq = spec.rfind('=');
  if (eq == std::string_view::npos || spec.substr(0, eq) != point) return;
  const long ms = std::strtol(std::string(spec.substr(eq + 1)).c_str(), nullptr, 10);
  std::fprintf(stderr, "FLOTILLA_TEST_PAUSE_AT=%s: pausing %ld ms (fault injection for tests only)\n", at, ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
#endif
}

}  // namespace flotilla::agent
