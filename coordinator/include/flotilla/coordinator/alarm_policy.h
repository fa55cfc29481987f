#pragma once
// An alarm of coordinator.toml ([[policy.alarm]], docs/policy.md): a PromQL
// query that, while a rollout it covers runs, is polled every `interval`; when
// it fires the rollout is rolled back or paused, and when Prometheus cannot be
// read `on_error` says what happens. This file holds the configuration and the
// pure decision on one poll's answer; AlarmWatch (alarm_watch.h) polls and acts.
//
// Pure values and functions: any thread.

#include <map>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

enum class AlarmFireAction { kRollback, kPause };
enum class AlarmErrorAction { kPause, kIgnore };

struct AlarmPolicy {
  std::string name;        // default "alarm N" (N counts from 1)
  std::string prometheus;  // "http://127.0.0.1:9090"
  std::string query;       // PromQL, an instant query
  AlarmFireAction on_fire = AlarmFireAction::kRollback;
  AlarmErrorAction on_error = AlarmErrorAction::kPause;
  common::Millis interval = std::chrono::seconds(10);
  std::vector<std::string> apps;              // empty = every app
  std::map<std::string, std::string> labels;  // rollouts whose target includes these; empty = any
};

// Whether the alarm watches rollouts of `plan`: its app is listed (or none
// are) and its target labels include every label of the alarm.
bool alarmCovers(const AlarmPolicy& alarm, const protocol::Plan& plan);

// A gate scoped by `apps` (empty = every app) and `labels` (empty = any
// target) covers `plan`: its app is listed and its target has every label.
// A gate that lists `web` covers its flag rollouts ("flags:web": flag_app.h).
// Freezes, approvals and alarms share it.
bool policyCovers(const std::vector<std::string>& apps, const std::map<std::string, std::string>& labels,
                  const protocol::Plan& plan);

// What a poll's answer asks for.
enum class AlarmAction { kNone, kRollback, kPause, kLogOnly };
struct AlarmDecision {
  AlarmAction action = AlarmAction::kNone;
  std::string why;  // for the rollout's event or the log: "alarm page fired: query value 2; rolling back"
};

// One poll's answer: `ok` with the query's value (the sum of a vector's
// samples, or the scalar; parseQueryReply), `empty` when the vector had no
// series, else `error`. It fires on a value other than 0; an empty vector
// or 0 is quiet; an error does what on_error says.
struct AlarmReading {
  bool ok = false;
  bool empty = false;
  double value = 0;
  std::string error;
};
AlarmDecision decideAlarm(const AlarmPolicy& alarm, const AlarmReading& reading);

}  // namespace flotilla::coordinator
