#pragma once
// Sizes for people: "17 bytes", "12 KiB", "1.5 GiB" (binary units, one
// decimal below 10). For messages and progress lines, never for parsing.

#include <cstdint>
#include <string>

namespace flotilla::common {

std::string formatBytes(std::uint64_t bytes);

}  // namespace flotilla::common
