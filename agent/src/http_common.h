#pragma once
// What the agent's HTTP clients (http_get.cpp, url_fetch.cpp) share: how a
// cpp-httplib client is set up, what a failed request means, for people, and
// ASCII lower case for schemes and host names. Private to the agent library.

#include <string>

#include <httplib.h>

#include "flotilla/common/clock.h"

namespace flotilla::agent {

std::string describeHttpError(httplib::Error err);
std::string asciiLower(std::string s);
// One request per client: `timeout` (at least 1 ms) bounds connect, send and
// every read; no keep-alive, no decompression; redirects followed or not.
void configureClient(httplib::Client& client, common::Millis timeout, bool follow_redirects);

}  // namespace flotilla::agent
