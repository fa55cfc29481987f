// When the Deployer measures a release against the free space, and how it says
// a disk is full, with the disk scripted by FakeHostOs.
#include "flotilla/agent/release_space.h"

#include <catch2/catch.hpp>

#include "support/fake_host_os.h"

namespace {

using Catch::Matchers::Contains;
using flotilla::Errc;
using flotilla::Error;
using flotilla::agent::checkReleaseFits;
using flotilla::agent::describeBytes;
using flotilla::agent::explainNoSpace;
using flotilla::agent::ExtractLimits;
using flotilla::testing::FakeHostOs;

// The default limits on 4 KiB blocks: 4 GiB of content plus a block for each of 100000 entries.
constexpr std::uint64_t kMostAccepted = (4ull << 30) + 100'000ull * 4096;

}  // namespace

TEST_CASE("describeBytes says bytes exactly and in binary units", "[release_space]") {
  CHECK(describeBytes(0) == "0 bytes");
  CHECK(describeBytes(1023) == "1023 bytes");
  CHECK(describeBytes(1024) == "1.0 KiB (1024 bytes)");
  CHECK(describeBytes(1572864) == "1.5 MiB (1572864 bytes)");
  CHECK(describeBytes(3ull << 30) == "3.0 GiB (3221225472 bytes)");
  CHECK(describeBytes(5ull << 40) == "5.0 TiB (5497558138880 bytes)");
  CHECK(describeBytes(2048ull << 40) == "2048.0 TiB (2251799813685248 bytes)");
}

TEST_CASE("a release is measured only when the free space is below what any accepted archive takes",
          "[release_space]") {
  FakeHostOs os;
  os.unpacked = {kMostAccepted, 100'000, true};
  os.disk = {kMostAccepted, 4096};
  CHECK(checkReleaseFits(os, "a.tar.gz", "/apps/web/releases", "2", ExtractLimits{}).ok());
  CHECK(os.measurements == 0);

  os.disk = {kMostAccepted - 1, 4096};
  auto st = checkReleaseFits(os, "a.tar.gz", "/apps/web/releases", "2", ExtractLimits{});
  CHECK(os.measurements == 1);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kNoSpace);
}

TEST_CASE("a release that needs exactly the free space fits", "[release_space]") {
  FakeHostOs os;
  os.disk = {1 << 20, 4096};
  os.unpacked = {1 << 20, 3, true};
  CHECK(checkReleaseFits(os, "a.tar.gz", "/apps/web/releases", "2", ExtractLimits{}).ok());
  os.unpacked.bytes += 1;
  CHECK_FALSE(checkReleaseFits(os, "a.tar.gz", "/apps/web/releases", "2", ExtractLimits{}).ok());
}

TEST_CASE("a no-space error without a readable free space still names the directory", "[release_space]") {
  FakeHostOs os;
  os.disk_error = Error(Errc::kIo, "statvfs /apps/web/releases: Input/output error");
  auto e = explainNoSpace(os, "a.tar.gz", "/apps/web/releases", "2", ExtractLimits{},
                          Error(Errc::kNoSpace, "entry 'blob': No space left on device"));
  CHECK(e.code == Errc::kNoSpace);
  CHECK(e.message ==
        "disk full while extracting (entry 'blob': No space left on device): /apps/web/releases "
        "(statvfs /apps/web/releases: Input/output error)");
}
