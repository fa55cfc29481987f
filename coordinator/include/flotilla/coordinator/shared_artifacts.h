#pragma once
// SharedArtifacts: where uploaded artifacts are kept for every coordinator on
// the same store, beside each coordinator's own artifacts directory (the
// directory stays the one place agents are served from). With a PostgreSQL
// store (store.url) artifacts are copied into it in chunks when an upload
// completes, and a coordinator asked for an artifact it lacks on disk copies
// it back from there first, checking its digest. With SQLite nothing is
// shared: openSharedArtifacts gives nullptr and the directory is all there is.
//
// Owned and used by the artifact worker's thread (artifact_worker.h); blocking.

#include <filesystem>
#include <memory>
#include <string>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {

class SharedArtifacts {
 public:
  virtual ~SharedArtifacts() = default;
  // Shares the complete, verified artifact `file` as `digest` (idempotent).
  virtual Status publish(const std::string& digest, const std::filesystem::path& file) = 0;
  // Copies the shared artifact `digest` into `dir`/<digest>, whole and checked
  // against the digest, or not at all; kNotFound when it is not shared.
  virtual Status fetchInto(const std::string& digest, const std::filesystem::path& dir) = 0;
};

// The shared artifacts of the store `options` names; nullptr when the store
// shares none (SQLite). Connects on first use, and again after a failure.
std::unique_ptr<SharedArtifacts> openSharedArtifacts(const StoreOptions& options);

}  // namespace flotilla::coordinator
