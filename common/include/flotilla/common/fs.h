#pragma once
// Durable file operations. "Atomic" here means a reader sees the old or the new
// content, never a mix, and after return the change survives a power cut:
// write temp -> fsync -> rename(2) -> fsync the directory.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "flotilla/common/result.h"

namespace flotilla::common {

Status atomicWriteFile(const std::filesystem::path& path, std::string_view content, mode_t mode = 0644);

// Reads a whole file; fails with kInvalidArgument if it is larger than max_bytes.
Result<std::string> readFile(const std::filesystem::path& path, std::size_t max_bytes = 16 * 1024 * 1024);

Status fsyncDir(const std::filesystem::path& dir);

// Points `link` at `target` atomically (symlink to a temporary name, rename
// over `link`, fsync the parent). `target` is stored as given (may be relative).
Status atomicSymlink(const std::filesystem::path& link, const std::filesystem::path& target);

// mkdir -p with `mode` for directories it creates.
Status ensureDir(const std::filesystem::path& dir, mode_t mode = 0755);

// rm -rf that reports failure instead of throwing.
Status removeAll(const std::filesystem::path& path);

}  // namespace flotilla::common
