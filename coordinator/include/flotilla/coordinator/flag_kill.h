#pragma once
// The kill switch's flag set (docs/flags.md "The kill switch"): from a flag set,
// the same set with one flag turned to its off variant on every host: its
// targeting removed, its defaultVariant the off variant, its state ENABLED (a
// DISABLED flag serves the caller's code default, not the off variant), and its metadata
// saying who killed it and when. The rest of the document is kept as it was,
// in its order ($evaluators resolve in document order).
//
// The off variant: the one given; else the variant named "off"; else, for a
// boolean flag, the variant whose value is false; else the caller must name it.
//
// Pure; any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "flotilla/common/result.h"

namespace flotilla::coordinator {

struct FlagKill {
  std::string text;         // the new flag set (JSON, checked by flags::FlagSet::parse)
  std::string off_variant;  // what the flag now serves
};

// Errors: kNotFound for a flag the set does not have; kInvalidArgument for a
// variant it does not have, or when no off variant can be told; kCorrupt for
// a set that does not parse.
Result<FlagKill> killFlag(std::string_view set_text, const std::string& flag, const std::string& variant,
                          const std::string& actor, std::int64_t at_ms);

}  // namespace flotilla::coordinator
