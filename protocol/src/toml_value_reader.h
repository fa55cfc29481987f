#pragma once
// Typed values out of a TOML document, each check failing with a Status whose
// message starts with "<source>:<line>:<col>: <key.path>: ", the shape every
// plan error has (plan.h). The plan's section readers (plan.cpp) build on it.
//
// Internal to flotilla_protocol. One reader serves one parse, on the caller's thread.

#include <toml++/toml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::protocol {

class TomlValueReader {
 public:
  explicit TomlValueReader(std::string source) : source_(std::move(source)) {}

  // "\"text\"", for values quoted in error messages.
  static std::string quote(std::string_view text);
  // "path.key", or "key" at the root.
  static std::string join(std::string_view path, std::string_view key);
  // "path[i]".
  static std::string indexed(std::string_view path, std::size_t i);

  const std::string& source() const { return source_; }

  // "<source>:<line>:<col>", lines and columns from 1.
  std::string position(const toml::source_region& where) const;
  Error errorAt(const toml::source_region& where, std::string_view key, std::string_view what) const;
  Error errorAt(const toml::node& node, std::string_view key, std::string_view what) const {
    return errorAt(node.source(), key, what);
  }
  Error wrongType(const toml::node& node, std::string_view key, std::string_view expected) const;
  Error missing(const toml::node& table, std::string_view key) const;

  // Typos must not pass silently: every key a table holds has to be one we read.
  Status checkKeys(const toml::table& table, std::string_view path,
                   std::initializer_list<std::string_view> known) const;
  // The subtable `key` of `parent`, or nullptr if absent (nullptr + error if not a table).
  Status optionalTable(const toml::table& parent, std::string_view key, const toml::table*& out) const;

  Status readString(const toml::node& node, std::string_view key, std::string& out) const;
  Status readNonEmptyString(const toml::node& node, std::string_view key, std::string& out) const;
  Status readDuration(const toml::node& node, std::string_view key, common::Millis& out) const;
  Status readPositiveDuration(const toml::node& node, std::string_view key, common::Millis& out) const;
  // An RFC 3339 string or a TOML date-time, either with a UTC offset.
  Status readTimestamp(const toml::node& node, std::string_view key, std::optional<common::SysTime>& out) const;
  // A command line: a non-empty array of strings whose first element is not empty.
  Status readArgv(const toml::node& node, std::string_view key, std::vector<std::string>& out) const;

  enum class AmountUse { kWaveSize, kBudget };
  // Wave sizes are positive counts or percentages in (0, 100]; failure budgets
  // are counts >= 0 or percentages in [0, 100].
  Status readAmount(const toml::node& node, std::string_view key, AmountUse use, Amount& out) const;

  // "host:port" with a port from 1 to 65535; targets holding host variables
  // ("${PORT}") pass, since only the agent can expand them.
  Status checkHostPort(const toml::node& node, std::string_view key, std::string_view target) const;

 private:
  std::string source_;
};

// The plan's [analysis] table (plan_analysis.cpp).
Status readAnalysis(const TomlValueReader& reader, const toml::table& table, AnalysisSpec& out);

}  // namespace flotilla::protocol
