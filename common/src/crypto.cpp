#include "flotilla/common/crypto.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "flotilla/common/fs.h"

namespace flotilla::common {
namespace {

constexpr std::size_t kDigestBytes = 32;
constexpr std::size_t kKeyIdBytes = 8;
// Keys and tokens are a few hundred bytes; a larger "secret file" is a mistake
// (wrong path), and reading it whole into memory would not help anyone.
constexpr std::size_t kMaxSecretBytes = std::size_t{1024} * 1024;

Error osError(const char* op, const std::filesystem::path& path, int err) {
  Errc code = Errc::kIo;
  if (err == ENOENT) code = Errc::kNotFound;
  if (err == EACCES || err == EPERM) code = Errc::kPermission;
  return Error(code, std::string(op) + " " + path.string() + ": " + std::strerror(err));
}

bool isHexDigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Reads a secret from fd to EOF with a size cap; closes nothing. The stack
// buffer is wiped so the secret does not linger in freed stack memory.
Result<std::string> readSecretFd(int fd, const std::filesystem::path& path, std::size_t max_bytes) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      sodium_memzero(buf, sizeof buf);
      return osError("read", path, errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      sodium_memzero(buf, sizeof buf);
      return Error(Errc::kInvalidArgument,
                   path.string() + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  sodium_memzero(buf, sizeof buf);
  return out;
}

}  // namespace

Status initCrypto() {
  if (sodium_init() < 0) return Error(Errc::kInternal, "libsodium failed to initialise");
  return okStatus();
}

std::string toHex(Bytes bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.resize(bytes.size() * 2);
  return out;
}

Result<std::string> fromHex(std::string_view hex, std::size_t expected_len) {
  // Validated here rather than left to sodium_hex2bin so the message can say
  // what is wrong instead of "invalid".
  if (expected_len != 0 && hex.size() != expected_len * 2) {
    return Error(Errc::kInvalidArgument,
                 "expected " + std::to_string(expected_len * 2) + " hex characters, got " + std::to_string(hex.size()));
  }
  if (hex.size() % 2 != 0) {
    return Error(Errc::kInvalidArgument,
                 "hex string has an odd number of characters (" + std::to_string(hex.size()) + ")");
  }
  for (std::size_t i = 0; i < hex.size(); ++i) {
    if (!isHexDigit(hex[i])) {
      return Error(Errc::kInvalidArgument, "invalid hex character at offset " + std::to_string(i));
    }
  }
  std::string out(hex.size() / 2, '\0');
  std::size_t out_len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(), hex.size(), nullptr,
                     &out_len, &end) != 0 ||
      out_len != out.size()) {
    return Error(Errc::kInvalidArgument, "invalid hex string");
  }
  return out;
}

SigningKeyPair generateSigningKeyPair() {
  SigningKeyPair pair;
  crypto_sign_keypair(pair.public_key.data(), pair.secret_key.data());
  return pair;
}

Signature sign(Bytes message, const SecretSigningKey& secret) {
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret.data());
  return sig;
}

bool verifySignature(Bytes message, const Signature& sig, const PublicKey& public_key) {
  return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), public_key.data()) == 0;
}

CurveKeyPair generateCurveKeyPair() {
  CurveKeyPair pair;
  crypto_box_keypair(pair.public_key.data(), pair.secret_key.data());
  return pair;
}

std::string keyId(const PublicKey& public_key) {
  std::array<std::uint8_t, kDigestBytes> digest{};
  crypto_generichash(digest.data(), digest.size(), public_key.data(), public_key.size(), nullptr, 0);
  return toHex(Bytes(digest.data(), kKeyIdBytes));
}

Result<PublicKey> publicKeyFromHex(std::string_view hex) {
  PublicKey key{};
  auto raw = fromHex(hex, key.size());
  if (!raw) return raw.error().context("public key");
  std::memcpy(key.data(), raw->data(), key.size());
  return key;
}

Hasher::Hasher() { crypto_generichash_init(&state_, nullptr, 0, kDigestBytes); }

void Hasher::update(Bytes data) { crypto_generichash_update(&state_, data.data(), data.size()); }

std::string Hasher::finalHex() {
  std::array<std::uint8_t, kDigestBytes> digest{};
  crypto_generichash_final(&state_, digest.data(), digest.size());
  return toHex(digest);
}

std::string blake2bHex(Bytes data) {
  std::array<std::uint8_t, kDigestBytes> digest{};
  crypto_generichash(digest.data(), digest.size(), data.data(), data.size(), nullptr, 0);
  return toHex(digest);
}

Sha256Hasher::Sha256Hasher() { crypto_hash_sha256_init(&state_); }

void Sha256Hasher::update(Bytes data) { crypto_hash_sha256_update(&state_, data.data(), data.size()); }

std::string Sha256Hasher::finalHex() {
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&state_, digest.data());
  return toHex(digest);
}

namespace {

template <typename H>
Result<FileDigest> digestFileWith(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return osError("open", path, errno);
  H hasher;
  FileDigest result;
  std::vector<std::uint8_t> buf(std::size_t{256} * 1024);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      Error error = osError("read", path, errno);
      ::close(fd);
      return error;
    }
    if (n == 0) break;
    hasher.update(Bytes(buf.data(), static_cast<std::size_t>(n)));
    result.size += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  result.digest = hasher.finalHex();
  return result;
}

}  // namespace

Result<FileDigest> digestFile(const std::filesystem::path& path, DigestAlgorithm algorithm) {
  if (algorithm == DigestAlgorithm::kSha256) return digestFileWith<Sha256Hasher>(path);
  return digestFileWith<Hasher>(path);
}

std::string randomHex(std::size_t bytes) {
  if (bytes == 0) return {};  // randombytes_buf must not see the null data() of an empty vector
  std::vector<std::uint8_t> buf(bytes);
  randombytes_buf(buf.data(), buf.size());
  std::string hex = toHex(buf);
  sodium_memzero(buf.data(), buf.size());
  return hex;
}

Status writeSecretFile(const std::filesystem::path& path, std::string_view content) {
  // atomicWriteFile creates its temporary file 0600, so the secret is never
  // visible to others, even before the rename.
  return atomicWriteFile(path, content, 0600);
}

Result<std::string> readSecretFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return osError("open", path, errno);
  // fstat on the open descriptor, so the mode checked is the mode of the file
  // actually read (no swap between a stat and the open).
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error error = osError("stat", path, errno);
    ::close(fd);
    return error;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(Errc::kInvalidArgument, path.string() + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error(Errc::kPermission, path.string() + ": permissions " + mode +
                                        " are too open; a secret file must be readable by its owner only (chmod 600 " +
                                        path.string() + ")");
  }
  auto content = readSecretFd(fd, path, kMaxSecretBytes);
  ::close(fd);
  return content;
}

Result<std::string> readKeyFile(const std::filesystem::path& path, std::size_t bytes, const std::string& what) {
  auto text = readSecretFile(path);
  if (!text) return text.error();
  std::string hex = *text;
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) hex.pop_back();
  auto raw = fromHex(hex, bytes);
  if (!raw)
    return Error(Errc::kInvalidArgument,
                 path.string() + ": not " + what + " (" + std::to_string(bytes * 2) + " hex characters)");
  return raw;
}

}  // namespace flotilla::common
