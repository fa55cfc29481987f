#pragma once
// What a webhook receives (docs/notifications.md): the notification an event
// of the rollout event log stands for, its body (Flotilla's JSON document or a
// Slack-compatible message) and the signature headers. Pure functions: no I/O,
// no clock; any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/coordinator/notify_config.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {

// The notification an event-log kind stands for: submitted; wave_succeeded;
// wave_failed; rollout_paused (paused); rollout_succeeded, rollout_failed,
// rollout_rolled_back, rollout_aborted and policy_refused (finished). Every
// other kind (per-host events, approvals, operator commands) is not sent.
std::optional<NotifyEvent> notifyEventOf(const std::string& kind);

struct Notification {
  std::string id;  // the event's sequence number in the store, in decimal: unique per coordinator store
  NotifyEvent what = NotifyEvent::kSubmitted;
  std::string event;  // the event-log kind it comes from ("rollout_rolled_back", ...)
  std::string rollout, app, version;
  int wave = -1;        // the wave's index as `flotilla events` shows it; -1 = none
  std::string outcome;  // waves: succeeded | failed; finished: the rollout's final state; else ""
  std::string reason;   // the event's message
  std::string actor;    // who acted ("" when the engine decided)
  std::int64_t at_ms = 0;
};

// The notification for event `e` of rollout `r`, or nullopt when its kind is
// not one a target can ask for.
std::optional<Notification> makeNotification(const EventRecord& e, const RolloutRecord& r);

// The default body: one JSON object (keys in docs/notifications.md).
std::string jsonBody(const Notification& n);
// Slack's incoming-webhook shape: {"text": ...} with the same line in one section block.
std::string slackBody(const Notification& n);
std::string notificationBody(const Notification& n, NotifyFormat format);

// The header names, and what is signed: "<timestamp>.<event id>.<body>".
inline constexpr const char* kEventIdHeader = "X-Flotilla-Event-Id";
inline constexpr const char* kTimestampHeader = "X-Flotilla-Timestamp";
inline constexpr const char* kSignatureHeader = "X-Flotilla-Signature";

// "sha256=" and the lowercase hex HMAC-SHA256 (libsodium) of the signed bytes under `secret`.
std::string notificationSignature(std::string_view secret, std::string_view timestamp, std::string_view event_id,
                                  std::string_view body);

}  // namespace flotilla::coordinator
