#pragma once
// UploadSessions: artifacts arriving from consoles in chunks. Each session
// writes to its own temporary file in the artifacts directory as chunks come,
// hashes them on the way (BLAKE2b-256), and only a complete upload whose digest
// matches is renamed to artifacts_dir/<digest> (fsync, rename, fsync dir).
// Everything else ends the session and deletes its temporary file: a refused
// chunk, a digest mismatch, a write error, abort(), or a stall longer than the
// timeout (expire()).
//
// Chunks arrive in order over one connection, so each must start exactly where
// the previous ended: a duplicate, overlapping, out-of-order or oversized chunk
// is refused and ends the session (the console never resends).
//
// Owned and used by one thread (the artifact worker); does blocking file I/O.
// Time comes from the Clock passed in, so expiry is tested with a fake clock.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"

namespace flotilla::coordinator {

struct UploadLimits {
  std::uint64_t max_artifact_bytes = std::uint64_t{16} << 30;  // one upload
  std::uint64_t max_total_bytes = std::uint64_t{32} << 30;     // declared sizes of all open uploads
  std::size_t max_sessions = 8;
  std::size_t chunk_bytes = std::size_t{1} << 20;    // the largest chunk a console may send
  std::uint32_t credit = 4;                          // chunks a console may have in flight
  common::Millis timeout{std::chrono::seconds(60)};  // a session silent this long is dropped
};

// The answer to begin(): where to send chunks, or that nothing needs sending.
struct UploadGrant {
  bool already_stored = false;  // artifacts_dir/<digest> exists with that size: send nothing
  std::string upload_id;        // "" when already stored
  std::size_t chunk_bytes = 0;
  std::uint32_t credit = 0;
};

struct StoredArtifact {
  std::string digest;
  std::uint64_t size = 0;
};

class UploadSessions {
 public:
  // Temporary files are named kTempPrefix + upload id inside artifacts_dir.
  static constexpr std::string_view kTempPrefix = ".upload-";

  UploadSessions(std::filesystem::path artifacts_dir, UploadLimits limits, const common::Clock& clock);
  ~UploadSessions();  // ends every open session (their temporary files are deleted)
  UploadSessions(const UploadSessions&) = delete;
  UploadSessions& operator=(const UploadSessions&) = delete;

  // Deletes temporary files a killed coordinator left behind; returns how many.
  Result<std::size_t> removeStale();

  // Opens a session for `size` bytes whose BLAKE2b-256 is `digest` (64 hex).
  // Refused: a malformed digest, a size over the limit, too many open uploads,
  // less free space in the artifacts directory than `size`.
  Result<UploadGrant> begin(const std::string& digest, std::uint64_t size);
  // Writes `data` at `offset`; returns the bytes received so far. Any error
  // ends the session.
  Result<std::uint64_t> append(const std::string& upload_id, std::uint64_t offset, common::Bytes data);
  // All bytes received: fsync, check the digest, rename into place. The
  // session ends either way; on a mismatch nothing is stored.
  Result<StoredArtifact> finish(const std::string& upload_id);
  void abort(const std::string& upload_id);
  // Ends the sessions that received nothing for the timeout; returns their ids.
  std::vector<std::string> expire();
  // When the next session expires, if any is open.
  std::optional<common::SteadyTime> nextDeadline() const;
  std::size_t openCount() const { return sessions_.size(); }
  std::filesystem::path tempPath(const std::string& upload_id) const;

 private:
  struct Session {
    std::string digest;
    std::uint64_t size = 0;
    std::uint64_t received = 0;
    std::uint64_t unsynced = 0;  // bytes written since the last fdatasync
    int fd = -1;
    common::Hasher hasher;
    common::SteadyTime last_activity{};
  };

  Error fail(const std::string& upload_id, Error e);
  void end(std::map<std::string, Session>::iterator it, bool keep_file);
  Error diskError(const char* op, int err) const;

  std::filesystem::path dir_;
  UploadLimits limits_;
  const common::Clock& clock_;
  std::map<std::string, Session> sessions_;  // by upload id
  std::uint64_t open_bytes_ = 0;             // declared sizes of the open sessions
};

}  // namespace flotilla::coordinator
