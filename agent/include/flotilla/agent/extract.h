#pragma once
// Safe extraction of a release artifact (tar, tar.gz, tar.xz, zip...) with
// libarchive into a fresh staging directory. Refuses (and names the entry):
// absolute paths, any '..' component, symlinks whose target is absolute or
// resolves outside the tree, hardlinks to outside the tree, device nodes,
// FIFOs, sockets, setuid/setgid/sticky bits, more than max_entries entries or
// more than max_bytes of content. On refusal the caller removes dest_dir;
// nothing is ever written outside dest_dir.

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

}  // namespace flotilla::agent
