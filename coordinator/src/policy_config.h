#pragma once
// coordinator.toml's [policy] freezes and break-glass (policy_config.cpp);
// internal to the coordinator library, used by config.cpp.
#include <toml++/toml.h>

#include <filesystem>
#include <string>
#include <vector>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/policy_gates.h"

namespace flotilla::coordinator {

// Reads [[policy.freeze]], [policy.approvals], [[policy.alarm]] and [policy.break_glass] of the
// [policy] table; errors name the file, line, key and problem (a bad cron or time zone, an
// approvals rule that `operators`, the identities of control.operators, could never satisfy).
Status readPolicyGates(const std::filesystem::path& file, const toml::table& policy,
                       const std::vector<std::string>& operators, PolicyConfig& out);

}  // namespace flotilla::coordinator
