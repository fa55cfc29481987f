#pragma once
// Release tarballs for agent tests, built with /bin/tar in a scratch directory.
//
// A release made by buildRelease() holds:
//   bin/restart  a sh script that appends "$FLOTILLA_VERSION" to
//                "$FLOTILLA_RELEASE_DIR/../../restarted" (the app directory when
//                the release lives at <apps>/<app>/releases/<version>) and exits
//                with `restart_exit`
//   HEALTHY      present when `healthy`, so an exec check `test -f HEALTHY`
//                run in the release directory passes
//   VERSION      the version, so tests can tell releases apart on disk
// plus any `extra_files`. With `example_service`, bin/ is instead the example
// service's (examples/service/bin: bin/service, bin/restart PORT, bin/stop...),
// so the release serves HTTP; `error_rate`, `latency_ms` and `rps` become the
// release files ERROR_RATE, LATENCY_MS and RPS it reads (examples/README.md).

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace flotilla::testing {

struct ReleaseOptions {
  bool healthy = true;
  int restart_exit = 0;
  std::map<std::string, std::string> extra_files;  // relative path -> content
  bool example_service = false;
  std::optional<double> error_rate;  // share of /work requests that answer 500
  std::optional<int> latency_ms;     // delay added to /work
  std::optional<int> rps;            // the service's own traffic, requests/s
};

// Writes <out_dir>/<version>-<n>.tar.gz and returns its path. Fails the
// running Catch2 test when the tarball cannot be built.
std::filesystem::path buildRelease(const std::filesystem::path& out_dir, const std::string& version,
                                   const ReleaseOptions& opts = {});

// Unpacks `tarball` into `dir` (created if missing) and returns `dir`, e.g. to
// run an example-service release's bin/service directly. Fails the running
// Catch2 test when tar fails.
std::filesystem::path unpackRelease(const std::filesystem::path& tarball, const std::filesystem::path& dir);

// A tar.gz whose one regular-file entry is stored under `entry_name` verbatim
// (e.g. "../evil"), for tests of refused artifacts.
std::filesystem::path buildTarballWithEntry(const std::filesystem::path& out_dir, const std::string& entry_name,
                                            const std::string& content);

// The lines of a text file; empty when it does not exist.
std::vector<std::string> readLines(const std::filesystem::path& file);

}  // namespace flotilla::testing
