#pragma once
// What the agent's HTTP clients (http_get.cpp, url_fetch.cpp) share: what a
// failed cpp-httplib request means, for people, and ASCII lower case for
// schemes and host names. Private to the agent library.

#include <string>

#include <httplib.h>

namespace flotilla::agent {

std::string describeHttpError(httplib::Error err);
std::string asciiLower(std::string s);

}  // namespace flotilla::agent
