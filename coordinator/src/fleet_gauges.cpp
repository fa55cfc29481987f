#include "flotilla/coordinator/fleet_gauges.h"

#include "flotilla/coordinator/prometheus_writer.h"

namespace flotilla::coordinator {

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
  w.family("flotilla_denied_messages_total", "counter", "Messages from revoked or rejected agent keys, dropped.");
  w.sample("flotilla_denied_messages_total", g.denied_messages);
  return w.take();
}

}  // namespace flotilla::coordinator
