#include "flotilla/common/crypto.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "support/temp_dir.h"

using namespace flotilla::common;
using flotilla::Errc;

namespace {

using flotilla::testing::TempDir;

void writePlain(const std::filesystem::path& path, const std::string& content, mode_t mode) {
  std::ofstream(path, std::ios::binary) << content;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

mode_t modeOf(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

struct CryptoInit {
  CryptoInit() { REQUIRE(initCrypto().ok()); }
};

}  // namespace

TEST_CASE("initCrypto is idempotent", "[crypto]") {
  REQUIRE(initCrypto().ok());
  REQUIRE(initCrypto().ok());
}

TEST_CASE("a signature made with a secret key verifies with its public key", "[crypto]") {
  CryptoInit init;
  auto keys = generateSigningKeyPair();
  auto sig = sign(asBytes("deploy web 1.2.3"), keys.secret_key);
  REQUIRE(verifySignature(asBytes("deploy web 1.2.3"), sig, keys.public_key));
}

TEST_CASE("a signature does not verify a tampered message", "[crypto]") {
  CryptoInit init;
  auto keys = generateSigningKeyPair();
  auto sig = sign(asBytes("deploy web 1.2.3"), keys.secret_key);
  REQUIRE_FALSE(verifySignature(asBytes("deploy web 1.2.4"), sig, keys.public_key));
}

TEST_CASE("a tampered signature does not verify", "[crypto]") {
  CryptoInit init;
  auto keys = generateSigningKeyPair();
  auto sig = sign(asBytes("deploy web 1.2.3"), keys.secret_key);
  sig[10] ^= 0x01;
  REQUIRE_FALSE(verifySignature(asBytes("deploy web 1.2.3"), sig, keys.public_key));
}

TEST_CASE("a signature does not verify under another public key", "[crypto]") {
  CryptoInit init;
  auto keys = generateSigningKeyPair();
  auto other = generateSigningKeyPair();
  auto sig = sign(asBytes("deploy web 1.2.3"), keys.secret_key);
  REQUIRE_FALSE(verifySignature(asBytes("deploy web 1.2.3"), sig, other.public_key));
}

TEST_CASE("an empty message can be signed and verified", "[crypto]") {
  CryptoInit init;
  auto keys = generateSigningKeyPair();
  auto sig = sign(asBytes(""), keys.secret_key);
  REQUIRE(verifySignature(asBytes(""), sig, keys.public_key));
}

TEST_CASE("curve key pairs are matching X25519 halves", "[crypto]") {
  CryptoInit init;
  auto pair = generateCurveKeyPair();
  PublicKey derived{};
  REQUIRE(crypto_scalarmult_base(derived.data(), pair.secret_key.data()) == 0);
  REQUIRE(derived == pair.public_key);
  REQUIRE(generateCurveKeyPair().public_key != pair.public_key);
}

TEST_CASE("hex encoding round-trips and is lowercase", "[crypto][hex]") {
  const std::string raw("\x00\x01\xab\xff\x7f", 5);
  auto hex = toHex(asBytes(raw));
  REQUIRE(hex == "0001abff7f");
  auto back = fromHex(hex);
  REQUIRE(back.ok());
  REQUIRE(*back == raw);
}

TEST_CASE("fromHex accepts uppercase digits", "[crypto][hex]") {
  auto back = fromHex("ABff");
  REQUIRE(back.ok());
  REQUIRE(*back == std::string("\xab\xff", 2));
}

TEST_CASE("fromHex of an empty string is empty", "[crypto][hex]") {
  auto back = fromHex("");
  REQUIRE(back.ok());
  REQUIRE(back->empty());
}

TEST_CASE("fromHex rejects a non-hex character", "[crypto][hex]") {
  auto back = fromHex("00zz");
  REQUIRE_FALSE(back.ok());
  REQUIRE(back.error().code == Errc::kInvalidArgument);
  REQUIRE_THAT(back.error().message, Catch::Contains("offset 2"));
}

TEST_CASE("fromHex rejects an odd number of characters", "[crypto][hex]") {
  auto back = fromHex("abc");
  REQUIRE_FALSE(back.ok());
  REQUIRE(back.error().code == Errc::kInvalidArgument);
  REQUIRE_THAT(back.error().message, Catch::Contains("odd"));
}

TEST_CASE("fromHex rejects the wrong length when one is expected", "[crypto][hex]") {
  auto back = fromHex("abcd", 3);
  REQUIRE_FALSE(back.ok());
  REQUIRE(back.error().code == Errc::kInvalidArgument);
  REQUIRE_THAT(back.error().message, Catch::Contains("expected 6 hex characters, got 4"));
  REQUIRE(fromHex("abcdef", 3).ok());
}

TEST_CASE("publicKeyFromHex round-trips a key", "[crypto][hex]") {
  CryptoInit init;
  auto keys = generateSigningKeyPair();
  auto parsed = publicKeyFromHex(toHex(keys.public_key));
  REQUIRE(parsed.ok());
  REQUIRE(*parsed == keys.public_key);
}

TEST_CASE("publicKeyFromHex rejects a short key and says so", "[crypto][hex]") {
  auto parsed = publicKeyFromHex("abcd");
  REQUIRE_FALSE(parsed.ok());
  REQUIRE(parsed.error().code == Errc::kInvalidArgument);
  REQUIRE_THAT(parsed.error().message, Catch::StartsWith("public key: "));
}

TEST_CASE("BLAKE2b-256 of the empty string matches the known answer", "[crypto][digest]") {
  REQUIRE(blake2bHex(asBytes("")) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

TEST_CASE("streaming Hasher equals the one-shot digest", "[crypto][digest]") {
  Hasher hasher;
  hasher.update(asBytes("hello "));
  hasher.update(asBytes(""));
  hasher.update(asBytes("world"));
  REQUIRE(hasher.finalHex() == blake2bHex(asBytes("hello world")));
}

TEST_CASE("digestFile reports the BLAKE2b-256 and size of the content", "[crypto][digest]") {
  TempDir dir;
  std::string content(300 * 1024, 'x');  // more than one read buffer
  content += "tail";
  auto path = dir.path() / "artifact.tar";
  writePlain(path, content, 0644);
  auto digest = digestFile(path);
  REQUIRE(digest.ok());
  REQUIRE(digest->digest == blake2bHex(asBytes(content)));
  REQUIRE(digest->size == content.size());
}

TEST_CASE("digestFile of a missing file is kNotFound naming the path", "[crypto][digest]") {
  TempDir dir;
  auto digest = digestFile(dir.path() / "missing");
  REQUIRE_FALSE(digest.ok());
  REQUIRE(digest.error().code == Errc::kNotFound);
  REQUIRE_THAT(digest.error().message, Catch::Contains((dir.path() / "missing").string()));
}

TEST_CASE("keyId is 16 hex characters, stable, and differs between keys", "[crypto]") {
  CryptoInit init;
  auto a = generateSigningKeyPair().public_key;
  auto b = generateSigningKeyPair().public_key;
  REQUIRE(keyId(a).size() == 16);
  REQUIRE(keyId(a) == keyId(a));
  REQUIRE(keyId(a) != keyId(b));
  REQUIRE(keyId(a) == blake2bHex(a).substr(0, 16));
}

TEST_CASE("randomHex gives the requested amount of fresh randomness", "[crypto]") {
  CryptoInit init;
  auto a = randomHex(16);
  REQUIRE(a.size() == 32);
  REQUIRE(fromHex(a).ok());
  REQUIRE(randomHex(16) != a);
  REQUIRE(randomHex(0).empty());
}

TEST_CASE("a secret file is written 0600 and reads back", "[crypto][secret]") {
  TempDir dir;
  auto path = dir.path() / "agent.key";
  REQUIRE(writeSecretFile(path, "s3cret").ok());
  REQUIRE(modeOf(path) == 0600);
  auto back = readSecretFile(path);
  REQUIRE(back.ok());
  REQUIRE(*back == "s3cret");
}

TEST_CASE("writeSecretFile replaces an existing world-readable file with a 0600 one", "[crypto][secret]") {
  TempDir dir;
  auto path = dir.path() / "agent.key";
  writePlain(path, "old", 0644);
  REQUIRE(writeSecretFile(path, "new").ok());
  REQUIRE(modeOf(path) == 0600);
  REQUIRE(*readSecretFile(path) == "new");
}

TEST_CASE("readSecretFile refuses a file readable by others and says how to fix it", "[crypto][secret]") {
  TempDir dir;
  auto path = dir.path() / "agent.key";
  writePlain(path, "s3cret", 0644);
  auto back = readSecretFile(path);
  REQUIRE_FALSE(back.ok());
  REQUIRE(back.error().code == Errc::kPermission);
  REQUIRE_THAT(back.error().message, Catch::Contains("permissions 0644 are too open"));
  REQUIRE_THAT(back.error().message, Catch::Contains("chmod 600 " + path.string()));
}

TEST_CASE("readSecretFile refuses a file the group can read", "[crypto][secret]") {
  TempDir dir;
  auto path = dir.path() / "agent.key";
  writePlain(path, "s3cret", 0640);
  auto back = readSecretFile(path);
  REQUIRE_FALSE(back.ok());
  REQUIRE_THAT(back.error().message, Catch::Contains("0640"));
}

TEST_CASE("readSecretFile of a missing file is kNotFound", "[crypto][secret]") {
  TempDir dir;
  auto back = readSecretFile(dir.path() / "missing.key");
  REQUIRE_FALSE(back.ok());
  REQUIRE(back.error().code == Errc::kNotFound);
}

TEST_CASE("readSecretFile refuses a directory", "[crypto][secret]") {
  TempDir dir;
  auto sub = dir.path() / "keys";
  std::filesystem::create_directory(sub);
  REQUIRE(::chmod(sub.c_str(), 0700) == 0);
  auto back = readSecretFile(sub);
  REQUIRE_FALSE(back.ok());
  REQUIRE_THAT(back.error().message, Catch::Contains("not a regular file"));
}
