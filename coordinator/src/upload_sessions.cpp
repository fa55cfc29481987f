#include "flotilla/coordinator/upload_sessions.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "flotilla/common/bytes.h"
#include "flotilla/common/fs.h"

namespace flotilla::coordinator {

namespace fs = std::filesystem;
using common::formatBytes;

namespace {

// Dirty pages are flushed as the upload goes, so finish() never waits on
// gigabytes of writeback.
constexpr std::uint64_t kSyncEvery = std::uint64_t{64} << 20;

bool isDigest(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::optional<std::uint64_t> freeBytes(const fs::path& dir) {
  struct statvfs v {};
  if (::statvfs(dir.c_str(), &v) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
}

}  // namespace

UploadSessions::UploadSessions(fs::path artifacts_dir, UploadLimits limits, const common::Clock& clock)
    : dir_(std::move(artifacts_dir)), limits_(limits), clock_(clock) {}

UploadSessions::~UploadSessions() {
  while (!sessions_.empty()) end(sessions_.begin(), false);
}

fs::path UploadSessions::tempPath(const std::string& upload_id) const {
  return dir_ / (std::string(kTempPrefix) + upload_id);
}

Result<std::size_t> UploadSessions::removeStale() {
  std::size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kTempPrefix, 0) != 0 || sessions_.count(name.substr(kTempPrefix.size()))) continue;
    if (::unlink(it->path().c_str()) != 0)
      return Error(Errc::kIo, "removing the stale upload " + it->path().string() + ": " + std::strerror(errno));
    ++removed;
  }
  if (ec) return Error(Errc::kIo, "listing " + dir_.string() + ": " + ec.message());
  return removed;
}

Error UploadSessions::diskError(const char* op, int err) const {
  if (err == ENOSPC || err == EDQUOT) {
    auto free = freeBytes(dir_);
    return Error(Errc::kIo, std::string("disk full: ") + op + " in the artifacts directory " + dir_.string() +
                                (free ? " (" + formatBytes(*free) + " free)" : std::string()));
  }
  return Error(Errc::kIo, std::string(op) + " in the artifacts directory " + dir_.string() + ": " + std::strerror(err));
}

