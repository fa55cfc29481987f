#include "flotilla/agent/health.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using flotilla::Errc;
using flotilla::Status;
using flotilla::agent::CheckContext;
using flotilla::agent::runHealthCheck;
using flotilla::protocol::HealthCheck;
using SteadyClock = std::chrono::steady_clock;

// A TCP socket on 127.0.0.1 (or ::1) with a port picked by the kernel. Bound
// but not listening, it refuses connections while holding its port.
class Socket {
 public:
  explicit Socket(bool listening, int family = AF_INET, int backlog = 16) {
    fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof(sockaddr_in);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_addr = in6addr_loopback;
      len = sizeof(sockaddr_in6);
    }
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 || (listening && ::listen(fd_, backlog) != 0) ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    port_ = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                              : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Answers exactly one HTTP request with `response`, then closes. Gives up
// after a few seconds so a failing test never hangs.
class OneShotHttpServer {
 public:
  explicit OneShotHttpServer(std::string response) : response_(std::move(response)), listener_(true) {
    REQUIRE(listener_.valid());
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotHttpServer() {
    if (thread_.joinable()) thread_.join();
  }
  OneShotHttpServer(const OneShotHttpServer&) = delete;
  OneShotHttpServer& operator=(const OneShotHttpServer&) = delete;

  std::string url(const std::string& path = "/healthz") const {
    return "http://127.0.0.1:" + std::to_string(listener_.port()) + path;
  }
  // The request as received; valid after the check returned.
  std::string request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  void serve() {
    pollfd p{listener_.fd(), POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return;
    int conn = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    const auto deadline = SteadyClock::now() + 5s;
    char buf[4096];
    while (request_.find("\r\n\r\n") == std::string::npos && SteadyClock::now() < deadline) {
      pollfd c{conn, POLLIN, 0};
      if (::poll(&c, 1, 100) != 1) continue;
      ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t sent = 0;
    while (sent < response_.size()) {
      ssize_t n = ::send(conn, response_.data() + sent, response_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::close(conn);
  }

  std::string response_;
  Socket listener_;
  std::string request_;
  std::thread thread_;
};

HealthCheck httpCheck(const std::string& url, std::chrono::milliseconds timeout = 2s) {
  HealthCheck c;
  c.kind = HealthCheck::Kind::kHttp;
  c.target = url;
  c.timeout = timeout;
  return c;
}

HealthCheck tcpCheck(const std::string& target, std::chrono::milliseconds timeout = 2s) {
  HealthCheck c;
  c.kind = HealthCheck::Kind::kTcp;
  c.target = target;
  c.timeout = timeout;
  return c;
}

HealthCheck execCheck(const std::string& script, std::chrono::milliseconds timeout = 5s) {
  HealthCheck c;
  c.kind = HealthCheck::Kind::kExec;
  c.argv = {"/bin/sh", "-c", script};
  c.timeout = timeout;
  return c;
}

CheckContext plainContext() {
  CheckContext ctx;
  ctx.cwd = fs::temp_directory_path();
  ctx.env = {{"PATH", "/usr/bin:/bin"}, {"LANG", "C.UTF-8"}};
  return ctx;
}

std::string response(const std::string& status_line, const std::string& extra = "", const std::string& body = "ok") {
  return status_line + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "Connection: close\r\n\r\n" + body;
}

std::chrono::milliseconds since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
}

}  // namespace

TEST_CASE("tcp passes against a listening socket", "[agent][health]") {
  Socket listener(true);
  REQUIRE(listener.valid());
  Status st = runHealthCheck(tcpCheck("127.0.0.1:" + std::to_string(listener.port())), {});
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
}

TEST_CASE("tcp resolves a host name", "[agent][health]") {
  Socket listener(true);
  REQUIRE(listener.valid());
  // "localhost" may resolve to ::1 first, where nothing listens: the next address is tried.
  Status st = runHealthCheck(tcpCheck("localhost:" + std::to_string(listener.port())), {});
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
}

TEST_CASE("tcp accepts a bracketed IPv6 literal", "[agent][health]") {
  Socket listener(true, AF_INET6);
  if (!listener.valid()) {
    WARN("no IPv6 loopback here; skipped");
    return;
  }
  Status st = runHealthCheck(tcpCheck("[::1]:" + std::to_string(listener.port())), {});
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
}

TEST_CASE("tcp fails on a closed port", "[agent][health]") {
  Socket closed(false);  // bound, not listening: connections are refused
  REQUIRE(closed.valid());
  const std::string target = "127.0.0.1:" + std::to_string(closed.port());
  Status st = runHealthCheck(tcpCheck(target), {});
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message == "tcp " + target + ": connection refused");
  CHECK(st.error().code == Errc::kUnavailable);
}

TEST_CASE("tcp gives up within its timeout", "[agent][health]") {
  // A listener whose accept queue is full drops further SYNs, so a connect
  // neither succeeds nor fails until the client gives up.
  Socket full(true, AF_INET, 0);
  REQUIRE(full.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(full.port()));
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  const std::string target = "127.0.0.1:" + std::to_string(full.port());
  auto start = SteadyClock::now();
  Status st = runHealthCheck(tcpCheck(target, 300ms), {});
  auto took = since(start);
  for (int fd : fillers) ::close(fd);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kTimeout);
  CHECK(st.error().message == "tcp " + target + ": timed out after 300ms");
  CHECK(took >= 250ms);
  CHECK(took < 1300ms);
}

TEST_CASE("tcp rejects a malformed target", "[agent][health]") {
  auto target = GENERATE(as<std::string>{}, "nonsense", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http", ":80",
                         "::1:80", "[::1:80");
  Status st = runHealthCheck(tcpCheck(target), {});
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kInvalidArgument);
  CHECK_THAT(st.error().message, Contains("tcp " + target));
}

TEST_CASE("http passes on 200 and sends a GET", "[agent][health]") {
  OneShotHttpServer server(response("HTTP/1.1 200 OK"));
  Status st = runHealthCheck(httpCheck(server.url()), {});
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
  CHECK(server.request().rfind("GET /healthz HTTP/1.1\r\n", 0) == 0);
}

TEST_CASE("http passes on any 2xx", "[agent][health]") {
  OneShotHttpServer server(response("HTTP/1.1 204 No Content", "", ""));
  Status st = runHealthCheck(httpCheck(server.url()), {});
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
}

TEST_CASE("http fails on 500 and says so", "[agent][health]") {
  OneShotHttpServer server(response("HTTP/1.1 500 Internal Server Error"));
  Status st = runHealthCheck(httpCheck(server.url()), {});
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message == server.url() + ": HTTP 500");
}

