// [[policy.alarm]]: what one poll's answer asks for (firing, quiet, unreadable),
// which rollouts an alarm covers, and the configuration with its mistakes
// naming file, line, key and problem.
#include <catch2/catch.hpp>
#include <string>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/alarm_policy.h"
#include "flotilla/coordinator/config.h"
#include "flotilla/coordinator/prometheus_source.h"
#include "policy_config_fixture.h"
#include "support/temp_dir.h"

using namespace flotilla;
using coordinator::AlarmAction;
using coordinator::AlarmPolicy;
using coordinator::AlarmReading;
using coordinator::decideAlarm;
using policy_config_fixture::configError;
using policy_config_fixture::configWithPolicy;

namespace {

AlarmPolicy pageAlarm() {
  AlarmPolicy a;
  a.name = "page-alerts";
  a.prometheus = "http://127.0.0.1:9090";
  a.query = R"(ALERTS{alertstate="firing",severity="page"})";
  return a;
}

// The reading the alarm watch makes of a Prometheus reply body.
AlarmReading readingOf(const std::string& body) {
  auto v = coordinator::parseQueryReply(body);
  if (v) return {true, false, *v, ""};
  return {false, v.error().code == Errc::kNotFound, 0, v.error().message};
}

constexpr const char* kTwoFiring = R"({"status":"success","data":{"resultType":"vector","result":[)"
                                   R"({"metric":{"alertname":"Page"},"value":[1700000000,"1"]},)"
                                   R"({"metric":{"alertname":"Disk"},"value":[1700000000,"1"]}]}})";
constexpr const char* kNoSeries = R"({"status":"success","data":{"resultType":"vector","result":[]}})";

}  // namespace

TEST_CASE("alarm: firing series roll back, or pause with on_fire = pause", "[coordinator][policy][alarm]") {
  auto a = pageAlarm();
  auto d = decideAlarm(a, readingOf(kTwoFiring));
  CHECK(d.action == AlarmAction::kRollback);
  CHECK(d.why == "alarm page-alerts fired: query value 2; rolling back");
  a.on_fire = coordinator::AlarmFireAction::kPause;
  d = decideAlarm(a, readingOf(kTwoFiring));
  CHECK(d.action == AlarmAction::kPause);
  CHECK(d.why == "alarm page-alerts fired: query value 2; pausing");
}

TEST_CASE("alarm: a scalar other than 0 fires, 0 and no series are quiet", "[coordinator][policy][alarm]") {
  const auto a = pageAlarm();
  CHECK(decideAlarm(a, readingOf(R"({"status":"success","data":{"resultType":"scalar","result":[1,"3"]}})")).action ==
        AlarmAction::kRollback);
  CHECK(decideAlarm(a, readingOf(R"({"status":"success","data":{"resultType":"scalar","result":[1,"0"]}})")).action ==
        AlarmAction::kNone);
  CHECK(decideAlarm(a, readingOf(kNoSeries)).action == AlarmAction::kNone);
  CHECK(decideAlarm(a, readingOf(R"({"status":"success","data":{"resultType":"vector","result":[)"
                                 R"({"metric":{},"value":[1,"0"]}]}})"))
            .action == AlarmAction::kNone);
}

TEST_CASE("alarm: an unreadable source pauses, or is only logged with on_error = ignore",
          "[coordinator][policy][alarm]") {
  auto a = pageAlarm();
  for (const AlarmReading& r :
       {readingOf("<html>bad gateway</html>"), readingOf(R"({"status":"error","error":"parse error"})"),
        AlarmReading{false, false, 0, "Connection"}}) {
    auto d = decideAlarm(a, r);
    CHECK(d.action == AlarmAction::kPause);
    CHECK(d.why.find("alarm page-alerts cannot be read from http://127.0.0.1:9090 (") == 0);
    CHECK(d.why.find("; pausing") != std::string::npos);
  }
  a.on_error = coordinator::AlarmErrorAction::kIgnore;
  auto d = decideAlarm(a, AlarmReading{false, false, 0, "Connection"});
  CHECK(d.action == AlarmAction::kLogOnly);
  CHECK(d.why ==
        "alarm page-alerts cannot be read from http://127.0.0.1:9090 (Connection); ignored (on_error = "
        "\"ignore\")");
}

