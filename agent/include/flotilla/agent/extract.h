#pragma once
// Safe extraction of a release artifact (tar, tar.gz, tar.xz, zip...) with
// libarchive into a fresh staging directory. Refuses (and names the entry):
// absolute paths, any '..' component, symlinks whose target is absolute or
// resolves outside the tree, hardlinks to outside the tree, device nodes,
// FIFOs, sockets, setuid/setgid/sticky bits, more than max_entries entries or
// more than max_bytes of content. On refusal the caller removes dest_dir;
// nothing is ever written outside dest_dir. A write that fails because the
// file system is full (no space, no inodes, quota) is Errc::kNoSpace.

#include <cstdint>
#include <filesystem>

#include "flotilla/common/result.h"

namespace flotilla::agent {

struct ExtractLimits {
  std::uint64_t max_entries = 100'000;
  std::uint64_t max_bytes = 4ull << 30;  // total uncompressed size of regular files
};

// dest_dir must not exist yet; it is created (0755).
Status extractArchive(const std::filesystem::path& archive, const std::filesystem::path& dest_dir,
                      const ExtractLimits& limits = {});

// What an archive's tree takes once extracted, from its entry headers.
struct UnpackedSize {
  std::uint64_t bytes = 0;    // regular files rounded up to whole blocks, plus a block per directory
  std::uint64_t entries = 0;  // entries counted
  // False when counting stopped at a limit of ExtractLimits: extraction would
  // refuse the archive, so `bytes` says nothing about the disk.
  bool within_limits = true;
};

// Reads every entry header of `archive` (decompressing it once, writing
// nothing) and adds up what extracting it onto a file system of `block_size`
// blocks would use. Entries without a declared size count as empty.
Result<UnpackedSize> unpackedSize(const std::filesystem::path& archive, std::uint64_t block_size,
                                  const ExtractLimits& limits = {});

}  // namespace flotilla::agent
