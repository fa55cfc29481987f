#include "flotilla/agent/health.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/agent/http_get.h"
#include "flotilla/common/process.h"

namespace flotilla::agent {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A health endpoint answers with a status, not a payload: read at most this
// much of the body before giving up on it.
constexpr std::size_t kMaxHttpBody = 1 << 20;
constexpr std::size_t kMaxShownOutput = 200;
constexpr std::size_t kMaxShownCommand = 120;

std::string formatMillis(milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// strerror() with a lower-case first letter, to read well after "host:port: ".
std::string errnoText(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

// ---- http ----------------------------------------------------------------

// Any 2xx passes. A long body is not read to the end: the status is known.
Status runHttp(const protocol::HealthCheck& check) {
  HttpGetOptions options;
  options.timeout = std::chrono::duration_cast<milliseconds>(check.timeout);
  options.max_body = kMaxHttpBody;
  auto res = httpGet(check.target, options);
  if (!res) return res.error();
  if (res->status < 200 || res->status > 299)
    return Error(Errc::kUnavailable, check.target + ": HTTP " + std::to_string(res->status));
  return okStatus();
}

// ---- tcp -----------------------------------------------------------------

struct HostPort {
  std::string host;
  std::string port;
  bool numeric = false;  // an IP literal: no name lookup
};

Result<HostPort> parseHostPort(const std::string& target) {
  auto bad = [&](const std::string& why) { return Error(Errc::kInvalidArgument, "tcp " + target + ": " + why); };
  HostPort hp;
  std::string_view rest;
  if (!target.empty() && target.front() == '[') {
    auto close = target.find(']');
    if (close == std::string::npos) return bad("missing ']' after IPv6 address");
    hp.host = target.substr(1, close - 1);
    hp.numeric = true;
    rest = std::string_view(target).substr(close + 1);
    if (rest.empty() || rest.front() != ':') return bad("expected host:port");
    rest.remove_prefix(1);
  } else {
    auto colon = target.rfind(':');
    if (colon == std::string::npos) return bad("expected host:port");
    hp.host = target.substr(0, colon);
    if (hp.host.find(':') != std::string::npos) return bad("IPv6 addresses go in brackets: [addr]:port");
    rest = std::string_view(target).substr(colon + 1);
  }
  if (hp.host.empty()) return bad("empty host");
  if (rest.empty() || rest.size() > 5) return bad("bad port");
  unsigned port = 0;
  for (char ch : rest) {
    if (ch < '0' || ch > '9') return bad("bad port");
    port = port * 10 + static_cast<unsigned>(ch - '0');
  }
  if (port == 0 || port > 65535) return bad("port out of range");
  hp.port = std::string(rest);
  return hp;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// One connect attempt; returns 0 on success, else an errno (ETIMEDOUT at the deadline).
int connectOne(const addrinfo& ai, Clock::time_point deadline) {
  Fd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol));
  if (fd.get() < 0) return errno;
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return ETIMEDOUT;
    pollfd p{fd.get(), POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return ETIMEDOUT;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
  }
}

Status runTcp(const protocol::HealthCheck& check) {
  auto hp = parseHostPort(check.target);
  if (!hp.ok()) return hp.error();
  const std::string label = "tcp " + check.target;
  const auto deadline = Clock::now() + check.timeout;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (hp->numeric ? AI_NUMERICHOST : 0);
  addrinfo* list = nullptr;
  int gai = ::getaddrinfo(hp->host.c_str(), hp->port.c_str(), &hints, &list);
  if (gai != 0) {
    std::string why = gai == EAI_SYSTEM ? errnoText(errno) : ::gai_strerror(gai);
    return Error(Errc::kUnavailable, label + ": " + why);
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(list, &::freeaddrinfo);

  int last = ECONNREFUSED;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    last = connectOne(*ai, deadline);
    if (last == 0) return okStatus();
    if (last == ETIMEDOUT) break;
  }
  if (last == ETIMEDOUT) return Error(Errc::kTimeout, label + ": timed out after " + formatMillis(check.timeout));
  return Error(Errc::kUnavailable, label + ": " + errnoText(last));
}

// ---- exec ----------------------------------------------------------------

std::string describeCommand(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out.push_back(' ');
    out += arg;
  }
  if (out.size() > kMaxShownCommand) out = out.substr(0, kMaxShownCommand) + "...";
  return out;
}

std::string firstLine(const std::string& output) {
  std::size_t start = output.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return {};
  std::size_t end = output.find_first_of("\r\n", start);
  std::string line = output.substr(start, end == std::string::npos ? end : end - start);
  if (line.size() > kMaxShownOutput) line = line.substr(0, kMaxShownOutput) + "...";
  for (char& ch : line)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  return line;
}

Status runExec(const protocol::HealthCheck& check, const CheckContext& ctx) {
  const std::string label = "exec " + describeCommand(check.argv);
  if (check.argv.empty()) return Error(Errc::kInvalidArgument, "exec: empty command");
  common::ProcessSpec spec;
  spec.argv = check.argv;
  spec.cwd = ctx.cwd;
  spec.env = ctx.env;
  spec.run_as = ctx.run_as;
  spec.timeout = check.timeout;
  auto result = common::runProcess(spec);
  if (!result.ok()) return result.error().context(label);
  if (result->success()) return okStatus();
  std::string message = label + ": " + result->describe();
  std::string line = firstLine(result->output);
  if (!line.empty()) message += ": " + line;
  return Error(result->timed_out ? Errc::kTimeout : Errc::kUnavailable, message);
}

}  // namespace

Status runHealthCheck(const protocol::HealthCheck& check, const CheckContext& ctx) {
  try {
    switch (check.kind) {
      case protocol::HealthCheck::Kind::kHttp:
        return runHttp(check);
      case protocol::HealthCheck::Kind::kTcp:
        return runTcp(check);
      case protocol::HealthCheck::Kind::kExec:
        return runExec(check, ctx);
    }
    return Error(Errc::kInvalidArgument, "unknown health check kind");
  } catch (const std::exception& e) {
    return Error(Errc::kInternal, "health check " + check.target + ": " + e.what());
  }
}

}  // namespace flotilla::agent
