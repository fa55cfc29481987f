// Plans whose artifact an HTTP store serves (artifact.url), and the digests
// they name with a prefix (protocol/artifact_source.h, docs/artifacts.md).
#include <catch2/catch.hpp>

#include "flotilla/protocol/artifact_source.h"
#include "flotilla/protocol/plan.h"
#include "support/temp_dir.h"

using flotilla::Errc;
using flotilla::common::DigestAlgorithm;
using flotilla::protocol::checkArtifactUrl;
using flotilla::protocol::parsePlan;
using flotilla::protocol::parsePlanFile;
using flotilla::protocol::parsePrefixedDigest;
using flotilla::protocol::Plan;
using flotilla::protocol::prefixedDigest;
using flotilla::testing::TempDir;

namespace {

const std::string kHex = std::string(32, 'a') + std::string(32, '7');

// Lines 1-2; the [artifact] table follows from line 3.
const std::string kHead = "app = \"web\"\nversion = \"1.0\"\n";

Plan planOf(const std::string& artifact) {
  auto r = parsePlan(kHead + artifact, "p.toml", "/plans");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

std::string errorOf(const std::string& artifact) {
  auto r = parsePlan(kHead + artifact, "p.toml", "/plans");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kInvalidArgument);
  return r.error().message;
}

}  // namespace

TEST_CASE("artifact.url with a sha256 digest and a length needs no local file", "[protocol][plan][artifact_url]") {
  auto plan = planOf("[artifact]\nurl = \"https://store.example/web/1.0.tar.gz\"\ndigest = \"sha256:" + kHex +
                     "\"\nlength = 4096\n");
  CHECK(plan.artifact_url == "https://store.example/web/1.0.tar.gz");
  REQUIRE(plan.artifact_digest);
  CHECK(plan.artifact_digest->algorithm == DigestAlgorithm::kSha256);
  CHECK(plan.artifact_digest->hex == kHex);
  CHECK(plan.artifact_length == 4096);
  CHECK(plan.artifact_file.empty());
}

TEST_CASE("artifact.url with a blake2b-256 digest in upper case keeps it lower case",
          "[protocol][plan][artifact_url]") {
  std::string upper = kHex;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto plan =
      planOf("[artifact]\nurl = \"http://127.0.0.1:8000/a.tgz\"\ndigest = \"blake2b-256:" + upper + "\"\nlength = 1\n");
  REQUIRE(plan.artifact_digest);
  CHECK(plan.artifact_digest->algorithm == DigestAlgorithm::kBlake2b256);
  CHECK(plan.artifact_digest->hex == kHex);
}

TEST_CASE("artifact.url with artifact.file: the console computes digest and length", "[protocol][plan][artifact_url]") {
  auto plan = planOf("[artifact]\nurl = \"https://store.example/a.tgz\"\nfile = \"web.tgz\"\n");
  CHECK(plan.artifact_url == "https://store.example/a.tgz");
  CHECK_FALSE(plan.artifact_digest);
  CHECK(plan.artifact_file == "/plans/web.tgz");
}

TEST_CASE("a plan without artifact.url is uploaded as before", "[protocol][plan][artifact_url]") {
  auto plan = planOf("[artifact]\nfile = \"web.tgz\"\n");
  CHECK(plan.artifact_url.empty());
  CHECK_FALSE(plan.artifact_digest);
}

