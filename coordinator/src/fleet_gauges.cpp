#include "flotilla/coordinator/fleet_gauges.h"

#include <cstdio>

#include "flotilla/coordinator/prometheus_writer.h"

namespace flotilla::coordinator {

namespace {

// State sets: one series per possible value, 1 for the one that holds.
void renderAnalysis(PrometheusWriter& w, const FleetGauges& g) {
  w.family("flotilla_analysis_score", "gauge", "Score of the last analysis verdict of each app (0-100).");
  for (const auto& a : g.analysis) {
    char score[32];
    std::snprintf(score, sizeof score, "%.6g", a.score);
    w.sample("flotilla_analysis_score", {{"app", a.app}, {"rollout", a.rollout}, {"wave", std::to_string(a.wave)}},
             std::string_view(score));
  }
  w.family("flotilla_analysis_verdict", "gauge",
           "Outcome of the last analysis verdict of each app (1 = this outcome).");
  for (const auto& a : g.analysis)
    for (const char* o : {"pass", "marginal", "fail"})
      w.sample("flotilla_analysis_verdict",
               {{"app", a.app}, {"rollout", a.rollout}, {"wave", std::to_string(a.wave)}, {"outcome", o}},
               a.outcome == o ? 1 : 0);
  w.family("flotilla_analysis_metric_verdict", "gauge",
           "Verdict of each metric in the last analysis of each app (1 = this verdict).");
  for (const auto& a : g.analysis)
    for (const auto& [metric, verdict] : a.metrics)
      for (const char* v : {"pass", "high", "low", "nodata"})
        w.sample("flotilla_analysis_metric_verdict",
                 {{"app", a.app},
                  {"rollout", a.rollout},
                  {"wave", std::to_string(a.wave)},
                  {"metric", metric},
                  {"verdict", v}},
                 verdict == v ? 1 : 0);
  w.family("flotilla_analysis_dropped_samples_total", "counter",
           "Analysis samples dropped since start: for a rollout, wave, role or metric not asked for.");
  w.sample("flotilla_analysis_dropped_samples_total", g.dropped_samples);
}

}  // namespace

std::string renderFleetGauges(const FleetGauges& g) {
  PrometheusWriter w;
  w.family("flotilla_agents", "gauge", "Agents by state.");
  for (const auto& [state, n] : g.agents) w.sample("flotilla_agents", {{"state", state}}, n);
  w.family("flotilla_active_rollouts", "gauge", "Rollouts not yet finished.");
  w.sample("flotilla_active_rollouts", g.active_rollouts);
  w.family("flotilla_rollout_hosts", "gauge", "Hosts of active rollouts by state.");
  for (const auto& [state, n] : g.rollout_hosts) w.sample("flotilla_rollout_hosts", {{"state", state}}, n);
  w.family("flotilla_watchers", "gauge", "Consoles following a rollout.");
  w.sample("flotilla_watchers", g.watchers);
  w.family("flotilla_order_refusals_total", "counter", "Orders refused by agents since start, by reason.");
  for (const auto& [reason, n] : g.refusals) w.sample("flotilla_order_refusals_total", {{"reason", reason}}, n);
  w.family("flotilla_artifact_failures_total", "counter",
           "Orders failed on their artifact's download or check since start, by reason.");
  for (const auto& [reason, n] : g.artifact_failures)
    w.sample("flotilla_artifact_failures_total", {{"reason", reason}}, n);
  w.family("flotilla_denied_messages_total", "counter", "Messages from revoked or rejected agent keys, dropped.");
  w.sample("flotilla_denied_messages_total", g.denied_messages);
  renderAnalysis(w, g);
  w.family("flotilla_policy_break_glass_total", "counter",
           "Rollouts started past closed policy gates by break-glass since start.");
  w.sample("flotilla_policy_break_glass_total", g.break_glass);
  return w.take() + renderLeadershipGauges(g.leader, g.epoch);
}

std::string renderLeadershipGauges(bool leader, std::uint64_t epoch) {
  PrometheusWriter w;
  w.family("flotilla_coordinator_leader", "gauge",
           "1 when this coordinator leads (sends orders), 0 when it is a standby (docs/ha.md).");
  w.sample("flotilla_coordinator_leader", leader ? 1 : 0);
  w.family("flotilla_coordinator_epoch", "gauge",
           "The leadership epoch this coordinator leads in, or last saw as a standby (0 = no lease).");
  w.sample("flotilla_coordinator_epoch", epoch);
  return w.take();
}

}  // namespace flotilla::coordinator
