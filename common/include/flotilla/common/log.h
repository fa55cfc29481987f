#pragma once
// Logging set-up: spdlog to stderr, level from a string ("info", "debug").
#include <string_view>

#include <spdlog/spdlog.h>

namespace flotilla::common {

void setupLogging(std::string_view program, std::string_view level);

}  // namespace flotilla::common
