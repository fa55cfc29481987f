#pragma once
// Who may read the coordinator's HTTP endpoint (docs/dashboard.md "Access"):
// with http.token_file set, a request carries `Authorization: Bearer TOKEN` or
// the session cookie that /login sets (login.js: /login#token=TOKEN). The cookie holds a value
// derived from the token (never the token), compared in constant time like the
// token. Pure; any thread.

#include <string>
#include <string_view>

namespace flotilla::coordinator {

inline constexpr std::string_view kSessionCookie = "flotilla_session";

class HttpAuth {
 public:
  explicit HttpAuth(std::string token);  // "" = no token: every request is allowed

  bool required() const { return !token_.empty(); }
  // Allowed with these request headers (either may be "").
  bool allows(std::string_view authorization, std::string_view cookie) const;
  // A token given to /login matches.
  bool matches(std::string_view token) const;
  // The Set-Cookie value of a session.
  std::string sessionCookie() const;

 private:
  std::string token_;
  std::string session_;  // the cookie's value
};

// Equal in time that depends only on the lengths.
bool constantTimeEqual(std::string_view a, std::string_view b);
// The token of "Bearer TOKEN" ("" otherwise).
std::string_view bearerToken(std::string_view authorization);
// The value of cookie `name` in a Cookie header ("" when absent).
std::string_view cookieValue(std::string_view cookie_header, std::string_view name);

}  // namespace flotilla::coordinator
