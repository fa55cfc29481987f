#pragma once
// One HTTP GET with cpp-httplib, as the agent makes them for health checks and
// metric scrapes: one connection, no proxy, no redirects, no decompression,
// the timeout bounding connect, send and every read, and the body capped.
// Blocking; called from the worker or the sampler thread, never the reactor.

#include <atomic>
#include <cstddef>
#include <string>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"

namespace flotilla::agent {

// "scheme://authority/path?query" split for httplib::Client, which takes the
// origin and the path apart. Only http and https; no user:password@.
struct HttpTarget {
  std::string origin;  // "http://127.0.0.1:8080", "https://[::1]:8443"
  std::string host;    // "127.0.0.1", "::1", "localhost" (no brackets, no port)
  std::string path;    // "/healthz?deep=1", "/" when the URL has none
};

// kInvalidArgument "<url>: why".
Result<HttpTarget> parseHttpUrl(const std::string& url);

// Whether the host is this machine's loopback: 127.0.0.0/8, ::1 or localhost.
bool isLoopbackHost(const std::string& host);

struct HttpGetOptions {
  common::Millis timeout{5000};
  std::size_t max_body = 1 << 20;
  bool keep_body = false;                     // false: the body is counted, not stored
  const std::atomic<bool>* cancel = nullptr;  // set from another thread: stop reading
};

struct HttpResponse {
  int status = 0;
  std::string body;     // when keep_body, at most max_body bytes
  bool capped = false;  // the body was longer than max_body; reading stopped there
};

// A response with its status (any status: the caller judges it), or
// kTimeout / kUnavailable "<url>: why" when none arrived.
Result<HttpResponse> httpGet(const std::string& url, const HttpGetOptions& options);

}  // namespace flotilla::agent
