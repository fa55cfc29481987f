#pragma once
// coordinator.toml's `http` key (http_config.cpp); internal to the coordinator
// library, used by config.cpp. docs/dashboard.md describes the keys.
#include <toml++/toml.h>

#include <filesystem>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/config.h"

namespace flotilla::coordinator {

// `http = "HOST:PORT"` (shorthand for http.listen) or an [http] table with
// listen, token_file, metrics_public and dashboard. Reads the token file
// (relative to coordinator.toml's directory). Errors name the file, the key and
// the problem; in particular the dashboard on a non-loopback address without
// http.token_file is refused.
Status readHttp(const std::filesystem::path& file, const toml::table& root, HttpConfig& out);

// True for an address in 127.0.0.0/8, ::1 and the name localhost (brackets
// allowed around IPv6); a name that merely starts with "127." is not one.
bool isLoopbackHost(const std::string& host);

}  // namespace flotilla::coordinator
