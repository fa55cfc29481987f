// The Deployer with an order whose artifact an HTTP store serves: downloaded
// through the fetch_url hook, never from the coordinator, and checked with the
// order's digest algorithm before anything is staged.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "flotilla/agent/deployer.h"
#include "flotilla/agent/real_host_os.h"
#include "flotilla/common/crypto.h"
#include "support/deployer_rig.h"
#include "support/release_builder.h"
#include "support/text_file.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using flotilla::Errc;
using flotilla::Error;
using flotilla::Status;
using flotilla::common::DigestAlgorithm;
using flotilla::protocol::OrderSpec;
using flotilla::protocol::Phase;
using flotilla::protocol::VerifiedOrder;
using flotilla::testing::buildRelease;
using flotilla::testing::DeployerRig;
using flotilla::testing::RigArtifact;

constexpr const char* kUrl = "https://store.example/web.tar";

OrderSpec quickSpec() {
  OrderSpec spec;
  spec.deploy.restart = {"./bin/restart"};
  spec.health.interval = 20ms;
  spec.health.healthy_for = 60ms;
  spec.health.deadline = 500ms;
  return spec;
}

struct RealOsHolder {
  flotilla::agent::RealHostOs real_os;
};

class UrlHost : private RealOsHolder, public DeployerRig {
 public:
  UrlHost() : DeployerRig(real_os) { restartAgent(); }

  // An order for `version` whose artifact is served at kUrl (the tarball
  // `served`), named by SHA-256 of `tarball`.
  VerifiedOrder urlOrder(const std::string& version, const fs::path& tarball, const fs::path& served) {
    auto digest = flotilla::common::digestFile(tarball, DigestAlgorithm::kSha256);
    REQUIRE(digest.ok());
    auto o = order("web", version, RigArtifact{digest->digest, digest->size}, quickSpec());
    o.body.artifact_url = kUrl;
    o.body.artifact_digest_algorithm = DigestAlgorithm::kSha256;
    fetch_url_override = [served](const std::string& url, std::uint64_t, const fs::path& dest) -> Status {
      if (url != kUrl) return Error(Errc::kNotFound, url);
      fs::copy_file(served, dest, fs::copy_options::overwrite_existing);
      return {};
    };
    return o;
  }
  std::string current() const {
    std::error_code ec;
    return fs::read_symlink(appDir("web") / "current", ec).string();
  }
};

}  // namespace

TEST_CASE("deployer: an artifact URL is downloaded there and checked by SHA-256", "[deployer][artifact_url]") {
  UrlHost host;
  const fs::path tarball = buildRelease(host.work(), "2.0");
  REQUIRE(host.execute(host.urlOrder("2.0", tarball, tarball)) == Phase::kHealthy);
  CHECK(host.url_fetches == 1);
  CHECK(host.fetches == 0);
  CHECK(host.current() == "releases/2.0");
  bool fetching_named_url = false;
  for (const auto& r : host.reports)
    if (r.phase == Phase::kFetching) fetching_named_url = r.message.find(kUrl) != std::string::npos;
  CHECK(fetching_named_url);
  CHECK(host.downloadsLeft() == 0);
}

TEST_CASE("deployer: a tampered download from a URL fails before staging", "[deployer][artifact_url]") {
  UrlHost host;
  const fs::path v1 = buildRelease(host.work(), "1.0");
  REQUIRE(host.execute(host.urlOrder("1.0", v1, v1)) == Phase::kHealthy);
  const fs::path v2 = buildRelease(host.work(), "2.0");
  const fs::path tampered = host.work() / "tampered.tar";
  std::string bytes = flotilla::testing::readFile(v2);
  bytes[bytes.size() / 2] ^= 0x01;
  std::ofstream(tampered, std::ios::binary) << bytes;

  REQUIRE(host.execute(host.urlOrder("2.0", v2, tampered)) == Phase::kFailed);
  CHECK_THAT(host.reports.back().message, Contains("digest mismatch") && Contains("sha256:"));
  CHECK(host.reports.back().live_version == "1.0");
  CHECK(host.current() == "releases/1.0");
  CHECK_FALSE(fs::exists(host.releasesDir("web") / "2.0"));
  CHECK(host.downloadsLeft() == 0);
}

TEST_CASE("deployer: a failed URL download is reported with its reason", "[deployer][artifact_url]") {
  UrlHost host;
  const fs::path v1 = buildRelease(host.work(), "1.0");
  auto order = host.urlOrder("1.0", v1, v1);
  host.fetch_url_override = [](const std::string& url, std::uint64_t, const fs::path&) -> Status {
    return Error(Errc::kCorrupt, url + ": truncated: received 10 of the 20 bytes the order names");
  };
  REQUIRE(host.execute(order) == Phase::kFailed);
  CHECK_THAT(host.reports.back().message, Contains("fetching artifact") && Contains("truncated"));
  CHECK(host.current().empty());
  CHECK(host.downloadsLeft() == 0);
}
