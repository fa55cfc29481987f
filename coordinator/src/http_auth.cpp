#include "flotilla/coordinator/http_auth.h"

#include "flotilla/common/crypto.h"

namespace flotilla::coordinator {

bool constantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]));
  return diff == 0;
}

std::string_view bearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() || authorization.substr(0, kScheme.size()) != kScheme) return {};
  return authorization.substr(kScheme.size());
}

std::string_view cookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto end = header.find(';');
    std::string_view pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

HttpAuth::HttpAuth(std::string token) : token_(std::move(token)) {
  if (!token_.empty()) session_ = common::blake2bHex(common::asBytes("flotilla dashboard session\n" + token_));
}

bool HttpAuth::matches(std::string_view token) const { return required() && constantTimeEqual(token, token_); }

bool HttpAuth::allows(std::string_view authorization, std::string_view cookie) const {
  if (!required()) return true;
  if (matches(bearerToken(authorization))) return true;
  return constantTimeEqual(cookieValue(cookie, kSessionCookie), session_);
}

std::string HttpAuth::sessionCookie() const {
  return std::string(kSessionCookie) + "=" + session_ + "; Path=/; HttpOnly; SameSite=Strict";
}

}  // namespace flotilla::coordinator
