#pragma once
// libsodium behind small value types. Keys travel and are stored as lowercase
// hex. Signing is Ed25519; CURVE (ZeroMQ transport) keys are X25519 pairs from
// crypto_box; digests are BLAKE2b-256.

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include <sodium.h>

#include "flotilla/common/result.h"

namespace flotilla::common {

using Bytes = std::span<const std::uint8_t>;
using PublicKey = std::array<std::uint8_t, 32>;
using SecretSigningKey = std::array<std::uint8_t, 64>;
using Signature = std::array<std::uint8_t, 64>;

// sodium_init(); call once from main before anything else here. Idempotent.
Status initCrypto();

inline Bytes asBytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

std::string toHex(Bytes bytes);
// Decodes exactly `expected_len` bytes (0 = any even length) of hex.
Result<std::string> fromHex(std::string_view hex, std::size_t expected_len = 0);

struct SigningKeyPair {
  PublicKey public_key{};
  SecretSigningKey secret_key{};
};
SigningKeyPair generateSigningKeyPair();
Signature sign(Bytes message, const SecretSigningKey& secret);
bool verifySignature(Bytes message, const Signature& sig, const PublicKey& public_key);

// X25519 key pair for CURVE; both halves 32 bytes.
struct CurveKeyPair {
  PublicKey public_key{};
  std::array<std::uint8_t, 32> secret_key{};
};
CurveKeyPair generateCurveKeyPair();

// A short, stable identifier for a public key: first 8 bytes of BLAKE2b-256, hex.
std::string keyId(const PublicKey& public_key);

Result<PublicKey> publicKeyFromHex(std::string_view hex);

// BLAKE2b-256, streaming.
class Hasher {
 public:
  Hasher();
  void update(Bytes data);
  std::string finalHex();  // 64 hex chars; the hasher is spent afterwards

 private:
  crypto_generichash_state state_;
};
std::string blake2bHex(Bytes data);

// SHA-256 (libsodium's crypto_hash_sha256), streaming: only for artifacts an
// HTTP store names by SHA-256 (docs/artifacts.md); Flotilla's own digests are BLAKE2b-256.
class Sha256Hasher {
 public:
  Sha256Hasher();
  void update(Bytes data);
  std::string finalHex();  // 64 hex chars; the hasher is spent afterwards

 private:
  crypto_hash_sha256_state state_;
};

enum class DigestAlgorithm : std::uint8_t { kBlake2b256 = 0, kSha256 = 1 };

struct FileDigest {
  std::string digest;  // hex, of the algorithm asked for (BLAKE2b-256 by default)
  std::uint64_t size = 0;
};
Result<FileDigest> digestFile(const std::filesystem::path& path,
                              DigestAlgorithm algorithm = DigestAlgorithm::kBlake2b256);

// Random token, `bytes` bytes of randomness as hex.
std::string randomHex(std::size_t bytes);

// Secret files (private keys, tokens): written with mode 0600 atomically; on
// read, refused with a clear message when group or others have any access.
Status writeSecretFile(const std::filesystem::path& path, std::string_view content);
Result<std::string> readSecretFile(const std::filesystem::path& path);

// A key stored as one line of hex in a secret file (0600): exactly `bytes`
// bytes. `what` names the key in the error ("an operator key").
Result<std::string> readKeyFile(const std::filesystem::path& path, std::size_t bytes, const std::string& what);

}  // namespace flotilla::common
