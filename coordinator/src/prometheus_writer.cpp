#include "flotilla/coordinator/prometheus_writer.h"

#include <charconv>

namespace flotilla::coordinator {

void PrometheusWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusWriter::sample(std::string_view name, const Labels& labels, std::uint64_t value) {
  sample(name, labels, std::string_view(std::to_string(value)));
}

void PrometheusWriter::sample(std::string_view name, const Labels& labels, std::string_view value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      out_ += escapeLabelValue(labels[i].second);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

void PrometheusWriter::histogram(std::string_view name, const Labels& labels, const std::vector<double>& bounds,
                                 const std::vector<std::uint64_t>& cumulative, double sum, std::uint64_t count) {
  const std::string bucket = std::string(name) + "_bucket";
  Labels with_le = labels;
  with_le.emplace_back("le", "");
  for (std::size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
    with_le.back().second = number(bounds[i]);
    sample(bucket, with_le, cumulative[i]);
  }
  with_le.back().second = "+Inf";
  sample(bucket, with_le, count);
  sample(std::string(name) + "_sum", labels, std::string_view(number(sum)));
  sample(std::string(name) + "_count", labels, count);
}

std::string PrometheusWriter::number(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string PrometheusWriter::escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

}  // namespace flotilla::coordinator
