#include "flotilla/agent/url_fetch.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <httplib.h>

#include "flotilla/agent/http_get.h"
#include "flotilla/common/duration.h"
#include "http_common.h"

namespace flotilla::agent {
namespace {

using Clock = std::chrono::steady_clock;

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string firstSet(const char* lower_name, const char* upper_name) {
  std::string v = env(lower_name);
  return v.empty() ? env(upper_name) : v;
}

// A proxy: "[http://][user:password@]host[:port]"; curl's default port 1080.
struct ProxyAddress {
  std::string host;
  int port = 1080;
  std::string user, password;
};

Result<ProxyAddress> parseProxy(const std::string& proxy) {
  auto bad = [&](const std::string& why) { return Error(Errc::kInvalidArgument, "proxy " + proxy + ": " + why); };
  std::string rest = proxy;
  if (auto sep = rest.find("://"); sep != std::string::npos) {
    if (asciiLower(rest.substr(0, sep)) != "http") return bad("only http:// proxies are supported");
    rest = rest.substr(sep + 3);
  }
  rest = rest.substr(0, rest.find('/'));
  ProxyAddress a;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    const std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = cred.find(':');
    a.user = cred.substr(0, colon);
    if (colon != std::string::npos) a.password = cred.substr(colon + 1);
  }
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) return bad("unclosed [");
    a.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else {
    const auto colon = rest.find(':');
    a.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (a.host.empty()) return bad("no host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return bad("bad port");
    a.port = std::stoi(port);
    if (a.port < 1 || a.port > 65535) return bad("bad port");
  }
  return a;
}

// What happened while the body streamed in.
struct Transfer {
  int status = 0;
  std::uint64_t written = 0;
  std::uint64_t announced = 0;  // Content-Length, 0 when absent
  bool too_long = false, late = false, cancelled = false, write_failed = false;
  int write_errno = 0;
};

bool writeAll(int fd, const char* data, std::size_t n, Transfer& t) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      t.write_failed = true;
      t.write_errno = errno;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// The outcome of a transfer as a Status naming the URL.
Status judge(const std::string& url, const Transfer& t, httplib::Error err, const UrlFetchOptions& o,
             const std::filesystem::path& dest, Clock::time_point deadline) {
  const std::string expected = std::to_string(o.expected_size) + " bytes";
  auto corrupt = [&](const std::string& why) { return Error(Errc::kCorrupt, url + ": " + why); };
  if (t.write_failed) return Error(Errc::kIo, "writing " + dest.string() + ": " + std::strerror(t.write_errno));
  if (t.cancelled) return Error(Errc::kUnavailable, url + ": cancelled, the agent is stopping");
  if (t.status != 0 && t.status != 200) return Error(Errc::kUnavailable, url + ": HTTP " + std::to_string(t.status));
  if (t.too_long) {
    if (t.announced > o.expected_size)
      return corrupt("longer than the order says: the server announces " + std::to_string(t.announced) +
                     " bytes, the order names " + expected);
    return corrupt("longer than the order says: more than the " + expected + " it names");
  }
  if (t.late || err == httplib::Error::ConnectionTimeout ||
      (err != httplib::Error::Success && Clock::now() >= deadline))
    return Error(Errc::kTimeout, url + ": not downloaded within fetch_timeout (" + common::formatDuration(o.timeout) +
                                     "), " + std::to_string(t.written) + " of " + expected + " received");
  if (t.status == 200 && t.written < o.expected_size && (err == httplib::Error::Success || err == httplib::Error::Read))
    return corrupt("truncated: received " + std::to_string(t.written) + " of the " + expected + " the order names");
  if (err != httplib::Error::Success) return Error(Errc::kUnavailable, url + ": " + describeHttpError(err));
  if (t.status != 200) return Error(Errc::kUnavailable, url + ": no response");
  if (t.written != o.expected_size)
    return corrupt("truncated: received " + std::to_string(t.written) + " of the " + expected + " the order names");
  return {};
}

}  // namespace

