// coordinator.toml's [[notify]] tables: what loads, and every error naming
// file:line:column and the key.
#include <catch2/catch.hpp>

#include "policy_config_fixture.h"

using namespace flotilla;
using policy_config_fixture::configError;
using policy_config_fixture::configWithPolicy;

TEST_CASE("notify config: targets load with their events, apps, format, secret and limits", "[coordinator][notify]") {
  testing::TempDir tmp("notify-config");
  const auto file = configWithPolicy(tmp, R"(
[[notify]]
url = "https://hooks.example.com/services/T0/B0/SECRET"
events = ["submitted", "finished"]

[[notify]]
name = "ops-receiver"
url = "http://127.0.0.1:9000/flotilla"
events = ["wave_succeeded", "wave_failed", "paused"]
apps = ["web", "api"]
format = "slack"
secret_file = "notify.secret"
timeout = "3s"
queue = 50
)");
  REQUIRE(common::atomicWriteFile(file.parent_path() / "notify.secret", "0123456789abcdef-secret\n", 0600).ok());
  auto c = coordinator::loadCoordinatorConfig(file);
  INFO((c.ok() ? "" : c.error().message));
  REQUIRE(c.ok());
  REQUIRE(c->notify.size() == 2);
  const auto& slackish = c->notify[0];
  CHECK(slackish.name == "hooks.example.com");  // the host only: the path holds Slack's token
  CHECK(slackish.events == std::set{coordinator::NotifyEvent::kSubmitted, coordinator::NotifyEvent::kFinished});
  CHECK(slackish.apps.empty());
  CHECK(slackish.format == coordinator::NotifyFormat::kJson);
  CHECK(slackish.secret.empty());
  CHECK(slackish.queue == 1000);
  const auto& ops = c->notify[1];
  CHECK(ops.name == "ops-receiver");
  CHECK(ops.events.size() == 3);
  CHECK(ops.apps == std::set<std::string>{"api", "web"});
  CHECK(ops.format == coordinator::NotifyFormat::kSlack);
  CHECK(ops.secret == "0123456789abcdef-secret");
  CHECK(ops.timeout == std::chrono::seconds(3));
  CHECK(ops.queue == 50);
}

TEST_CASE("notify config: an unknown event name is refused with file, line, column and key", "[coordinator][notify]") {
  testing::TempDir tmp("notify-config");
  const auto file =
      configWithPolicy(tmp, "[[notify]]\nurl = \"http://127.0.0.1:1/\"\nevents = [\"submitted\", \"deployed\"]\n");
  const auto msg = configError(file);
  CHECK(msg.find(file.string() + ":") == 0);
  CHECK(msg.find("notify[0].events[1]: unknown event 'deployed' (known: submitted, wave_succeeded, wave_failed, "
                 "paused, finished)") != std::string::npos);
}

TEST_CASE("notify config: each malformed key is refused by name", "[coordinator][notify]") {
  struct Case {
    std::string toml, expected;
  };
  const std::vector<Case> cases{
      {"url = \"ftp://example.com/\"\nevents = [\"submitted\"]", "notify[0].url: expected an http:// or https:// URL"},
      {"url = \"http:///path\"\nevents = [\"submitted\"]", "notify[0].url: expected an http:// or https:// URL"},
      {"events = [\"submitted\"]", "notify[0].url: missing"},
      {"url = \"http://h/\"", "notify[0].events: missing"},
      {"url = \"http://h/\"\nevents = []", "notify[0].events: is empty"},
      {"url = \"http://h/\"\nevents = \"submitted\"", "notify[0].events: expected an array of strings"},
      {"url = \"http://h/\"\nevents = [\"submitted\"]\nformat = \"teams\"",
       "notify[0].format: expected \"json\" or \"slack\""},
      {"url = \"http://h/\"\nevents = [\"submitted\"]\napps = [\"\"]",
       "notify[0].apps[0]: expected a non-empty string"},
      {"url = \"http://h/\"\nevents = [\"submitted\"]\nsecret_file = \"missing.secret\"", "notify[0].secret_file: "},
      {"url = \"http://h/\"\nevents = [\"submitted\"]\ntimeout = \"soon\"",
       "notify[0].timeout: expected a positive duration"},
      {"url = \"http://h/\"\nevents = [\"submitted\"]\nqueue = 0", "notify[0].queue: expected a number of events"},
      {"url = \"http://h/\"\nevents = [\"submitted\"]\nname = \"a b\"", "notify[0].name: expected 1 to 64 letters"},
      {"url = \"http://h/\"\nevents = [\"submitted\"]\nretries = 3", "notify[0].retries: unknown key"},
      {"url = \"http://h/a\"\nevents = [\"submitted\"]\n[[notify]]\nurl = \"http://h/b\"\nevents = [\"finished\"]",
       "notify[1].name: 'h' is also the name of notify[0]"},
  };
  for (const auto& c : cases) {
    testing::TempDir tmp("notify-config");
    const auto file = configWithPolicy(tmp, "[[notify]]\n" + c.toml + "\n");
    const auto msg = configError(file, std::nullopt);
    INFO(c.toml << "\n-> " << msg);
    CHECK(msg.find(c.expected) != std::string::npos);
    CHECK(msg.find(file.string() + ":") == 0);
  }
}

TEST_CASE("notify config: a short secret is refused", "[coordinator][notify]") {
  testing::TempDir tmp("notify-config");
  const auto file =
      configWithPolicy(tmp, "[[notify]]\nurl = \"http://h/\"\nevents = [\"submitted\"]\nsecret_file = \"s\"\n");
  REQUIRE(common::atomicWriteFile(file.parent_path() / "s", "short\n", 0600).ok());
  CHECK(configError(file).find("notify[0].secret_file: " + (file.parent_path() / "s").string() +
                               " holds fewer than 16 bytes") != std::string::npos);
}

TEST_CASE("notify config: a secret file others can read is refused", "[coordinator][notify]") {
  testing::TempDir tmp("notify-config");
  const auto file =
      configWithPolicy(tmp, "[[notify]]\nurl = \"http://h/\"\nevents = [\"submitted\"]\nsecret_file = \"s\"\n");
  REQUIRE(common::atomicWriteFile(file.parent_path() / "s", "0123456789abcdef-secret\n", 0644).ok());
  const auto msg = configError(file);
  CHECK(msg.find("notify[0].secret_file: ") != std::string::npos);
  CHECK(msg.find("permissions 0644 are too open") != std::string::npos);
}

TEST_CASE("notify config: notify that is not an array of tables is refused", "[coordinator][notify]") {
  testing::TempDir tmp("notify-config");
  const auto file = configWithPolicy(tmp, "[notify]\nurl = \"http://h/\"\n");
  CHECK(configError(file).find("notify: expected [[notify]] tables") != std::string::npos);
}
