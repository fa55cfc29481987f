#pragma once
// Whether a release fits on the file system it is extracted to, and what to
// say when it does not: which directory, how much was free and how much the
// release needs unpacked. Goes to the disk only through the HostOs, so unit
// tests script both figures. Called from the Deployer (agent worker thread).

#include <filesystem>
#include <string>

#include "flotilla/agent/extract.h"
#include "flotilla/agent/host_os.h"
#include "flotilla/common/result.h"

namespace flotilla::agent {

// ok() when the release unpacked from `archive` fits in the file system of
// `releases_dir`, or when that cannot be known (statvfs fails, the archive is
// unreadable: extraction then says what is wrong). Otherwise Errc::kNoSpace:
// "disk full: <releases_dir> has 1.0 MiB free (1048576 bytes); release <version>
// needs 2.0 MiB (2101248 bytes) unpacked".
// Measuring reads the whole archive once more, so it happens only when the free
// space is below the most an archive within `limits` can take.
Status checkReleaseFits(HostOs& os, const std::filesystem::path& archive, const std::filesystem::path& releases_dir,
                        const std::string& version, const ExtractLimits& limits);

// The error for an extraction that failed with Errc::kNoSpace (`cause`), with
// the free space measured now (call it once the partial release is removed)
// and what the release needs.
Error explainNoSpace(HostOs& os, const std::filesystem::path& archive, const std::filesystem::path& releases_dir,
                     const std::string& version, const ExtractLimits& limits, const Error& cause);

// "512 bytes", "1.5 MiB (1572864 bytes)".
std::string describeBytes(std::uint64_t bytes);

}  // namespace flotilla::agent
