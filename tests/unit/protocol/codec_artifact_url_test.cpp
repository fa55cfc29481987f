// The order body's appended artifact URL fields: round trip, and bodies from
// before them (14 fields) still decode, as a BLAKE2b-256 artifact from the coordinator.
#include <msgpack.hpp>

#include <catch2/catch.hpp>
#include <string>

#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"

using flotilla::Errc;
using flotilla::common::DigestAlgorithm;
using namespace flotilla::protocol;

namespace {

OrderBody body() {
  OrderBody b;
  b.order_id = "web-1/a1/1";
  b.target = "a1";
  b.rollout_id = "web-1";
  b.app = "web";
  b.version = "1.0";
  b.action = "deploy";
  b.artifact_digest = std::string(64, 'c');
  b.artifact_size = 4096;
  b.spec_digest = std::string(64, 'd');
  b.sequence = 3;
  b.issued_at = 1'795'000'000;
  b.expires_at = 1'795'000'600;
  b.key_id = "0123456789abcdef";
  return b;
}

std::size_t fieldsOf(const std::string& bytes) {
  auto h = msgpack::unpack(bytes.data(), bytes.size());
  REQUIRE(h.get().type == msgpack::type::ARRAY);
  return h.get().via.array.size;
}

// `b` encoded with its array header claiming `fields` and only the first
// `fields` values written: what an encoder of another version would send.
std::string withFields(const OrderBody& b, std::size_t fields) {
  const std::string bytes = encodeOrderBody(b);
  auto h = msgpack::unpack(bytes.data(), bytes.size());
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  p.pack_array(static_cast<std::uint32_t>(fields));
  for (std::size_t i = 0; i < fields; ++i) {
    if (i < h.get().via.array.size)
      p.pack(h.get().via.array.ptr[i]);
    else
      p.pack(std::string("extra"));
  }
  return std::string(buf.data(), buf.size());
}

}  // namespace

TEST_CASE("codec: an order of an uploaded artifact keeps the 14 fields agents before URLs read",
          "[protocol][codec][artifact_url]") {
  const std::string bytes = encodeOrderBody(body());
  CHECK(fieldsOf(bytes) == 14);
  auto r = decodeOrderBody(bytes);
  REQUIRE(r.ok());
  CHECK(r->artifact_url.empty());
  CHECK(r->artifact_digest_algorithm == DigestAlgorithm::kBlake2b256);
}

TEST_CASE("codec: an order with an artifact URL and a sha256 digest round trips", "[protocol][codec][artifact_url]") {
  OrderBody want = body();
  want.artifact_url = "https://store.example/web/1.0.tar.gz";
  want.artifact_digest_algorithm = DigestAlgorithm::kSha256;
  const std::string bytes = encodeOrderBody(want);
  CHECK(fieldsOf(bytes) == 17);  // with the epoch (0: no lease) before the URL fields
  auto r = decodeOrderBody(bytes);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->artifact_url == want.artifact_url);
  CHECK(r->artifact_digest_algorithm == DigestAlgorithm::kSha256);
  CHECK(r->artifact_digest == want.artifact_digest);
  CHECK(r->release_signature.empty());
  CHECK(encodeOrderBody(*r) == bytes);
}

TEST_CASE("codec: an artifact URL with a blake2b-256 digest round trips", "[protocol][codec][artifact_url]") {
  OrderBody want = body();
  want.artifact_url = "http://127.0.0.1:8080/a.tgz";
  auto r = decodeOrderBody(encodeOrderBody(want));
  REQUIRE(r.ok());
  CHECK(r->artifact_url == want.artifact_url);
  CHECK(r->artifact_digest_algorithm == DigestAlgorithm::kBlake2b256);
}

TEST_CASE("codec: malformed artifact URL fields are refused", "[protocol][codec][artifact_url][strict]") {
  OrderBody b = body();
  b.artifact_url = "https://store.example/a.tgz";
  auto refused = [](const std::string& bytes) {
    auto r = decodeOrderBody(bytes);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::kCorrupt);
    return r.error().message;
  };
  SECTION("15 fields: an epoch of 0 and no URL fields") { refused(withFields(b, 15)); }
  SECTION("16 fields: the algorithm is missing") { refused(withFields(b, 16)); }
  SECTION("18 fields") { CHECK_THAT(refused(withFields(b, 18)), Catch::Contains("14 to 17 fields")); }
  SECTION("a URL that is not http(s)") {
    b.artifact_url = "file:///etc/shadow";
    CHECK_THAT(refused(encodeOrderBody(b)), Catch::Contains("artifact_url"));
  }
  SECTION("a URL without a digest") {
    b.action = "rollback";
    b.artifact_digest.clear();
    CHECK_THAT(refused(encodeOrderBody(b)), Catch::Contains("needs an artifact_digest"));
  }
  SECTION("a sha256 digest of an artifact from the coordinator") {
    b.artifact_url.clear();
    b.artifact_digest_algorithm = DigestAlgorithm::kSha256;
    CHECK_THAT(refused(encodeOrderBody(b)), Catch::Contains("BLAKE2b-256"));
  }
  SECTION("an unknown algorithm") {
    const std::string bytes = encodeOrderBody(b);
    auto h = msgpack::unpack(bytes.data(), bytes.size());
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> p(buf);
    p.pack_array(17);
    for (std::size_t i = 0; i < 16; ++i) p.pack(h.get().via.array.ptr[i]);
    p.pack(std::string("md5"));
    CHECK_THAT(refused(std::string(buf.data(), buf.size())), Catch::Contains("unknown artifact digest algorithm"));
  }
}

TEST_CASE("release signatures of a sha256 artifact sign the prefixed digest", "[protocol][order][artifact_url]") {
  auto key = flotilla::common::generateSigningKeyPair();
  OrderBody b = body();
  b.artifact_url = "https://store.example/a.tgz";
  b.artifact_digest_algorithm = DigestAlgorithm::kSha256;
  b.release_signature = signRelease(b.app, b.version, b.artifact_digest, b.artifact_size, key);
  CHECK_FALSE(verifyRelease(b, {key.public_key}));
  b.release_signature = signRelease(b.app, b.version, "sha256:" + b.artifact_digest, b.artifact_size, key);
  CHECK(verifyRelease(b, {key.public_key}));
}