ProxyEnvironment ProxyEnvironment::fromProcess() {
  ProxyEnvironment e;
  e.http_proxy = env("http_proxy");
  e.https_proxy = firstSet("https_proxy", "HTTPS_PROXY");
  e.all_proxy = firstSet("all_proxy", "ALL_PROXY");
  e.no_proxy = firstSet("no_proxy", "NO_PROXY");
  return e;
}

bool listedInNoProxy(const std::string& host, const std::string& no_proxy) {
  const std::string h = asciiLower(host);
  std::stringstream entries(no_proxy);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    entry = asciiLower(trim(entry));
    if (entry == "*") return true;
    if (!entry.empty() && entry.front() == '[') {
      entry = entry.substr(1, entry.find(']') - 1);
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
      entry = entry.substr(0, entry.find(':'));  // "host:port": the port is ignored
    }
    while (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (entry.empty()) continue;
    if (h == entry) return true;
    if (h.size() > entry.size() && h.compare(h.size() - entry.size(), entry.size(), entry) == 0 &&
        h[h.size() - entry.size() - 1] == '.')
      return true;
  }
  return false;
}

Result<std::string> proxyFor(const std::string& url, const std::optional<std::string>& configured,
                             const ProxyEnvironment& env) {
  auto target = parseHttpUrl(url);
  if (!target) return target.error();
  const bool https = target->origin.rfind("https://", 0) == 0;
  std::string proxy;
  if (configured)
    proxy = *configured;
  else
    proxy = https ? env.https_proxy : env.http_proxy;
  if (!configured && proxy.empty()) proxy = env.all_proxy;
  if (proxy.empty() || listedInNoProxy(target->host, env.no_proxy)) return std::string();
  if (auto p = parseProxy(proxy); !p) return p.error();
  return proxy;
}

Status fetchUrl(const std::string& url, const std::filesystem::path& dest, const UrlFetchOptions& options) {
  auto target = parseHttpUrl(url);
  if (!target) return target.error();
  const auto deadline = Clock::now() + options.timeout;

  httplib::Client client(target->origin);
  if (!client.is_valid()) return Error(Errc::kInvalidArgument, url + ": cannot parse the host and port");
  configureClient(client, options.timeout, true);
  client.enable_server_certificate_verification(true);
  if (!options.ca_file.empty()) client.set_ca_cert_path(options.ca_file.string());
  if (!options.proxy.empty()) {
    auto proxy = parseProxy(options.proxy);
    if (!proxy) return proxy.error();
    client.set_proxy(proxy->host, proxy->port);
    if (!proxy->user.empty()) client.set_proxy_basic_auth(proxy->user, proxy->password);
  }

  const int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Errc::kIo, "creating " + dest.string() + ": " + std::strerror(errno));
  Transfer t;
  auto res = client.Get(
      target->path, httplib::Headers{{"User-Agent", "flotilla-agent"}, {"Accept-Encoding", "identity"}},
      [&](const httplib::Response& r) {
        t.status = r.status;
        if (r.status != 200) return false;
        if (r.has_header("Content-Length")) {
          t.announced = std::strtoull(r.get_header_value("Content-Length").c_str(), nullptr, 10);
          if (t.announced > options.expected_size) t.too_long = true;
        }
        return !t.too_long;
      },
      [&](const char* data, std::size_t n) {
        if (t.written + n > options.expected_size) {
          t.too_long = true;
          return false;
        }
        if (!writeAll(fd, data, n, t)) return false;
        t.written += n;
        if (options.cancelled && options.cancelled()) t.cancelled = true;
        if (Clock::now() > deadline) t.late = true;
        return !t.cancelled && !t.late;
      });
  ::close(fd);
  if (res && t.status == 0) t.status = res->status;  // the response handler is not called for every response
  auto status = judge(url, t, res.error(), options, dest, deadline);
  if (!status.ok()) {
    std::error_code ec;
    std::filesystem::remove(dest, ec);
  }
  return status;
}

}  // namespace flotilla::agent
