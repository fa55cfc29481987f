#include "flotilla/swarm/stats.h"

#include <algorithm>
#include <cmath>

namespace flotilla::swarm {

nlohmann::json Samples::summary() const {
  nlohmann::json j = {{"n", values_.size()}};
  if (values_.empty()) {
    for (const char* k : {"p50_ms", "p90_ms", "p99_ms", "max_ms"}) j[k] = nullptr;
    return j;
  }
  std::vector<std::int64_t> v = values_;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    const auto idx = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) - 1;
    return static_cast<double>(v[std::min(idx, v.size() - 1)]) / 1000.0;
  };
  j["p50_ms"] = pct(50);
  j["p90_ms"] = pct(90);
  j["p99_ms"] = pct(99);
  j["max_ms"] = static_cast<double>(v.back()) / 1000.0;
  return j;
}

void SwarmStats::logEvent(std::string_view kind, std::int64_t unix_ms, std::string_view agent, std::string_view order) {
  if (!log) return;
  std::fprintf(log, "%.*s\t%lld\t%.*s\t%.*s\n", static_cast<int>(kind.size()), kind.data(),
               static_cast<long long>(unix_ms), static_cast<int>(agent.size()), agent.data(),
               static_cast<int>(order.size()), order.data());
  log_dirty = true;
}

void SwarmStats::flushLog() {
  if (!log || !log_dirty) return;
  std::fflush(log);
  log_dirty = false;
}

}  // namespace flotilla::swarm
