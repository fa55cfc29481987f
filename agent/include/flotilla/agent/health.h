#pragma once
// One run of one health check: http (GET, any 2xx passes, cpp-httplib), tcp (a
// connect within the timeout) or exec (exit 0 within the timeout, run through
// common::runProcess in the release directory as run_as, clean environment).
// Called from the agent's worker thread, never from the network thread.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "flotilla/common/result.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::agent {

struct CheckContext {
  std::filesystem::path cwd;               // the release directory
  std::map<std::string, std::string> env;  // FLOTILLA_* variables + base env
  std::optional<std::string> run_as;
};

// ok() = the check passed. The error message says why it failed in one line
// ("http://127.0.0.1:8080/healthz: HTTP 500", "tcp 127.0.0.1:9: connection refused").
Status runHealthCheck(const protocol::HealthCheck& check, const CheckContext& ctx);

}  // namespace flotilla::agent
