#pragma once
// A parser for the Prometheus text exposition format, version 0.0.4, as an
// app's /metrics endpoint serves it:
//   # HELP http_requests_total Requests served.
//   # TYPE http_requests_total counter
//   http_requests_total{code="200",path="/a \"b\""} 1027 1395066363000
// Comments and HELP are skipped, TYPE is kept per metric family; label values
// unescape \\, \" and \n; values are floats including NaN, +Inf and -Inf; the
// optional timestamp is integer milliseconds. Pure: no I/O, any thread.
//
// The body is untrusted (an app, or whatever answers on its port): every
// dimension is bounded by ExpositionLimits and the parse stops at the first
// limit or syntax error with an Error naming the line and what is wrong. It
// never allocates more than a small multiple of the body size.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/common/result.h"

namespace flotilla::common {

struct ExpositionLimits {
  std::size_t max_body_bytes = 4u << 20;
  std::size_t max_line_bytes = 64u << 10;
  std::size_t max_series = 100000;
  std::size_t max_labels = 64;               // per series
  std::size_t max_label_value_bytes = 4096;  // and per label name
};

struct PromSeries {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  std::optional<std::int64_t> timestamp_ms;
};

struct Exposition {
  std::vector<PromSeries> series;            // in body order, duplicates left out
  std::map<std::string, std::string> types;  // family name -> "counter" | "gauge" | ...
  std::size_t duplicates = 0;                // repeated series (name + labels): the first one is kept
};

// kInvalidArgument for a syntax error ("line 7: unterminated label value") or
// an exceeded limit, which it names ("line 3 is longer than 65536 bytes").
Result<Exposition> parseExposition(std::string_view body, const ExpositionLimits& limits = {});

// The identity of a series: its name and sorted labels, in a form no two
// distinct series share.
std::string seriesKey(const std::string& name, const std::map<std::string, std::string>& labels);

}  // namespace flotilla::common
