#include "flotilla/coordinator/notify_message.h"

#include <sodium.h>

#include <nlohmann/json.hpp>

#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"

namespace flotilla::coordinator {
namespace {

// Slack reads &, < and > in text as markup (links, mentions): escaped, the
// attacker-controlled parts (messages, agent ids) stay text.
std::string slackEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

std::string headline(const Notification& n) {
  const std::string what = n.app + " " + n.version + " (rollout " + n.rollout + ")";
  switch (n.what) {
    case NotifyEvent::kSubmitted:
      return what + " submitted" + (n.actor.empty() ? "" : " by " + n.actor);
    case NotifyEvent::kWaveSucceeded:
      return what + ": wave " + std::to_string(n.wave) + " succeeded";
    case NotifyEvent::kWaveFailed:
      return what + ": wave " + std::to_string(n.wave) + " failed";
    case NotifyEvent::kPaused:
      return what + " paused";
    case NotifyEvent::kFinished:
      return what + " finished: " + n.outcome;
  }
  return what;
}

}  // namespace

std::optional<NotifyEvent> notifyEventOf(const std::string& kind) {
  if (kind == "submitted") return NotifyEvent::kSubmitted;
  if (kind == "wave_succeeded") return NotifyEvent::kWaveSucceeded;
  if (kind == "wave_failed") return NotifyEvent::kWaveFailed;
  if (kind == "rollout_paused") return NotifyEvent::kPaused;
  if (kind == "rollout_succeeded" || kind == "rollout_failed" || kind == "rollout_rolled_back" ||
      kind == "rollout_aborted" || kind == "policy_refused")
    return NotifyEvent::kFinished;
  return std::nullopt;
}

std::optional<Notification> makeNotification(const EventRecord& e, const RolloutRecord& r) {
  auto what = notifyEventOf(e.kind);
  if (!what) return std::nullopt;
  Notification n;
  n.id = std::to_string(e.seq);
  n.what = *what;
  n.event = e.kind;
  n.rollout = e.rollout_id;
  n.app = r.app;
  n.version = r.version;
  n.wave = e.wave;
  if (*what == NotifyEvent::kWaveSucceeded) n.outcome = "succeeded";
  if (*what == NotifyEvent::kWaveFailed) n.outcome = "failed";
  if (*what == NotifyEvent::kFinished) n.outcome = e.kind == "policy_refused" ? "refused" : e.kind.substr(8);
  n.reason = e.message;
  n.actor = e.actor;
  n.at_ms = e.at_ms;
  return n;
}

std::string jsonBody(const Notification& n) {
  nlohmann::json doc{{"id", n.id},         {"kind", toString(n.what)},
                     {"event", n.event},   {"rollout", n.rollout},
                     {"app", n.app},       {"version", n.version},
                     {"reason", n.reason}, {"time", common::formatRfc3339(common::fromUnixMillis(n.at_ms))},
                     {"at_ms", n.at_ms}};
  doc["wave"] = n.wave >= 0 ? nlohmann::json(n.wave) : nlohmann::json(nullptr);
  doc["outcome"] = n.outcome.empty() ? nlohmann::json(nullptr) : nlohmann::json(n.outcome);
  doc["operator"] = n.actor.empty() ? nlohmann::json(nullptr) : nlohmann::json(n.actor);
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string slackBody(const Notification& n) {
  std::string text = "Flotilla: " + slackEscape(headline(n));
  if (!n.reason.empty()) text += "\n" + slackEscape(n.reason);
  nlohmann::json doc{
      {"text", text},
      {"blocks", nlohmann::json::array({{{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", text}}}}})}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string notificationBody(const Notification& n, NotifyFormat format) {
  return format == NotifyFormat::kSlack ? slackBody(n) : jsonBody(n);
}

std::string notificationSignature(std::string_view secret, std::string_view timestamp, std::string_view event_id,
                                  std::string_view body) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  auto update = [&](std::string_view part) {
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  };
  update(timestamp);
  update(".");
  update(event_id);
  update(".");
  update(body);
  std::array<std::uint8_t, crypto_auth_hmacsha256_BYTES> mac{};
  crypto_auth_hmacsha256_final(&st, mac.data());
  return "sha256=" + common::toHex(mac);
}

}  // namespace flotilla::coordinator
