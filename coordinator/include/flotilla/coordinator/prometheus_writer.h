#pragma once
// PrometheusWriter: builds a document in the Prometheus text exposition format
// (0.0.4). Families are announced with HELP and TYPE; label values are escaped
// as the format requires (backslash, double quote, line feed), so text that
// came from the network can never break a line or forge a sample.
//
// A value type with no I/O; build one per document on any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flotilla::coordinator {

class PrometheusWriter {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // "# HELP name help" and "# TYPE name type" (gauge, counter, histogram).
  void family(std::string_view name, std::string_view type, std::string_view help);
  // "name{k="v",...} value"; no braces without labels.
  void sample(std::string_view name, const Labels& labels, std::uint64_t value);
  void sample(std::string_view name, std::uint64_t value) { sample(name, {}, value); }
  // The same with a value already written as text (see number()).
  void sample(std::string_view name, const Labels& labels, std::string_view value);
  // A histogram's series: name_bucket{labels,le="B"} for each bound (counts
  // are cumulative, one per bound), le="+Inf" = count, then name_sum and name_count.
  void histogram(std::string_view name, const Labels& labels, const std::vector<double>& bounds,
                 const std::vector<std::uint64_t>& cumulative, double sum, std::uint64_t count);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

  // Escapes a label value: \ -> \\, " -> \", line feed -> \n.
  static std::string escapeLabelValue(std::string_view value);
  // The shortest text that reads back as the same double ("1", "0.25", "1.5e-05").
  static std::string number(double v);

 private:
  std::string out_;
};

}  // namespace flotilla::coordinator