TEST_CASE("http does not follow redirects", "[agent][health]") {
  OneShotHttpServer server(response("HTTP/1.1 302 Found", "Location: http://127.0.0.1:1/\r\n"));
  Status st = runHealthCheck(httpCheck(server.url()), {});
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message == server.url() + ": HTTP 302");
}

TEST_CASE("http passes with a large body that is not read to the end", "[agent][health]") {
  OneShotHttpServer server(response("HTTP/1.1 200 OK", "", std::string(3 << 20, 'x')));
  Status st = runHealthCheck(httpCheck(server.url()), {});
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
}

TEST_CASE("http ignores proxy settings in the environment", "[agent][health]") {
  OneShotHttpServer server(response("HTTP/1.1 200 OK"));
  ::setenv("http_proxy", "http://127.0.0.1:1", 1);
  Status st = runHealthCheck(httpCheck(server.url()), {});
  ::unsetenv("http_proxy");
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
}

// https too: TLS support is built in, so an https URL fails to connect rather than as an unknown scheme.
TEST_CASE("http and https fail on a closed port", "[agent][health]") {
  auto scheme = GENERATE(as<std::string>{}, "http", "https");
  Socket closed(false);
  REQUIRE(closed.valid());
  const std::string url = scheme + "://127.0.0.1:" + std::to_string(closed.port()) + "/healthz";
  Status st = runHealthCheck(httpCheck(url), {});
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kUnavailable);
  CHECK_THAT(st.error().message, Contains(url + ": "));
}