TEST_CASE("artifact.url errors name file, line, column and key", "[protocol][plan][artifact_url][error]") {
  const std::string url = "[artifact]\nurl = \"https://s.example/a.tgz\"\n";
  SECTION("a digest without its algorithm") {
    CHECK_THAT(errorOf(url + "digest = \"" + kHex + "\"\nlength = 1\n"),
               Catch::StartsWith("p.toml:5:10: artifact.digest: expected \"sha256:<64 hex>\""));
  }
  SECTION("an unknown algorithm") {
    CHECK_THAT(errorOf(url + "digest = \"md5:" + kHex + "\"\nlength = 1\n"),
               Catch::StartsWith("p.toml:5:10: artifact.digest: "));
  }
  SECTION("a short digest") {
    CHECK_THAT(errorOf(url + "digest = \"sha256:abc\"\nlength = 1\n"),
               Catch::StartsWith("p.toml:5:10: artifact.digest: a sha256 digest is 64 hex characters") &&
                   Catch::Contains("got 3"));
  }
  SECTION("a digest that is not hex") {
    CHECK_THAT(errorOf(url + "digest = \"sha256:" + std::string(64, 'g') + "\"\nlength = 1\n"),
               Catch::Contains("not all hex"));
  }
  SECTION("a digest without a length") {
    CHECK_THAT(errorOf(url + "digest = \"sha256:" + kHex + "\"\n"),
               Catch::StartsWith("p.toml:5:10: artifact.length: missing"));
  }
  SECTION("a length that is not a positive integer") {
    CHECK_THAT(errorOf(url + "digest = \"sha256:" + kHex + "\"\nlength = 0\n"),
               Catch::StartsWith("p.toml:6:10: artifact.length: must be at least 1 byte"));
    CHECK_THAT(errorOf(url + "digest = \"sha256:" + kHex + "\"\nlength = \"4k\"\n"),
               Catch::StartsWith("p.toml:6:10: artifact.length: "));
  }
  SECTION("neither a digest nor a local file") {
    CHECK_THAT(errorOf(url), Catch::StartsWith("p.toml:4:7: artifact.url: needs artifact.digest and artifact.length"));
  }
  SECTION("a local file and a digest both") {
    CHECK_THAT(errorOf(url + "file = \"a.tgz\"\ndigest = \"sha256:" + kHex + "\"\nlength = 1\n"),
               Catch::StartsWith("p.toml:5:8: artifact.file: give artifact.file"));
  }
  SECTION("a length without a digest") {
    CHECK_THAT(errorOf(url + "file = \"a.tgz\"\nlength = 1\n"), Catch::StartsWith("p.toml:6:10: artifact.length: "));
  }
  SECTION("a digest or length without a URL") {
    CHECK_THAT(errorOf("[artifact]\nfile = \"a.tgz\"\ndigest = \"sha256:" + kHex + "\"\n"),
               Catch::StartsWith("p.toml:5:10: artifact.digest: only with artifact.url"));
    CHECK_THAT(errorOf("[artifact]\nfile = \"a.tgz\"\nlength = 3\n"),
               Catch::StartsWith("p.toml:5:10: artifact.length: only with artifact.url"));
  }
  SECTION("a URL that is not http(s), names no host, or carries credentials") {
    CHECK_THAT(errorOf("[artifact]\nurl = \"ftp://s.example/a\"\nfile = \"a\"\n"),
               Catch::StartsWith("p.toml:4:7: artifact.url: expected an http:// or https:// URL"));
    CHECK_THAT(errorOf("[artifact]\nurl = \"https:///a\"\nfile = \"a\"\n"), Catch::Contains("names no host"));
    CHECK_THAT(errorOf("[artifact]\nurl = \"https://u:p@s.example/a\"\nfile = \"a\"\n"),
               Catch::Contains("credentials do not belong in a plan"));
    CHECK_THAT(errorOf("[artifact]\nurl = \"https://s.example/a b\"\nfile = \"a\"\n"),
               Catch::Contains("percent-encoded"));
  }
  SECTION("a release signature with a sha256 digest") {
    CHECK_THAT(errorOf(url + "digest = \"sha256:" + kHex + "\"\nlength = 1\nsignature = \"a.sig\"\n"),
               Catch::StartsWith("p.toml:7:13: artifact.signature: signatures name a blake2b-256 digest"));
  }
}

TEST_CASE("parsePlanFile needs no local file for artifact.url with a digest", "[protocol][plan][artifact_url]") {
  TempDir dir;
  dir.write("web.toml",
            kHead + "[artifact]\nurl = \"https://s.example/a\"\ndigest = \"sha256:" + kHex + "\"\nlength = 9\n");
  auto plan = parsePlanFile(dir.path() / "web.toml");
  INFO((plan ? std::string() : plan.error().message));
  CHECK(plan.ok());
}

TEST_CASE("parsePlanFile checks the local copy beside artifact.url", "[protocol][plan][artifact_url][error]") {
  TempDir dir;
  dir.write("web.toml", kHead + "[artifact]\nurl = \"https://s.example/a\"\nfile = \"web.tgz\"\n");
  auto plan = parsePlanFile(dir.path() / "web.toml");
  REQUIRE_FALSE(plan.ok());
  CHECK_THAT(plan.error().message, Catch::Contains(":5:8: artifact.file: no such file"));
}

TEST_CASE("prefixed digests round trip and refuse what is not one", "[protocol][artifact_url]") {
  auto d = parsePrefixedDigest("sha256:" + kHex);
  REQUIRE(d.ok());
  CHECK(prefixedDigest(*d) == "sha256:" + kHex);
  auto b = parsePrefixedDigest("blake2b-256:" + kHex);
  REQUIRE(b.ok());
  CHECK(prefixedDigest(*b) == "blake2b-256:" + kHex);
  CHECK_FALSE(parsePrefixedDigest("").ok());
  CHECK_FALSE(parsePrefixedDigest("sha256:").ok());
  CHECK_FALSE(parsePrefixedDigest("SHA256:" + kHex).ok());
  CHECK_FALSE(parsePrefixedDigest("sha512:" + kHex).ok());
  CHECK_FALSE(parsePrefixedDigest("sha256:" + kHex + "0").ok());
}

TEST_CASE("artifact URLs: only http(s) with a host and no credentials", "[protocol][artifact_url]") {
  CHECK(checkArtifactUrl("https://store.example/web/1.0.tgz?sig=abc").ok());
  CHECK(checkArtifactUrl("http://[::1]:8080/a").ok());
  CHECK_FALSE(checkArtifactUrl("file:///etc/passwd").ok());
  CHECK_FALSE(checkArtifactUrl("http://").ok());
  CHECK_FALSE(checkArtifactUrl("http://:80/a").ok());
  CHECK_FALSE(checkArtifactUrl("https://user@store.example/a").ok());
  CHECK_FALSE(checkArtifactUrl("https://store.example/\n").ok());
  CHECK_FALSE(checkArtifactUrl("https://store.example/" + std::string(3000, 'a')).ok());
}
