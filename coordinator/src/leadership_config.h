#pragma once
// coordinator.toml's [leadership] table (leadership_config.cpp); internal to
// the coordinator library, used by config.cpp. docs/ha.md describes the keys.
#include <toml++/toml.h>

#include <filesystem>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/config.h"

namespace flotilla::coordinator {

// Reads [leadership] into c.leadership, after agents, control and store are
// read: the table is refused without store.url, and the advertised endpoints
// default to agents.listen (advertised) and control.endpoint. Errors name the
// file, line, column, key and problem.
Status readLeadership(const std::filesystem::path& file, const toml::table& root, CoordinatorConfig& c);

}  // namespace flotilla::coordinator
