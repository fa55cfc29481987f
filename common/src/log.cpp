#include "flotilla/common/log.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace flotilla::common {
namespace {

std::optional<spdlog::level::level_enum> parseLevel(std::string_view text) {
  std::string name(text);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // spdlog::level::from_str answers "off" for unknown names, which would
  // silence a daemon over a typo; unknown names are told apart here instead.
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error" || name == "err") return spdlog::level::err;
  if (name == "critical") return spdlog::level::critical;
  if (name == "off") return spdlog::level::off;
  return std::nullopt;
}

}  // namespace

void setupLogging(std::string_view program, std::string_view level) {
  // Colour only on a terminal: under systemd or in a pipe, escape codes would
  // end up in the journal and in log files.
  spdlog::sink_ptr sink;
  if (::isatty(STDERR_FILENO) != 0) {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>(std::string(program), std::move(sink));
  // ISO 8601 local time with offset, so lines from several hosts can be merged.
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %n[%P] %^%l%$: %v");

  auto parsed = parseLevel(level);
  logger->set_level(parsed.value_or(spdlog::level::info));
  spdlog::set_default_logger(logger);
  if (!parsed) {
    spdlog::warn(
        "unknown log level '{}' (expected trace, debug, info, warn, error, critical or off); "
        "using info",
        std::string(level));
  }
}

}  // namespace flotilla::common
