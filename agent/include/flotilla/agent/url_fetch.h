#pragma once
// Downloads an artifact that an HTTP store serves (an order's artifact_url,
// docs/artifacts.md) straight to a file, with cpp-httplib (linked already for
// health checks; libcurl would cost an idle agent ~3 MB of RSS):
//   - https is verified: the server's chain against the system CA store, or
//     against `ca_file` only when one is given, and its name against the URL's host;
//   - a proxy when one applies (proxyFor: agent.toml fetch_proxy, else the
//     https_proxy / http_proxy / no_proxy environment, as curl reads them);
//   - redirects followed (at most httplib's limit), no decompression;
//   - the body streamed to disk, never held in memory, and cut off as soon as
//     it is longer than the order says; `timeout` bounds the whole download.
// The caller checks the digest afterwards, before extraction (deployer.cpp).
// Blocking; called on the agent's worker thread, which also polls `cancelled`.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"

namespace flotilla::agent {

// The proxy settings of the agent's environment (lower case first, as curl:
// HTTP_PROXY in upper case is not read, since CGI lets a client set it).
struct ProxyEnvironment {
  std::string http_proxy;   // http_proxy
  std::string https_proxy;  // https_proxy, else HTTPS_PROXY
  std::string all_proxy;    // all_proxy, else ALL_PROXY
  std::string no_proxy;     // no_proxy, else NO_PROXY
  static ProxyEnvironment fromProcess();
};

// Whether `host` is listed in a no_proxy value: "*" lists every host; an
// entry lists itself and its subdomains ("example.com" and ".example.com"
// both list a.example.com); ports and surrounding spaces are ignored, case too.
bool listedInNoProxy(const std::string& host, const std::string& no_proxy);

// The proxy for `url` ("http://proxy:3128"), or "" for a direct connection.
// `configured` (agent.toml fetch_proxy) wins over the environment; "" there
// means none. no_proxy applies to both. kInvalidArgument for a bad URL or proxy.
Result<std::string> proxyFor(const std::string& url, const std::optional<std::string>& configured,
                             const ProxyEnvironment& env);

struct UrlFetchOptions {
  std::uint64_t expected_size = 0;  // the body must be exactly this long
  common::Millis timeout{300000};   // the whole download
  std::filesystem::path ca_file;    // PEM bundle to trust instead of the system's; empty = system
  std::string proxy;                // "http://[user:password@]host:port", "" = direct
  std::function<bool()> cancelled;  // optional; polled as bytes arrive
};

// Streams `url` to `dest` (created 0600, replaced). Expected failures:
// kCorrupt a body shorter or longer than expected_size ("truncated" /
// "longer than"), kTimeout past options.timeout, kUnavailable an HTTP status
// other than 200, a connection, TLS or proxy failure, or cancelled; kIo `dest`.
// Messages name the URL.
Status fetchUrl(const std::string& url, const std::filesystem::path& dest, const UrlFetchOptions& options);

}  // namespace flotilla::agent
