// What a webhook receives: which events are sent, the JSON and Slack bodies,
// and the signature over known bytes.
#include "flotilla/coordinator/notify_message.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "flotilla/common/crypto.h"

using namespace flotilla;
using namespace flotilla::coordinator;

namespace {

RolloutRecord webRollout() {
  RolloutRecord r;
  r.id = "web-3";
  r.app = "web";
  r.version = "1.4.2";
  return r;
}

EventRecord event(std::int64_t seq, const std::string& kind, int wave = -1, const std::string& message = "",
                  const std::string& actor = "") {
  EventRecord e;
  e.seq = seq;
  e.rollout_id = "web-3";
  e.at_ms = 1764547200123;  // 2025-12-01T00:00:00.123Z
  e.kind = kind;
  e.wave = wave;
  e.message = message;
  e.actor = actor;
  return e;
}

}  // namespace

TEST_CASE("notify: event-log kinds map onto the events a target asks for", "[coordinator][notify]") {
  CHECK(notifyEventOf("submitted") == NotifyEvent::kSubmitted);
  CHECK(notifyEventOf("wave_succeeded") == NotifyEvent::kWaveSucceeded);
  CHECK(notifyEventOf("wave_failed") == NotifyEvent::kWaveFailed);
  CHECK(notifyEventOf("rollout_paused") == NotifyEvent::kPaused);
  for (const char* kind :
       {"rollout_succeeded", "rollout_failed", "rollout_rolled_back", "rollout_aborted", "policy_refused"})
    CHECK(notifyEventOf(kind) == NotifyEvent::kFinished);
  for (const char* kind : {"wave_started", "host_healthy", "order_sent", "operator_pause", "approved"})
    CHECK_FALSE(notifyEventOf(kind).has_value());
  CHECK_FALSE(makeNotification(event(1, "host_failed"), webRollout()).has_value());
}

TEST_CASE("notify: the JSON body carries the event, the rollout and its outcome", "[coordinator][notify]") {
  auto n = makeNotification(event(57, "rollout_rolled_back", -1, "every moved host is back"), webRollout());
  REQUIRE(n);
  const auto doc = nlohmann::json::parse(jsonBody(*n));
  CHECK(doc["id"] == "57");
  CHECK(doc["kind"] == "finished");
  CHECK(doc["event"] == "rollout_rolled_back");
  CHECK(doc["rollout"] == "web-3");
  CHECK(doc["app"] == "web");
  CHECK(doc["version"] == "1.4.2");
  CHECK(doc["outcome"] == "rolled_back");
  CHECK(doc["reason"] == "every moved host is back");
  CHECK(doc["wave"].is_null());
  CHECK(doc["operator"].is_null());
  CHECK(doc["time"] == "2025-12-01T00:00:00Z");
  CHECK(doc["at_ms"] == 1764547200123);

  auto wave = makeNotification(event(58, "wave_failed", 1, "2 failed"), webRollout());
  REQUIRE(wave);
  const auto w = nlohmann::json::parse(jsonBody(*wave));
  CHECK(w["kind"] == "wave_failed");
  CHECK(w["wave"] == 1);
  CHECK(w["outcome"] == "failed");

  auto submitted = makeNotification(event(59, "submitted", -1, "rollout of web 1.4.2", "alice"), webRollout());
  REQUIRE(submitted);
  const auto s = nlohmann::json::parse(jsonBody(*submitted));
  CHECK(s["operator"] == "alice");
  CHECK(s["outcome"].is_null());

  auto refused = makeNotification(event(60, "policy_refused", -1, "frozen"), webRollout());
  REQUIRE(refused);
  CHECK(nlohmann::json::parse(jsonBody(*refused))["outcome"] == "refused");
}

TEST_CASE("notify: the Slack body is text Slack shows as written, with the same text in a block",
          "[coordinator][notify]") {
  auto n = makeNotification(event(58, "wave_failed", 2, "host <@here> & co failed"), webRollout());
  REQUIRE(n);
  const auto doc = nlohmann::json::parse(notificationBody(*n, NotifyFormat::kSlack));
  const std::string text = doc["text"];
  CHECK(text == "Flotilla: web 1.4.2 (rollout web-3): wave 2 failed\nhost &lt;@here&gt; &amp; co failed");
  REQUIRE(doc["blocks"].size() == 1);
  CHECK(doc["blocks"][0]["type"] == "section");
  CHECK(doc["blocks"][0]["text"]["type"] == "mrkdwn");
  CHECK(doc["blocks"][0]["text"]["text"] == text);
  auto finished = makeNotification(event(59, "rollout_succeeded", -1, "all 3 waves succeeded"), webRollout());
  REQUIRE(finished);
  CHECK(nlohmann::json::parse(slackBody(*finished))["text"] ==
        "Flotilla: web 1.4.2 (rollout web-3) finished: succeeded\nall 3 waves succeeded");
}

TEST_CASE("notify: the signature is HMAC-SHA256 of timestamp, event id and body", "[coordinator][notify]") {
  REQUIRE(common::initCrypto().ok());
  // python3: hmac.new(b"0123456789abcdef-secret", b'1700000000.42.{"a":1}', hashlib.sha256).hexdigest()
  CHECK(notificationSignature("0123456789abcdef-secret", "1700000000", "42", R"({"a":1})") ==
        "sha256=6856610170b64e0b508e68c9c98600556c825bb9cadea19960b6ea1bddeca5ca");
  CHECK(notificationSignature("0123456789abcdef-secret", "1700000001", "42", R"({"a":1})") !=
        notificationSignature("0123456789abcdef-secret", "1700000000", "42", R"({"a":1})"));
}
