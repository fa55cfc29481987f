// Downloads from artifact URLs (agent/url_fetch.h) against a real cpp-httplib
// server on loopback: whole, cut short, too long, too slow, HTTPS trusted by a
// given CA or refused; and which proxy applies.
#include "flotilla/agent/url_fetch.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "support/artifact_server.h"
#include "support/temp_dir.h"
#include "support/text_file.h"

using flotilla::Errc;
using flotilla::agent::fetchUrl;
using flotilla::agent::listedInNoProxy;
using flotilla::agent::ProxyEnvironment;
using flotilla::agent::proxyFor;
using flotilla::agent::UrlFetchOptions;
using flotilla::testing::ArtifactServer;
using flotilla::testing::readFile;
using flotilla::testing::TempDir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string blob(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) % 251);
  return s;
}

UrlFetchOptions expecting(std::uint64_t size, flotilla::common::Millis timeout = 10s) {
  UrlFetchOptions o;
  o.expected_size = size;
  o.timeout = timeout;
  return o;
}

}  // namespace

TEST_CASE("url fetch: a whole body of the expected length lands in the file", "[agent][url_fetch]") {
  ArtifactServer server;
  const std::string bytes = blob(300 * 1024);
  server.serve("/a.tar", bytes);
  TempDir dir;
  auto st = fetchUrl(server.url("/a.tar"), dir.path() / "a", expecting(bytes.size()));
  INFO((st.ok() ? std::string() : st.error().message));
  REQUIRE(st.ok());
  CHECK(readFile(dir.path() / "a") == bytes);
  CHECK((fs::status(dir.path() / "a").permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
}

TEST_CASE("url fetch: a body cut short is refused as truncated and removed", "[agent][url_fetch][error]") {
  ArtifactServer server;
  const std::string bytes = blob(64 * 1024);
  server.serve("/t.tar", bytes, ArtifactServer::Mode::kTruncated);
  TempDir dir;
  auto st = fetchUrl(server.url("/t.tar"), dir.path() / "t", expecting(bytes.size()));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kCorrupt);
  CHECK_THAT(st.error().message, Catch::Contains("truncated"));
  CHECK_FALSE(fs::exists(dir.path() / "t"));
}

TEST_CASE("url fetch: a shorter artifact than the order names is refused as truncated", "[agent][url_fetch][error]") {
  ArtifactServer server;
  server.serve("/s.tar", blob(1000));
  TempDir dir;
  auto st = fetchUrl(server.url("/s.tar"), dir.path() / "s", expecting(1001));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kCorrupt);
  CHECK_THAT(st.error().message, Catch::Contains("truncated: received 1000 of the 1001 bytes"));
}

TEST_CASE("url fetch: a longer body than the order names is refused before it is read", "[agent][url_fetch][error]") {
  ArtifactServer server;
  server.serve("/l.tar", blob(5000));
  TempDir dir;
  auto st = fetchUrl(server.url("/l.tar"), dir.path() / "l", expecting(4999));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kCorrupt);
  CHECK_THAT(st.error().message, Catch::Contains("longer than the order says"));
  CHECK_FALSE(fs::exists(dir.path() / "l"));
}

TEST_CASE("url fetch: an HTTP error status is refused naming it", "[agent][url_fetch][error]") {
  ArtifactServer server;
  TempDir dir;
  auto st = fetchUrl(server.url("/missing.tar"), dir.path() / "m", expecting(10));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kUnavailable);
  CHECK_THAT(st.error().message, Catch::Contains("HTTP 404"));
}

TEST_CASE("url fetch: a download slower than its timeout ends at the timeout", "[agent][url_fetch][error]") {
  ArtifactServer server;
  server.serve("/slow.tar", blob(64 * 1024), ArtifactServer::Mode::kSlow);  // ~6.4 s at 1 KiB / 100 ms
  TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  auto st = fetchUrl(server.url("/slow.tar"), dir.path() / "w", expecting(64 * 1024, 1s));
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kTimeout);
  CHECK_THAT(st.error().message, Catch::Contains("fetch_timeout"));
  CHECK(took < 3s);
}

TEST_CASE("url fetch: cancelled as bytes arrive when the agent stops", "[agent][url_fetch]") {
  ArtifactServer server;
  server.serve("/slow.tar", blob(64 * 1024), ArtifactServer::Mode::kSlow);
  TempDir dir;
  auto o = expecting(64 * 1024);
  int polls = 0;
  o.cancelled = [&polls] { return ++polls >= 3; };
  auto st = fetchUrl(server.url("/slow.tar"), dir.path() / "c", o);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message, Catch::Contains("cancelled"));
}

