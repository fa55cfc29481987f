#include "flotilla/common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

namespace flotilla::common {
namespace {

Errc errcFromErrno(int err) {
  switch (err) {
    case ENOENT:
      return Errc::kNotFound;
    case EACCES:
    case EPERM:
    case EROFS:
      return Errc::kPermission;
    case EEXIST:
      return Errc::kAlreadyExists;
    default:
      return Errc::kIo;
  }
}

// "<op> <path>: <strerror>", so the operator knows which file and which step failed.
Error osError(const char* op, const std::filesystem::path& path, int err) {
  return Error(errcFromErrno(err), std::string(op) + " " + path.string() + ": " + std::strerror(err));
}

std::filesystem::path parentOf(const std::filesystem::path& path) {
  auto dir = path.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

// A name no other writer (thread or process) will pick. Hidden, so directory
// scans that skip dot-files never see half-written content; O_EXCL/EEXIST
// retries cover the remaining (theoretical) collisions.
std::filesystem::path tempSibling(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  // Appended piece by piece: GCC 12's -Wrestrict misfires on "." + string at -O2.
  std::string name = ".";
  name += path.filename().string();
  name += ".tmp-";
  name += std::to_string(::getpid());
  name += '-';
  name += std::to_string(counter.fetch_add(1));
  name += '-';
  name += std::to_string(ticks & 0xffffff);
  return parentOf(path) / name;
}

constexpr int kTempAttempts = 16;

Status writeAll(int fd, std::string_view content, const std::filesystem::path& path) {
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return osError("write", path, errno);
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return okStatus();
}

}  // namespace

Status atomicWriteFile(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  if (path.filename().empty()) {
    return Error(Errc::kInvalidArgument, "atomic write: '" + path.string() + "' names no file");
  }
  std::filesystem::path tmp;
  int fd = -1;
  for (int attempt = 0; attempt < kTempAttempts && fd < 0; ++attempt) {
    tmp = tempSibling(path);
    // Created owner-only and widened with fchmod once written: secret content
    // is never readable by others, and the final mode is exactly `mode`
    // whatever the umask, because callers pick modes deliberately.
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return osError("create", tmp, errno);
  }
  if (fd < 0) return osError("create", tmp, EEXIST);

  auto fail = [&](Error error) -> Status {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return error;
  };
  if (auto st = writeAll(fd, content, tmp); !st) return fail(st.error());
  if (::fchmod(fd, mode) != 0) return fail(osError("chmod", tmp, errno));
  if (::fsync(fd) != 0) return fail(osError("fsync", tmp, errno));
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) return fail(osError("close", tmp, errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(osError("rename onto", path, errno));
  return fsyncDir(parentOf(path));
}

Result<std::string> readFile(const std::filesystem::path& path, std::size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return osError("open", path, errno);
  std::string out;
  // Read to EOF rather than trusting st_size: /proc and pipes report 0, and a
  // file may grow while we read.
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error error = osError("read", path, errno);
      ::close(fd);
      return error;
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      ::close(fd);
      return Error(Errc::kInvalidArgument,
                   path.string() + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Status fsyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return osError("open directory", dir, errno);
  if (::fsync(fd) != 0) {
    Error error = osError("fsync directory", dir, errno);
    ::close(fd);
    return error;
  }
  ::close(fd);
  return okStatus();
}

Status atomicSymlink(const std::filesystem::path& link, const std::filesystem::path& target) {
  if (link.filename().empty()) {
    return Error(Errc::kInvalidArgument, "symlink: '" + link.string() + "' names no link");
  }
  std::filesystem::path tmp;
  bool made = false;
  for (int attempt = 0; attempt < kTempAttempts && !made; ++attempt) {
    tmp = tempSibling(link);
    if (::symlink(target.c_str(), tmp.c_str()) == 0) {
      made = true;
    } else if (errno != EEXIST) {
      return osError("symlink", tmp, errno);
    }
  }
  if (!made) return osError("symlink", tmp, EEXIST);
  // rename(2) replaces an existing link in one step; there is no moment when
  // `link` is missing, unlike unlink + symlink.
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    Error error = osError("rename onto", link, errno);
    ::unlink(tmp.c_str());
    return error;
  }
  return fsyncDir(parentOf(link));
}

Status ensureDir(const std::filesystem::path& dir, mode_t mode) {
  if (dir.empty()) return okStatus();
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return okStatus();
    return Error(Errc::kAlreadyExists, dir.string() + ": exists and is not a directory");
  }
  if (errno != ENOENT) return osError("stat", dir, errno);
  auto parent = dir.parent_path();
  if (parent != dir) FLOTILLA_TRY(ensureDir(parent, mode));
  if (::mkdir(dir.c_str(), mode) != 0) {
    if (errno == EEXIST) {
      // Another process created it between our stat and mkdir; fine if it is a directory.
      if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return okStatus();
      return Error(Errc::kAlreadyExists, dir.string() + ": exists and is not a directory");
    }
    return osError("mkdir", dir, errno);
  }
  // mkdir applies the umask; the caller asked for `mode` exactly.
  if (::chmod(dir.c_str(), mode) != 0) return osError("chmod", dir, errno);
  return okStatus();
}

Status removeAll(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) {
    return Error(errcFromErrno(ec.value()), "remove " + path.string() + ": " + ec.message());
  }
  return okStatus();
}

}  // namespace flotilla::common