TEST_CASE("http times out against a server that never answers", "[agent][health]") {
  Socket silent(true);  // the kernel accepts connections; nobody reads or answers
  REQUIRE(silent.valid());
  const std::string url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/healthz";
  auto start = SteadyClock::now();
  Status st = runHealthCheck(httpCheck(url, 500ms), {});
  auto took = since(start);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kTimeout);
  CHECK(st.error().message == url + ": timed out after 500ms");
  CHECK(took >= 400ms);
  CHECK(took < 1500ms);
}

TEST_CASE("http refuses schemes other than http and https", "[agent][health]") {
  Status st = runHealthCheck(httpCheck("file:///etc/passwd"), {});
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kInvalidArgument);
  CHECK_THAT(st.error().message, Contains("file:///etc/passwd"));
}

TEST_CASE("http sends the URL's path and query, and / when it has no path", "[agent][health]") {
  auto [path, request_line] = GENERATE(table<std::string, std::string>({
      {"/healthz?deep=1", "GET /healthz?deep=1 HTTP/1.1\r\n"},
      {"", "GET / HTTP/1.1\r\n"},
      {"#frag", "GET / HTTP/1.1\r\n"},
  }));
  OneShotHttpServer server(response("HTTP/1.1 200 OK"));
  Status st = runHealthCheck(httpCheck(server.url(path)), {});
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
  CHECK(server.request().rfind(request_line, 0) == 0);
}

TEST_CASE("http refuses credentials in the URL", "[agent][health]") {
  Status st = runHealthCheck(httpCheck("http://user:secret@127.0.0.1:1/healthz"), {});
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kInvalidArgument);
}

TEST_CASE("exec passes on exit 0", "[agent][health]") {
  Status st = runHealthCheck(execCheck("exit 0"), plainContext());
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
}

TEST_CASE("exec runs in the release directory with the given environment", "[agent][health]") {
  CheckContext ctx = plainContext();
  ctx.cwd = fs::canonical(fs::temp_directory_path());
  ctx.env["FLOTILLA_APP"] = "web";
  ctx.env["EXPECTED_DIR"] = ctx.cwd.string();
  Status st = runHealthCheck(execCheck(R"sh(test "$(pwd -P)" = "$EXPECTED_DIR" && test "$FLOTILLA_APP" = web)sh"), ctx);
  INFO((st.ok() ? "" : st.error().message));
  CHECK(st.ok());
}

TEST_CASE("exec fails on a non-zero exit with the first line of output", "[agent][health]") {
  // The output lines are built at run time so the command text does not contain them.
  Status st =
      runHealthCheck(execCheck(R"sh(x=unreachable; echo "db $x"; echo "then $x again"; exit 3)sh"), plainContext());
  REQUIRE_FALSE(st.ok());
  INFO(st.error().message);
  CHECK_THAT(st.error().message, Contains("exit 3"));
  CHECK_THAT(st.error().message, Contains("db unreachable"));
  CHECK_THAT(st.error().message, !Contains("then unreachable"));
  CHECK_THAT(st.error().message, Contains("/bin/sh"));
}

TEST_CASE("exec fails when the check outlives its timeout", "[agent][health]") {
  auto start = SteadyClock::now();
  Status st = runHealthCheck(execCheck("sleep 10", 300ms), plainContext());
  auto took = since(start);
  REQUIRE_FALSE(st.ok());
  INFO(st.error().message);
  CHECK(st.error().code == Errc::kTimeout);
  CHECK_THAT(st.error().message, Contains("timed out"));
  CHECK(took < 2s);
}

TEST_CASE("exec reports a command that cannot start", "[agent][health]") {
  HealthCheck check;
  check.kind = HealthCheck::Kind::kExec;
  check.argv = {"/nonexistent/selfcheck"};
  Status st = runHealthCheck(check, plainContext());
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message, Contains("/nonexistent/selfcheck"));
}