TEST_CASE("url fetch: https is verified against the CA it is told to trust", "[agent][url_fetch][tls]") {
  TempDir tls;
  if (!flotilla::testing::writeTestTls(tls.path())) {
    WARN("skipped: openssl cannot make a test CA");
    return;
  }
  ArtifactServer server(tls.path() / "server.pem", tls.path() / "server.key");
  const std::string bytes = blob(20000);
  server.serve("/a.tar", bytes);
  TempDir dir;
  SECTION("trusted with fetch_ca_file") {
    auto o = expecting(bytes.size());
    o.ca_file = tls.path() / "ca.pem";
    auto st = fetchUrl(server.url("/a.tar"), dir.path() / "a", o);
    INFO((st.ok() ? std::string() : st.error().message));
    REQUIRE(st.ok());
    CHECK(readFile(dir.path() / "a") == bytes);
  }
  SECTION("refused against the system CA store") {
    auto st = fetchUrl(server.url("/a.tar"), dir.path() / "a", expecting(bytes.size()));
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == Errc::kUnavailable);
    CHECK(server.requests("/a.tar") == 0);
    CHECK_FALSE(fs::exists(dir.path() / "a"));
  }
}

TEST_CASE("url fetch: an http URL goes through the proxy it is given", "[agent][url_fetch][proxy]") {
  // The store's host does not even resolve: only the proxy is reached.
  ArtifactServer proxy;
  const std::string bytes = blob(4096);
  // The request target a proxy sees: absolute, with the port (cpp-httplib writes it).
  proxy.serve("http://store.invalid:80/a.tar", bytes);
  TempDir dir;
  auto o = expecting(bytes.size());
  o.proxy = proxy.url("");
  auto st = fetchUrl("http://store.invalid/a.tar", dir.path() / "a", o);
  INFO((st.ok() ? std::string() : st.error().message));
  REQUIRE(st.ok());
  CHECK(readFile(dir.path() / "a") == bytes);
  CHECK(proxy.requests("http://store.invalid:80/a.tar") == 1);
}

TEST_CASE("no_proxy lists hosts, their subdomains, or every host", "[agent][url_fetch][proxy]") {
  CHECK(listedInNoProxy("store.example.com", "example.com"));
  CHECK(listedInNoProxy("store.example.com", ".example.com"));
  CHECK(listedInNoProxy("Example.COM", " other, example.com "));
  CHECK(listedInNoProxy("10.0.0.5", "localhost,10.0.0.5:8080"));
  CHECK(listedInNoProxy("::1", "[::1]"));
  CHECK(listedInNoProxy("anything", "*"));
  CHECK_FALSE(listedInNoProxy("badexample.com", "example.com"));
  CHECK_FALSE(listedInNoProxy("example.com", "store.example.com"));
  CHECK_FALSE(listedInNoProxy("example.com", ""));
}

TEST_CASE("the proxy for a URL: agent.toml, else the environment, minus no_proxy", "[agent][url_fetch][proxy]") {
  ProxyEnvironment env;
  env.http_proxy = "http://p:3128";
  env.https_proxy = "http://ps:3129";
  env.no_proxy = "internal.example";
  CHECK(*proxyFor("http://s.example/a", std::nullopt, env) == "http://p:3128");
  CHECK(*proxyFor("https://s.example/a", std::nullopt, env) == "http://ps:3129");
  CHECK(proxyFor("https://store.internal.example/a", std::nullopt, env)->empty());
  CHECK(*proxyFor("https://s.example/a", std::string("http://cfg:8080"), env) == "http://cfg:8080");
  CHECK(proxyFor("https://s.example/a", std::string(""), env)->empty());
  CHECK(proxyFor("https://store.internal.example/a", std::string("http://cfg:8080"), env)->empty());
  ProxyEnvironment all;
  all.all_proxy = "proxy.example:1080";
  CHECK(*proxyFor("https://s.example/a", std::nullopt, all) == "proxy.example:1080");
  CHECK_FALSE(proxyFor("https://s.example/a", std::string("socks5://p:1080"), env).ok());
  CHECK_FALSE(proxyFor("https://s.example/a", std::string("http://p:99999"), env).ok());
}