Result<UploadGrant> UploadSessions::begin(const std::string& digest, std::uint64_t size) {
  if (!isDigest(digest))
    return Error(Errc::kInvalidArgument, "upload: digest must be 64 lowercase hex characters (BLAKE2b-256)");
  UploadGrant grant;
  grant.chunk_bytes = limits_.chunk_bytes;
  grant.credit = limits_.credit;
  struct stat st {};
  if (::stat((dir_ / digest).c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) == size) {
    grant.already_stored = true;
    return grant;
  }
  if (size > limits_.max_artifact_bytes)
    return Error(Errc::kInvalidArgument, "artifact too large: " + formatBytes(size) + "; the coordinator takes up to " +
                                             formatBytes(limits_.max_artifact_bytes));
  if (sessions_.size() >= limits_.max_sessions || open_bytes_ + size > limits_.max_total_bytes)
    return Error(Errc::kConflict, "the coordinator is busy with " + std::to_string(sessions_.size()) +
                                      " other uploads (" + formatBytes(open_bytes_) + "); try again when they finish");
  if (auto free = freeBytes(dir_); free && *free < size)
    return Error(Errc::kIo, "disk full: the artifacts directory " + dir_.string() + " has " + formatBytes(*free) +
                                " free; the artifact needs " + formatBytes(size));
  const std::string id = common::randomHex(16);
  int fd = ::open(tempPath(id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return diskError("creating an upload file", errno);
  Session s;
  s.digest = digest;
  s.size = size;
  s.fd = fd;
  s.last_activity = clock_.steadyNow();
  sessions_.emplace(id, std::move(s));
  open_bytes_ += size;
  grant.upload_id = id;
  return grant;
}

Result<std::uint64_t> UploadSessions::append(const std::string& upload_id, std::uint64_t offset, common::Bytes data) {
  auto it = sessions_.find(upload_id);
  if (it == sessions_.end())
    return Error(Errc::kNotFound, "no upload '" + upload_id + "' (it ended, or expired after " +
                                      std::to_string(limits_.timeout.count() / 1000) + " s without data)");
  Session& s = it->second;
  if (offset != s.received)
    return fail(upload_id, Error(Errc::kInvalidArgument,
                                 "upload chunk at offset " + std::to_string(offset) + " refused: expected offset " +
                                     std::to_string(s.received) +
                                     (offset < s.received ? " (duplicate or overlapping)" : " (out of order)")));
  if (data.empty() || data.size() > limits_.chunk_bytes || data.size() > s.size - s.received)
    return fail(upload_id,
                Error(Errc::kInvalidArgument, "upload chunk of " + std::to_string(data.size()) + " bytes at offset " +
                                                  std::to_string(offset) + " refused: chunks hold 1 to " +
                                                  std::to_string(limits_.chunk_bytes) +
                                                  " bytes and end by the declared size " + std::to_string(s.size)));
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(s.fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(upload_id, diskError("writing an upload", n < 0 ? errno : ENOSPC));
    done += static_cast<std::size_t>(n);
  }
  s.hasher.update(data);
  s.received += data.size();
  s.unsynced += data.size();
  s.last_activity = clock_.steadyNow();
  if (s.unsynced >= kSyncEvery) {
    if (::fdatasync(s.fd) != 0) return fail(upload_id, diskError("syncing an upload", errno));
    s.unsynced = 0;
  }
  return s.received;
}

Result<StoredArtifact> UploadSessions::finish(const std::string& upload_id) {
  auto it = sessions_.find(upload_id);
  if (it == sessions_.end())
    return Error(Errc::kNotFound, "no upload '" + upload_id + "' (it ended, or expired after " +
                                      std::to_string(limits_.timeout.count() / 1000) + " s without data)");
  Session& s = it->second;
  if (s.received != s.size)
    return fail(upload_id, Error(Errc::kInvalidArgument, "upload ended after " + std::to_string(s.received) + " of " +
                                                             std::to_string(s.size) + " bytes"));
  const std::string got = s.hasher.finalHex();
  if (got != s.digest)
    return fail(upload_id, Error(Errc::kCorrupt, "artifact digest mismatch: the console announced " + s.digest +
                                                     ", the bytes received hash to " + got + "; nothing stored"));
  if (::fsync(s.fd) != 0) return fail(upload_id, diskError("syncing an upload", errno));
  const fs::path final_path = dir_ / s.digest;
  if (::rename(tempPath(upload_id).c_str(), final_path.c_str()) != 0)
    return fail(upload_id, diskError("storing an upload", errno));
  StoredArtifact stored{s.digest, s.size};
  end(it, true);
  if (auto st = common::fsyncDir(dir_); !st.ok()) return st.error();
  return stored;
}

void UploadSessions::abort(const std::string& upload_id) {
  if (auto it = sessions_.find(upload_id); it != sessions_.end()) end(it, false);
}

std::vector<std::string> UploadSessions::expire() {
  const auto now = clock_.steadyNow();
  std::vector<std::string> expired;
  for (const auto& [id, s] : sessions_)
    if (now - s.last_activity >= limits_.timeout) expired.push_back(id);
  for (const auto& id : expired) abort(id);
  return expired;
}

std::optional<common::SteadyTime> UploadSessions::nextDeadline() const {
  std::optional<common::SteadyTime> next;
  for (const auto& [id, s] : sessions_) {
    auto d = s.last_activity + limits_.timeout;
    if (!next || d < *next) next = d;
  }
  return next;
}

Error UploadSessions::fail(const std::string& upload_id, Error e) {
  abort(upload_id);
  return e;
}

void UploadSessions::end(std::map<std::string, Session>::iterator it, bool keep_file) {
  if (it->second.fd >= 0) ::close(it->second.fd);
  if (!keep_file) ::unlink(tempPath(it->first).c_str());
  open_bytes_ -= it->second.size;
  sessions_.erase(it);
}

}  // namespace flotilla::coordinator
