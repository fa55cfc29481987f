#pragma once
// join.toml, as written by `flotilla-coordinator init`: the endpoint agents
// dial (or, from `init --from`, the list of a leader and its standbys), the coordinator's CURVE server key, the plan
// key orders must be signed with, and a join token. The swarm reads it the way `flotilla-agent init` does.

#include <filesystem>
#include <string>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"

namespace flotilla::swarm {

struct JoinInfo {
  std::vector<std::string> endpoints;   // tried in order (docs/ha.md)
  common::PublicKey coordinator_key{};  // CURVE server key
  common::PublicKey plan_key{};         // Ed25519 key orders are verified against
  std::string token;                    // may be empty: agents then wait as pending
};

// Errors name the file, line and column and the key.
Result<JoinInfo> loadJoinFile(const std::filesystem::path& file);

}  // namespace flotilla::swarm
