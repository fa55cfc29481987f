#include "flotilla/coordinator/alarm_policy.h"

#include "flotilla/protocol/flag_app.h"

#include <algorithm>
#include <sstream>

namespace flotilla::coordinator {

bool policyCovers(const std::vector<std::string>& apps, const std::map<std::string, std::string>& labels,
                  const protocol::Plan& plan) {
  // A gate that covers app `web` covers its flag rollouts ("flags:web") too.
  const std::string app = protocol::flaggedApp(plan.app).value_or(plan.app);
  if (!apps.empty() && std::find(apps.begin(), apps.end(), app) == apps.end() &&
      std::find(apps.begin(), apps.end(), plan.app) == apps.end())
    return false;
  for (const auto& [k, v] : labels) {
    auto it = plan.target_labels.find(k);
    if (it == plan.target_labels.end() || it->second != v) return false;
  }
  return true;
}

bool alarmCovers(const AlarmPolicy& alarm, const protocol::Plan& plan) {
  return policyCovers(alarm.apps, alarm.labels, plan);
}

AlarmDecision decideAlarm(const AlarmPolicy& alarm, const AlarmReading& reading) {
  AlarmDecision d;
  if (reading.ok && !reading.empty && reading.value != 0) {
    std::ostringstream os;
    os << "alarm " << alarm.name << " fired: query value " << reading.value;
    const bool rollback = alarm.on_fire == AlarmFireAction::kRollback;
    d.action = rollback ? AlarmAction::kRollback : AlarmAction::kPause;
    d.why = os.str() + (rollback ? "; rolling back" : "; pausing");
    return d;
  }
  if (reading.ok || reading.empty) return d;
  const bool pause = alarm.on_error == AlarmErrorAction::kPause;
  d.action = pause ? AlarmAction::kPause : AlarmAction::kLogOnly;
  d.why = "alarm " + alarm.name + " cannot be read from " + alarm.prometheus + " (" + reading.error + ")" +
          (pause ? "; pausing" : "; ignored (on_error = \"ignore\")");
  return d;
}

}  // namespace flotilla::coordinator
