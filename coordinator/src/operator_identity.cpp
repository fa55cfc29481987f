#include "flotilla/coordinator/operator_identity.h"

#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <vector>

namespace flotilla::coordinator {

namespace {

bool isHex(std::string_view s) { return s.find_first_not_of("0123456789abcdef") == std::string_view::npos; }

}  // namespace

std::string identityOfKey(const common::PublicKey& key) { return std::string(kOperatorPrefix) + common::keyId(key); }

std::string identityOfUid(uid_t uid) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_name && *found->pw_name)
    return std::string(kUserPrefix) + found->pw_name;
  return "uid:" + std::to_string(uid);
}

std::optional<uid_t> peerUidFromZapAddress(std::string_view address) {
  // "HOST:UID:GID:PID": the three last fields, counted from the end (the host
  // part of a Unix socket's address is whatever getnameinfo said).
  std::string_view rest = address;
  std::string_view fields[3];
  for (int i = 2; i >= 0; --i) {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    fields[i] = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  unsigned long uid = 0;
  const auto [end, ec] = std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), uid);
  if (ec != std::errc() || end != fields[0].data() + fields[0].size() || fields[0].empty()) return std::nullopt;
  return static_cast<uid_t>(uid);
}

Result<std::string> parseIdentity(std::string_view written) {
  if (written.rfind(kUserPrefix, 0) == 0) {
    const auto name = written.substr(kUserPrefix.size());
    if (name.empty() || name.find_first_of(" \t:/") != std::string_view::npos)
      return Error(Errc::kInvalidArgument, "\"" + std::string(written) + "\" is not a Unix user name (user:NAME)");
    return std::string(written);
  }
  std::string_view id = written;
  if (id.rfind(kOperatorPrefix, 0) == 0) id = id.substr(kOperatorPrefix.size());
  if (id.size() == 16 && isHex(id)) return std::string(kOperatorPrefix) + std::string(id);
  if (id.size() == 64 && isHex(id)) {
    auto key = common::publicKeyFromHex(id);
    if (key) return identityOfKey(*key);
  }
  return Error(Errc::kInvalidArgument, "\"" + std::string(written) +
                                           "\" is neither an operator key id (16 hex, `flotilla keygen --operator` "
                                           "prints it), an operator public key (64 hex) nor user:NAME");
}

}  // namespace flotilla::coordinator
