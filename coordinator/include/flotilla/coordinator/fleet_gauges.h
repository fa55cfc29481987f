#pragma once
// FleetGauges: the live figures the reactor publishes once a second, and their
// Prometheus text (the part of /metrics that is not read from the store).
// Pure: counts in, text out.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace flotilla::coordinator {

struct FleetGauges {
  // Agents by state: online, lost, pending, revoked, rejected (all present, 0 or more).
  std::map<std::string, std::size_t> agents{
      {"online", 0}, {"lost", 0}, {"pending", 0}, {"revoked", 0}, {"rejected", 0}};
  std::size_t active_rollouts = 0;
  std::map<std::string, std::size_t> rollout_hosts;  // hosts of active rollouts by HostState name
  std::size_t watchers = 0;                          // consoles following a rollout
  std::map<std::string, std::uint64_t> refusals;     // OrderRefusals::byReason()
  std::uint64_t denied_messages = 0;
  // Orders failed on their artifact's download or check: ArtifactFailures::byReason().
  std::map<std::string, std::uint64_t> artifact_failures;

  // The last analysis verdict of each app (docs/analysis.md).
  struct Analysis {
    std::string app, rollout;
    int wave = 0;
    std::string outcome;  // pass | marginal | fail
    double score = 0;
    std::vector<std::pair<std::string, std::string>> metrics;  // metric, verdict (pass | high | low | nodata)
  };
  std::vector<Analysis> analysis;
  std::uint64_t dropped_samples = 0;  // samples not asked for (another rollout, wave, role or metric)
  std::uint64_t break_glass = 0;      // rollouts started past closed policy gates
  bool leader = true;                 // false: a standby (docs/ha.md); a coordinator without a lease leads
  std::uint64_t epoch = 0;            // the leadership epoch (0 = no lease)
};

std::string renderFleetGauges(const FleetGauges& g);
// flotilla_coordinator_leader and flotilla_coordinator_epoch alone, as a standby serves them.
std::string renderLeadershipGauges(bool leader, std::uint64_t epoch);

}  // namespace flotilla::coordinator
