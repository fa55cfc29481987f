#pragma once
// The Prometheus text exposition format (version 0.0.4), as an app's /metrics
// endpoint serves it, and series selectors over it:
//   http_requests_total{code=~"5..",method!="HEAD"}
// Matchers are =, !=, =~ and !~; regular expressions are fully anchored, as in
// Prometheus. Pure: no I/O. Untrusted bodies are bounded (ExpositionLimits).

#include <cstddef>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/common/result.h"

namespace flotilla::common {

struct LabelMatcher {
  enum class Op { kEq, kNe, kRe, kNre };
  std::string label;
  Op op = Op::kEq;
  std::string value;
  std::shared_ptr<const std::regex> re;  // kRe / kNre: ^(?:value)$
  bool matches(std::string_view label_value) const;
};

struct Selector {
  std::string name;  // the metric name, required
  std::vector<LabelMatcher> matchers;
  // A series named `name` whose labels satisfy every matcher (a label the
  // series lacks has the value "").
  bool matches(std::string_view series_name, const std::map<std::string, std::string>& labels) const;
};

// kInvalidArgument naming the position and what is wrong.
Result<Selector> parseSelector(std::string_view text);

}  // namespace flotilla::common
