#pragma once
// ReleaseAnalysis: the data side of analysed rollouts (docs/analysis.md).
// For each active rollout whose plan has [analysis], and for its current wave:
// which hosts sample as canary (the wave's hosts, from their probation on)
// and as baseline (hosts of the same target still on the previous release,
// from later waves), the samples they sent (kept in memory and in the store),
// and the judge's verdicts, final and interim.
//
// It asks agents to sample (SampleRequest) through `send_agent`, checks every
// Samples message against what it asked for (a sample for another rollout,
// wave, role or metric is dropped and counted), and turns the judge's verdict
// into the engine's decision. A restarted coordinator rebuilds the samples of
// the current wave from the store (resumed()), so the verdict it reaches is the
// one the old coordinator would have reached from the same samples.
//
// Owned by RolloutDriver, which routes everything to it. Reactor thread only.
// Per-message work is O(samples in the message); a verdict is O(samples of the wave).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/active_rollout.h"
#include "flotilla/coordinator/agent_registry.h"
#include "flotilla/coordinator/judge.h"
#include "flotilla/coordinator/prometheus_source.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::coordinator {

// Most baseline hosts asked to sample in one wave.
inline constexpr std::size_t kMaxBaselineHosts = 100;

// What the engine does with a verdict.
AnalysisDecision decisionOf(const Verdict& v);
// For the event log: "fail: score 50 (pass 95, marginal 75); error_ratio high: ...".
std::string verdictMessage(const Verdict& v, const protocol::AnalysisSpec& spec);

class ReleaseAnalysis {
 public:
  struct Hooks {
    // Sends a frame to agent `agent_id` if it is online.
    std::function<void(const std::string& agent_id, const std::string& frame)> send_agent;
    std::function<void(const Error&)> store_failed;
  };

  // `prometheus` answers the metrics read from a Prometheus server; null:
  // such metrics get no samples (and are nodata).
  ReleaseAnalysis(Store& store, AgentRegistry& agents, const common::Clock& clock, Hooks hooks,
                  PrometheusSource* prometheus = nullptr);

  // --- from the driver, for analysed rollouts (others are ignored) ---
  // Wave `wave` started: its baseline hosts are chosen and asked to sample.
  void waveStarted(const ActiveRollout& r, std::size_t wave);
  // A canary of the current wave reported probation: it starts sampling.
  void canaryProbation(const ActiveRollout& r, const std::string& agent_id);
  // Samples from `agent_id` for `r`.
  void onSamples(const ActiveRollout& r, const std::string& agent_id, const protocol::Samples& m);
  // Once per interval: the Prometheus queries of every host sampling for `r`.
  void pollPrometheus(const ActiveRollout& r, common::SteadyTime now);
  // What the Prometheus worker answered; `find` gives the active rollout of an id (or null).
  void drainPrometheus(const std::function<const ActiveRollout*(const std::string&)>& find);
  // A critical metric that already fails with enough samples, checked at most
  // once per interval: the failing verdict, recorded; nothing otherwise.
  std::optional<Verdict> earlyFailure(const ActiveRollout& r, common::SteadyTime now);
  // The wave's final verdict: judged, stored, sampling stopped.
  Verdict decide(const ActiveRollout& r, std::size_t wave);
  // The current wave's verdict so far (for watch and `flotilla analysis`); nothing when not analysing.
  std::optional<Verdict> interim(const ActiveRollout& r) const;
  // After a restart: the current wave's samples from the store, and the hosts asked again.
  void resumed(const ActiveRollout& r);
  // Agent `agent_id` is online again (or for the first time since a restart):
  // asked again if it samples for `r`, or taken as a baseline host the wave still lacks.
  void agentBack(const ActiveRollout& r, const std::string& agent_id);
  // The rollout ended: every host it asked stops sampling.
  void finished(const ActiveRollout& r);

  // The figures of the last verdict of each app, for /metrics.
  struct LastVerdict {
    std::string rollout_id;
    int wave = 0;
    Verdict verdict;
  };
  const std::map<std::string, LastVerdict>& lastVerdicts() const { return last_; }
  std::uint64_t droppedSamples() const { return dropped_; }
  // The most samples one host may add to a wave: one per metric and interval
  // of the longest a wave can sample, twice over. A host that sends more (a
  // bug, or a host gone wrong) cannot fill the store; the rest is dropped.
  static std::size_t maxSamplesPerHost(const ActiveRollout& r);
  std::uint64_t failedPrometheusQueries() const { return prometheus_failed_; }

 private:
  struct Run {
    std::size_t wave = 0;
    std::set<std::string> canaries;                             // asked to sample as canary
    std::set<std::string> baselines;                            // asked to sample as baseline
    std::vector<std::pair<GroupSamples, GroupSamples>> groups;  // per plan metric: canary, baseline
    std::map<std::string, std::set<std::string>> hosts_seen;    // metric -> "role/agent"
    std::unordered_map<std::string, std::size_t> taken;         // agent -> samples kept (bounded per host)
    std::size_t baseline_wanted = 0;
    std::uint64_t failed_scrapes = 0;
    common::SteadyTime next_early_check{};
    // The judge's verdict on the samples as they are; cleared by each new
    // sample. Watchers see a status every second and the early check runs
    // every interval: without it a 1,000-host wave is judged each time again.
    mutable std::optional<Verdict> latest;
    common::SteadyTime next_prometheus_poll{};
  };

  Run& runFor(const ActiveRollout& r, std::size_t wave);
  void add(Run& run, const protocol::AnalysisSpec& spec, const SampleRecord& s);
  // The run's verdict so far (judged once per new sample, then kept).
  static const Verdict& verdictOf(const ActiveRollout& r, const Run& run);
  protocol::SampleRequest request(const ActiveRollout& r, std::size_t wave, const std::string& role) const;
  void ask(const ActiveRollout& r, const std::string& agent_id, const std::string& role);
  void stopAll(const ActiveRollout& r, Run& run);
  std::vector<std::string> chooseBaseline(const ActiveRollout& r, std::size_t wave) const;
  void record(const ActiveRollout& r, std::size_t wave, const Verdict& v);
  // A sample from `agent_id` (or Prometheus about it) for `r`'s current run, if asked for.
  bool expected(const ActiveRollout& r, const std::string& agent_id, std::uint32_t wave, const std::string& role) const;

  Store& store_;
  AgentRegistry& agents_;
  const common::Clock& clock_;
  Hooks hooks_;
  PrometheusSource* prometheus_;
  std::unordered_map<std::string, Run> runs_;  // by rollout id
  std::map<std::string, LastVerdict> last_;    // by app
  std::uint64_t dropped_ = 0;
  std::uint64_t prometheus_failed_ = 0;
};

}  // namespace flotilla::coordinator
