#pragma once
// [[notify]] in coordinator.toml: the webhooks told about rollouts
// (docs/notifications.md). Plain settings, read once at start by
// loadCoordinatorConfig (the parsing is in notify_config.cpp) and handed to
// the Notifier.

#include <chrono>
#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/common/clock.h"

namespace flotilla::coordinator {

// What a target may ask for; each stands for one or more event kinds of the
// rollout event log (notifyEventOf in notify_message.h).
enum class NotifyEvent { kSubmitted, kWaveSucceeded, kWaveFailed, kPaused, kFinished };

// "submitted", "wave_succeeded", "wave_failed", "paused", "finished".
const char* toString(NotifyEvent e);
std::optional<NotifyEvent> notifyEventFromName(std::string_view name);

enum class NotifyFormat { kJson, kSlack };

struct NotifyTarget {
  // The target's name in /metrics and in its cursor file: `name`, or the URL's
  // host (never its path, which often carries a token, as Slack's does).
  std::string name;
  std::string url;               // http:// or https:// (verified with the system CA store)
  std::set<NotifyEvent> events;  // what it is told about: never empty
  std::set<std::string> apps;    // only rollouts of these apps; empty = every app
  std::string secret;            // HMAC-SHA256 key (secret_file's content); empty = unsigned
  NotifyFormat format = NotifyFormat::kJson;
  common::Millis timeout{std::chrono::seconds(10)};  // one attempt, connection and answer
  std::size_t queue = 1000;                          // events waiting for this target; beyond it the oldest are dropped
};

// The scheme://host[:port] part of an http(s) URL; "" when the URL is not one.
std::string urlOrigin(const std::string& url);

}  // namespace flotilla::coordinator
