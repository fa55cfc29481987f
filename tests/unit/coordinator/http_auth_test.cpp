// Who may read the HTTP endpoint: the bearer token or the session cookie made
// from it, compared in constant time (http_auth.h).
#include "flotilla/coordinator/http_auth.h"

#include <catch2/catch.hpp>

using namespace flotilla::coordinator;

namespace {
const std::string kToken = "0123456789abcdef0123456789abcdef";
}

TEST_CASE("http auth: parts of the headers", "[coordinator][http]") {
  CHECK(bearerToken("Bearer abc") == "abc");
  CHECK(bearerToken("bearer abc").empty());
  CHECK(bearerToken("Bearer ").empty());
  CHECK(bearerToken("Basic abc").empty());
  CHECK(cookieValue("a=1; flotilla_session=xyz; b=2", kSessionCookie) == "xyz");
  CHECK(cookieValue("flotilla_session=xyz", kSessionCookie) == "xyz");
  CHECK(cookieValue("xflotilla_session=xyz", kSessionCookie).empty());
  CHECK(cookieValue("", kSessionCookie).empty());
  CHECK(constantTimeEqual("abc", "abc"));
  CHECK_FALSE(constantTimeEqual("abc", "abd"));
  CHECK_FALSE(constantTimeEqual("abc", "abcd"));
}

TEST_CASE("http auth: without a token everything is allowed", "[coordinator][http]") {
  HttpAuth auth("");
  CHECK_FALSE(auth.required());
  CHECK(auth.allows("", ""));
  CHECK_FALSE(auth.matches(""));  // /login has nothing to match
}

TEST_CASE("http auth: the token or its session cookie, nothing else", "[coordinator][http]") {
  HttpAuth auth(kToken);
  CHECK(auth.required());
  CHECK(auth.allows("Bearer " + kToken, ""));
  CHECK_FALSE(auth.allows("Bearer " + kToken + "x", ""));
  CHECK_FALSE(auth.allows("", ""));
  const std::string cookie = auth.sessionCookie();
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("SameSite=Strict") != std::string::npos);
  CHECK(cookie.find(kToken) == std::string::npos);  // the cookie never holds the token
  const std::string pair = cookie.substr(0, cookie.find(';'));
  CHECK(auth.allows("", "other=1; " + pair));
  CHECK_FALSE(auth.allows("", std::string(kSessionCookie) + "=" + kToken));
  CHECK_FALSE(auth.allows("", pair + "0"));
}
