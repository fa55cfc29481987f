#pragma once
// A plain HTTP GET for integration tests that read the coordinator's HTTP
// endpoint (/metrics, /healthz). libcurl, 5 s timeout, no proxy. Header-only:
// only the integration tests, which link libcurl, include it.

#include <curl/curl.h>

#include <string>

namespace flotilla::testing {

struct HttpReply {
  long code = 0;  // 0 when the request failed
  std::string body;
};

inline HttpReply httpGet(const std::string& url) {
  HttpReply r;
  CURL* c = curl_easy_init();
  auto collect = +[](char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  };
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
  curl_easy_cleanup(c);
  return r;
}

}  // namespace flotilla::testing
