#pragma once
// coordinator.toml's [[notify]] tables (notify_config.cpp); internal to the
// coordinator library, used by config.cpp.
#include <toml++/toml.h>

#include <filesystem>
#include <vector>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/notify_config.h"

namespace flotilla::coordinator {

// Reads every [[notify]] table of `root`; `dir` resolves relative secret_file
// paths. Errors name the file, line, column, key and problem.
Status readNotifyTargets(const std::filesystem::path& file, const std::filesystem::path& dir, const toml::table& root,
                         std::vector<NotifyTarget>& out);

}  // namespace flotilla::coordinator
