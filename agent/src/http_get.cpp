#include "flotilla/agent/http_get.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

#include <httplib.h>

#include "flotilla/common/duration.h"
#include "http_common.h"

namespace flotilla::agent {
namespace {

using Clock = std::chrono::steady_clock;

// The host of an authority: "[::1]:80" -> "::1", "example:80" -> "example".
std::string hostOf(const std::string& authority) {
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    return close == std::string::npos ? authority.substr(1) : authority.substr(1, close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

}  // namespace

std::string asciiLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

void configureClient(httplib::Client& client, common::Millis timeout, bool follow_redirects) {
  timeout = std::max(common::Millis(1), timeout);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.set_follow_location(follow_redirects);
  client.set_keep_alive(false);
  client.set_decompress(false);
}

std::string describeHttpError(httplib::Error err) {
  switch (err) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::Read:
      return "connection closed or broken while reading the response";
    case httplib::Error::Write:
      return "connection broken while sending the request";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the CA certificates";
    case httplib::Error::SSLServerVerification:
      return "server certificate not trusted";
    default:
      return httplib::to_string(err);
  }
}

Result<HttpTarget> parseHttpUrl(const std::string& url) {
  auto bad = [&](const std::string& why) { return Error(Errc::kInvalidArgument, url + ": " + why); };
  const auto sep = url.find("://");
  if (sep == std::string::npos) return bad("not a URL (expected http://host[:port]/path)");
  std::string scheme = asciiLower(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") return bad("unsupported scheme '" + scheme + "' (http or https)");
  const auto host_start = sep + 3;
  auto path_start = url.find_first_of("/?#", host_start);
  std::string authority =
      url.substr(host_start, path_start == std::string::npos ? std::string::npos : path_start - host_start);
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != std::string::npos) return bad("user:password@ is not supported");
  for (unsigned char ch : authority)
    if (ch <= 0x20 || ch == 0x7f) return bad("bad character in host");
  HttpTarget t;
  t.origin = scheme + "://" + authority;
  t.host = hostOf(authority);
  // Built by appending: GCC 12's -Wrestrict misfires on insert(0, "/") at -O2.
  const std::string rest = path_start == std::string::npos ? std::string() : url.substr(path_start);
  if (rest.empty() || rest.front() != '/') t.path.push_back('/');
  t.path += rest;
  if (auto hash = t.path.find('#'); hash != std::string::npos) t.path.erase(hash);
  for (unsigned char ch : t.path)
    if (ch <= 0x20 || ch == 0x7f) return bad("bad character in path");
  return t;
}

bool isLoopbackHost(const std::string& host) {
  if (asciiLower(host) == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
  return false;
}

Result<HttpResponse> httpGet(const std::string& url, const HttpGetOptions& options) {
  auto target = parseHttpUrl(url);
  if (!target) return target.error();
  const auto deadline = Clock::now() + options.timeout;

  httplib::Client client(target->origin);
  if (!client.is_valid()) return Error(Errc::kInvalidArgument, url + ": cannot parse the host and port");
  configureClient(client, options.timeout, false);

  HttpResponse out;
  std::size_t received = 0;
  bool late = false;
  bool cancelled = false;
  auto res = client.Get(
      target->path, httplib::Headers{{"User-Agent", "flotilla-agent"}},
      [&](const httplib::Response& r) {
        out.status = r.status;
        return true;
      },
      [&](const char* data, std::size_t n) {
        received += n;
        if (received > options.max_body) {
          out.capped = true;  // the status is already known; stop reading
          return false;
        }
        if (options.keep_body) out.body.append(data, n);
        if (options.cancel && options.cancel->load()) {
          cancelled = true;
          return false;
        }
        if (Clock::now() > deadline) {
          late = true;
          return false;
        }
        return true;
      });
  const auto err = res.error();
  if (res) out.status = res->status;  // the response handler is not called for every response (e.g. 204)
  const bool got_status =
      out.status != 0 && (err == httplib::Error::Success || (err == httplib::Error::Canceled && out.capped));
  if (got_status) return out;
  if (cancelled) return Error(Errc::kUnavailable, url + ": cancelled");
  if (late || err == httplib::Error::ConnectionTimeout || Clock::now() >= deadline)
    return Error(Errc::kTimeout, url + ": timed out after " + common::formatDuration(options.timeout));
  return Error(Errc::kUnavailable, url + ": " + describeHttpError(err));
}

}  // namespace flotilla::agent
