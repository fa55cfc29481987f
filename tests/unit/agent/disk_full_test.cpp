// A full disk on the real OS: the unpacked size of a real tarball, and releases
// extracted onto a small tmpfs that runs out of bytes or of inodes. Mounting
// needs root (CI runs as root); elsewhere the tmpfs cases say why and do nothing.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "flotilla/agent/extract.h"
#include "flotilla/agent/real_host_os.h"
#include "support/deployer_rig.h"
#include "support/release_builder.h"
#include "support/small_disk.h"
#include "support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using flotilla::Errc;
using flotilla::agent::ExtractLimits;
using flotilla::agent::RealHostOs;
using flotilla::protocol::OrderSpec;
using flotilla::protocol::Phase;
using flotilla::testing::buildRelease;
using flotilla::testing::DeployerRig;
using flotilla::testing::ReleaseOptions;
using flotilla::testing::SmallDisk;
using flotilla::testing::TempDir;

constexpr std::size_t kBlob = 2 * 1024 * 1024;

ReleaseOptions withBlob(std::size_t size) {
  ReleaseOptions o;
  o.extra_files["www/blob"] = std::string(size, 'x');
  return o;
}

bool mounted(const SmallDisk& d) {
  if (::geteuid() != 0 || !d.error().empty()) {
    WARN("skipped: needs root to mount a small tmpfs for the apps directory ("
         << (d.error().empty() ? "not root" : d.error()) << ")");
    return false;
  }
  return true;
}

// A release with a restart command only: nothing to probe.
OrderSpec restartOnly() {
  OrderSpec spec;
  spec.deploy.restart = {"./bin/restart"};
  return spec;
}

// A rig on the real OS whose apps directory is a small tmpfs.
struct SmallHost {
  SmallHost(const std::string& size, const std::string& options = "") : disk(rig.work() / "appsfs", size, options) {
    rig.config.apps_dir = disk.path();
    rig.restartAgent();
  }
  Phase deploy(const std::string& version, const ReleaseOptions& opts) {
    auto art = rig.addFile(buildRelease(rig.work(), version, opts));
    return rig.execute(rig.order("web", version, art, restartOnly()));
  }
  bool stagingLeft() const {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(rig.releasesDir("web"), ec))
      if (e.path().filename().string().rfind(".staging-", 0) == 0) return true;
    return false;
  }

  RealHostOs os;
  DeployerRig rig{os};
  SmallDisk disk;  // unmounted before the rig removes its temp dir
};

}  // namespace

TEST_CASE("unpackedSize rounds files up to blocks and counts a block per directory", "[extract][disk]") {
  TempDir tmp("flotilla-unpacked");
  // ./, bin/, www/ | bin/restart, VERSION (a block each), HEALTHY (empty), www/blob (5000 bytes: two blocks).
  const auto tarball = buildRelease(tmp.path(), "1", withBlob(5000));

  auto size = flotilla::agent::unpackedSize(tarball, 4096);
  REQUIRE(size.ok());
  CHECK(size->entries == 7);
  CHECK(size->bytes == 3 * 4096 + 4096 + 4096 + 2 * 4096);
  CHECK(size->within_limits);

  ExtractLimits few;
  few.max_entries = 3;
  auto stopped = flotilla::agent::unpackedSize(tarball, 4096, few);
  REQUIRE(stopped.ok());
  CHECK_FALSE(stopped->within_limits);
}

TEST_CASE("unpackedSize of a file that is not an archive is an error", "[extract][disk]") {
  TempDir tmp("flotilla-unpacked");
  auto size = flotilla::agent::unpackedSize(tmp.path() / "missing.tar.gz", 4096);
  REQUIRE_FALSE(size.ok());
  CHECK(size.error().code == Errc::kNotFound);
}

TEST_CASE("extracting onto a full tmpfs is a no-space error naming the entry", "[extract][disk]") {
  TempDir tmp("flotilla-enospc");
  SmallDisk disk(tmp.path() / "fs", "1m");
  if (!mounted(disk)) return;
  const auto tarball = buildRelease(tmp.path(), "1", withBlob(kBlob));

  auto st = flotilla::agent::extractArchive(tarball, disk.path() / "release");

  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kNoSpace);
  CHECK(st.error().message == "entry './www/blob': No space left on device");
}

TEST_CASE("extracting onto a tmpfs out of inodes is a no-space error too", "[extract][disk]") {
  TempDir tmp("flotilla-enospc");
  SmallDisk disk(tmp.path() / "fs", "1m", "nr_inodes=4");
  if (!mounted(disk)) return;
  const auto tarball = buildRelease(tmp.path(), "1");

  auto st = flotilla::agent::extractArchive(tarball, disk.path() / "release");

  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kNoSpace);
  CHECK_THAT(st.error().message, Contains("No space left on device"));
}

TEST_CASE("an agent refuses a release larger than its apps disk before extracting it", "[deployer][disk]") {
  SmallHost host("1m");
  if (!mounted(host.disk)) return;

  REQUIRE(host.deploy("1", withBlob(kBlob)) == Phase::kFailed);

  const std::string& message = host.rig.reports.back().message;
  CHECK_THAT(message, StartsWith("disk full: " + host.rig.releasesDir("web").string() + " has "));
  CHECK_THAT(message, Contains(" free; release 1 needs 2.0 MiB ("));
  CHECK_THAT(message, Contains(" bytes) unpacked"));
  CHECK_FALSE(host.stagingLeft());
  CHECK(host.rig.downloadsLeft() == 0);
  CHECK_FALSE(fs::exists(host.rig.appDir("web") / "current"));
}

TEST_CASE("an agent whose apps disk runs out of inodes while extracting says the disk is full", "[deployer][disk]") {
  // The mount point, web/, web/releases/ and the staging directory take four
  // of the five inodes: the release's second entry finds none.
  SmallHost host("1m", "nr_inodes=5");
  if (!mounted(host.disk)) return;

  REQUIRE(host.deploy("1", ReleaseOptions{}) == Phase::kFailed);

  const std::string& message = host.rig.reports.back().message;
  CHECK_THAT(message, StartsWith("disk full while extracting (entry '"));
  CHECK_THAT(message, Contains("No space left on device): " + host.rig.releasesDir("web").string() + " has "));
  CHECK_THAT(message, Contains("inodes"));
  CHECK_FALSE(host.stagingLeft());
  CHECK(host.rig.downloadsLeft() == 0);
}