TEST_CASE("alarm: covers rollouts by app and target labels", "[coordinator][policy][alarm]") {
  auto a = pageAlarm();
  protocol::Plan plan;
  plan.app = "web";
  plan.target_labels = {{"env", "prod"}, {"region", "eu"}};
  CHECK(coordinator::alarmCovers(a, plan));
  a.apps = {"api"};
  CHECK_FALSE(coordinator::alarmCovers(a, plan));
  a.apps = {"api", "web"};
  a.labels = {{"env", "prod"}};
  CHECK(coordinator::alarmCovers(a, plan));
  a.labels = {{"env", "staging"}};
  CHECK_FALSE(coordinator::alarmCovers(a, plan));
}

TEST_CASE("alarm config: keys, defaults and scoping", "[coordinator][config][policy][alarm]") {
  testing::TempDir tmp;
  auto c = coordinator::loadCoordinatorConfig(configWithPolicy(tmp, R"(
[[policy.alarm]]
prometheus = "http://127.0.0.1:9090"
query      = 'ALERTS{alertstate="firing",severity="page"}'

[[policy.alarm]]
name       = "errors"
prometheus = "http://prom:9090/prefix"
query      = "sum(rate(errors[1m])) > 5"
on_fire    = "pause"
on_error   = "ignore"
interval   = "30s"
apps       = ["web"]
labels     = { env = "prod" }
)"));
  REQUIRE(c.ok());
  REQUIRE(c->policy.alarms.size() == 2);
  const auto& first = c->policy.alarms[0];
  CHECK(first.name == "alarm 1");
  CHECK(first.query == R"(ALERTS{alertstate="firing",severity="page"})");
  CHECK(first.on_fire == coordinator::AlarmFireAction::kRollback);
  CHECK(first.on_error == coordinator::AlarmErrorAction::kPause);
  CHECK(first.interval == std::chrono::seconds(10));
  CHECK(first.apps.empty());
  const auto& second = c->policy.alarms[1];
  CHECK(second.name == "errors");
  CHECK(second.prometheus == "http://prom:9090/prefix");
  CHECK(second.on_fire == coordinator::AlarmFireAction::kPause);
  CHECK(second.on_error == coordinator::AlarmErrorAction::kIgnore);
  CHECK(second.interval == std::chrono::seconds(30));
  CHECK(second.apps == std::vector<std::string>{"web"});
  CHECK(second.labels.at("env") == "prod");
}

TEST_CASE("alarm config: a mistake names file, line, key and problem", "[coordinator][config][policy][alarm]") {
  struct Case {
    std::string toml;
    std::string expected;
  };
  const std::string ok_head = "[[policy.alarm]]\nprometheus = \"http://p:9090\"\nquery = \"up\"\n";
  const std::vector<Case> cases = {
      {"[[policy.alarm]]\nquery = \"up\"\n", "policy.alarm[0].prometheus: missing"},
      {"[[policy.alarm]]\nprometheus = \"http://p:9090\"\n", "policy.alarm[0].query: missing"},
      {"[[policy.alarm]]\nprometheus = \"p:9090\"\nquery = \"up\"\n",
       "policy.alarm[0].prometheus: expected an http://"},
      {ok_head + "on_fire = \"abort\"\n", "policy.alarm[0].on_fire: expected \"rollback\" or \"pause\", got \"abort\""},
      {ok_head + "on_error = \"rollback\"\n",
       "policy.alarm[0].on_error: expected \"pause\" or \"ignore\", got \"rollback\""},
      {ok_head + "interval = \"soon\"\n", "policy.alarm[0].interval: expected a duration of at least 1s"},
      {ok_head + "interval = \"100ms\"\n", "policy.alarm[0].interval: expected a duration of at least 1s"},
      {ok_head + "severity = \"page\"\n", "policy.alarm[0].severity: unknown key"},
      {ok_head + "labels = [\"prod\"]\n", "policy.alarm[0].labels: expected a table of strings"},
      {ok_head + "name = \"a\"\n" + ok_head + "name = \"a\"\n", "policy.alarm[1].name: alarm \"a\" appears twice"},
      {"[policy.alarm]\nquery = \"up\"\n", "policy.alarm: expected an array of tables"},
  };
  for (const auto& k : cases) {
    testing::TempDir tmp;
    const auto file = configWithPolicy(tmp, k.toml);
    const std::string message = configError(file);
    INFO(k.toml);
    CHECK(message.find(file.string() + ":") == 0);
    CHECK(message.find(k.expected) != std::string::npos);
  }
}
