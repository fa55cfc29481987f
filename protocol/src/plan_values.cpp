// The plan's values outside the parser: amounts of hosts, the names of its
// enums, and which app names and versions are valid.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>

#include "flotilla/protocol/plan.h"

namespace flotilla::protocol {
namespace {

bool inSet(char c, std::string_view extra) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || extra.find(c) != std::string_view::npos;
}

}  // namespace

std::size_t Amount::resolve(std::size_t total) const {
  // Compared as doubles before any cast, so absurd values clamp instead of
  // overflowing (and NaN means nothing).
  double hosts = value;
  if (percent) {
    // Percentages round up; the small slack keeps 10% of 30 at 3 despite binary
    // floating point (30 * 10 / 100 is 3.0000000000000004).
    hosts = std::ceil(static_cast<double>(total) * value / 100.0 - 1e-9);
  }
  if (!(hosts > 0)) return 0;
  if (hosts >= static_cast<double>(total)) return total;
  return static_cast<std::size_t>(hosts);
}

std::string Amount::toString() const {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  std::string out = ec == std::errc() ? std::string(buf, end) : std::to_string(value);
  if (percent) out += '%';
  return out;
}

const char* toString(Approval a) {
  switch (a) {
    case Approval::kAuto:
      return "auto";
    case Approval::kManual:
      return "manual";
  }
  return "auto";
}

const char* toString(OnFailure f) {
  switch (f) {
    case OnFailure::kRollback:
      return "rollback";
    case OnFailure::kPause:
      return "pause";
    case OnFailure::kHalt:
      return "halt";
  }
  return "rollback";
}

const char* toString(AnalysisMetric::Kind k) {
  switch (k) {
    case AnalysisMetric::Kind::kRate:
      return "rate";
    case AnalysisMetric::Kind::kGauge:
      return "gauge";
    case AnalysisMetric::Kind::kHistogram:
      return "histogram";
    case AnalysisMetric::Kind::kQuery:
      return "query";
  }
  return "?";
}

const char* toString(AnalysisMetric::Direction d) {
  switch (d) {
    case AnalysisMetric::Direction::kIncrease:
      return "increase";
    case AnalysisMetric::Direction::kDecrease:
      return "decrease";
    case AnalysisMetric::Direction::kEither:
      return "either";
  }
  return "?";
}

const char* toString(AnalysisMetric::Source s) {
  return s == AnalysisMetric::Source::kScrape ? "scrape" : "prometheus";
}

std::string toleranceText(const AnalysisMetric& m) {
  char buf[64];
  if (m.tolerance_relative)
    std::snprintf(buf, sizeof buf, "%g%%", m.tolerance * 100);
  else
    std::snprintf(buf, sizeof buf, "%g", m.tolerance);
  return buf;
}

bool validAppName(std::string_view app) {
  if (app.empty() || app.size() > 64) return false;
  if (!inSet(app.front(), "")) return false;
  return std::all_of(app.begin(), app.end(), [](char c) { return inSet(c, "._-"); });
}

bool validVersion(std::string_view version) {
  if (version.empty() || version.size() > 128) return false;
  auto alnum = [](char c) { return inSet(c, "") || (c >= 'A' && c <= 'Z'); };
  if (!alnum(version.front())) return false;
  return std::all_of(version.begin(), version.end(),
                     [&](char c) { return alnum(c) || std::string_view("._+-").find(c) != std::string_view::npos; });
}

}  // namespace flotilla::protocol
