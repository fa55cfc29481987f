#include "flotilla/coordinator/flag_plan.h"

#include <catch2/catch.hpp>

#include "flotilla/coordinator/flag_kill.h"
#include "flotilla/flags/flag_set.h"
#include "rollout_drive.h"

using namespace flotilla::coordinator;

namespace {

const std::string kAppPlan = R"(app = "web"
version = "7"
[artifact]
file = "web.tar.gz"
signature = "web.tar.gz.sig"
[change]
commit = "abc123"
[target]
labels = {role = "web"}
[waves]
sizes = [1, "50%", "100%"]
max_parallel = 3
max_failed = 1
bake = "10m"
on_failure = "pause"
[deploy]
before_switch = [["./bin/migrate"]]
restart = ["./bin/restart"]
[health]
interval = "250ms"
healthy_for = "2s"
deadline = "10s"
[[health.check]]
exec = ["./bin/selfcheck"]
)";

const std::string kSet = R"({
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "$evaluators": {"b": {"$ref": "a"}, "a": {"==": [{"var": "plan"}, "pro"]}},
  "flags": {
    "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
                     "targeting": {"if": [{"$ref": "b"}, "on", "off"]}},
    "banner": {"state": "ENABLED", "variants": {"shown": true, "hidden": false}, "defaultVariant": "shown"},
    "colour": {"state": "ENABLED", "variants": {"red": "r", "blue": "b"}, "defaultVariant": "red"}
  }
})";

FlagSetRelease release() {
  auto set = checkFlagSet(kSet, "flags.json");
  REQUIRE(set.ok());
  return *set;
}

}  // namespace

TEST_CASE("flag plan: a flag set is versioned by its digest", "[coordinator][flags]") {
  auto a = checkFlagSet(kSet, "flags.json");
  auto b = checkFlagSet(kSet, "other.json");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->version == b->version);
  CHECK(a->version == "f-" + a->digest.substr(0, 16));
  CHECK(a->text == kSet);
  auto c = checkFlagSet(kSet + " ", "flags.json");
  REQUIRE(c.ok());
  CHECK(c->version != a->version);
}

TEST_CASE("flag plan: an invalid flag set is refused naming the file, the flag and the key", "[coordinator][flags]") {
  auto bad = checkFlagSet(
      R"({"flags": {"x": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "maybe"}}})", "flags.json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::kInvalidArgument);
  CHECK(bad.error().message.find("flags.json") != std::string::npos);
  CHECK(bad.error().message.find("flags.x.defaultVariant") != std::string::npos);
  CHECK_FALSE(checkFlagSet("not json", "f.json").ok());
  CHECK_FALSE(checkFlagSet(std::string(kMaxFlagSetBytes + 1, ' '), "f.json").ok());
}

TEST_CASE("flag plan: a push keeps the app's health checks and target, waves as asked, no deploy",
          "[coordinator][flags]") {
  auto plan = flagPushPlan("web", kAppPlan, release(), FlagWaves{{"1", "25%", "100%"}, "30s"}, "flags.json");
  REQUIRE(plan.ok());
  const auto& p = plan->plan;
  CHECK(p.app == "flags:web");
  CHECK(p.version == release().version);
  CHECK(p.target_labels == std::map<std::string, std::string>{{"role", "web"}});
  REQUIRE(p.health.checks.size() == 1);
  CHECK(p.health.checks[0].argv == std::vector<std::string>{"./bin/selfcheck"});
  CHECK(p.health.healthy_for == std::chrono::seconds(2));
  CHECK(p.deploy.before_switch.empty());
  CHECK(p.deploy.restart.empty());
  CHECK_FALSE(p.change.has_value());
  CHECK_FALSE(p.analysis.has_value());
  CHECK(p.artifact_signature.empty());
  REQUIRE(p.waves.sizes.size() == 3);
  CHECK(p.waves.sizes[0].toString() == "1");
  CHECK(p.waves.sizes[1].toString() == "25%");
  CHECK(p.waves.bake == std::chrono::seconds(30));
  CHECK(p.waves.max_parallel == 3);
  CHECK(p.waves.on_failure == flotilla::protocol::OnFailure::kRollback);
  CHECK(plan->plan_name == "flag push flags.json");
  // What a restarted coordinator reads back is the same plan.
  auto again = flotilla::protocol::parsePlan(plan->plan_text, plan->plan_name, "");
  REQUIRE(again.ok());
  CHECK(again->app == "flags:web");
  CHECK(again->waves.sizes.size() == 3);
}

TEST_CASE("flag plan: a push is judged by the app's analysis, a kill is not", "[coordinator][flags]") {
  const std::string analysed = kAppPlan + R"(
[analysis]
interval = "1s"
min_samples = 5
[[analysis.metric]]
name = "error_ratio"
scrape = "http://127.0.0.1:${PORT}/metrics"
rate = 'http_requests_total{code=~"5.."}'
per = 'http_requests_total'
tolerance = "25%"
critical = true
)";
  auto push = flagPushPlan("web", analysed, release(), FlagWaves{}, "flags.json");
  REQUIRE(push.ok());
  REQUIRE(push->plan.analysis.has_value());
  REQUIRE(push->plan.analysis->metrics.size() == 1);
  CHECK(push->plan.analysis->metrics[0].name == "error_ratio");
  CHECK(push->plan.analysis->min_samples == 5);
  // A restarted coordinator reads the same analysis back from the stored plan.
  auto again = flotilla::protocol::parsePlan(push->plan_text, push->plan_name, "");
  REQUIRE(again.ok());
  CHECK(again->analysis.has_value());

  auto kill = flagKillPlan("web", analysed, release(), 4, "new-checkout");
  REQUIRE(kill.ok());
  CHECK_FALSE(kill->plan.analysis.has_value());
}

TEST_CASE("flag plan: a push defaults to a canary of one host, then everyone, no bake", "[coordinator][flags]") {
  auto plan = flagPushPlan("web", kAppPlan, release(), FlagWaves{}, "flags.json");
  REQUIRE(plan.ok());
  REQUIRE(plan->plan.waves.sizes.size() == 2);
  CHECK(plan->plan.waves.sizes[0].toString() == "1");
  CHECK(plan->plan.waves.sizes[1].toString() == "100%");
  CHECK(plan->plan.waves.bake == std::chrono::milliseconds(0));
}

TEST_CASE("flag plan: bad waves are refused with the plan's own error", "[coordinator][flags]") {
  auto plan = flagPushPlan("web", kAppPlan, release(), FlagWaves{{"50%", "10%"}, ""}, "flags.json");
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().message.find("waves.sizes") != std::string::npos);
  CHECK_FALSE(flagPushPlan("web", kAppPlan, release(), FlagWaves{{"many"}, ""}, "flags.json").ok());
  CHECK_FALSE(flagPushPlan("web", kAppPlan, release(), FlagWaves{{}, "soon"}, "flags.json").ok());
}

TEST_CASE("flag plan: a kill is one wave of every host, no bake, no checks, unplanned", "[coordinator][flags]") {
  auto plan = flagKillPlan("web", kAppPlan, release(), 40, "new-checkout");
  REQUIRE(plan.ok());
  const auto& p = plan->plan;
  CHECK(p.app == "flags:web");
  REQUIRE(p.waves.sizes.size() == 1);
  CHECK(p.waves.sizes[0].toString() == "100%");
  CHECK(p.waves.max_parallel == 40);
  CHECK(p.waves.bake == std::chrono::milliseconds(0));
  CHECK(p.health.checks.empty());
  CHECK(p.health.healthy_for == std::chrono::milliseconds(0));
  CHECK(p.target_labels == std::map<std::string, std::string>{{"role", "web"}});
  REQUIRE(p.change.has_value());
  CHECK(p.change->unplanned);
  CHECK(plan->plan_name == std::string(kFlagKillPlanPrefix) + "new-checkout");
}

TEST_CASE("flag plan: a kill is never rolled back by a host that fails or cannot be reached", "[coordinator][flags]") {
  // The app's plan allows one failure and rolls back; a kill must not undo
  // itself on every host because one of a thousand is down or full.
  auto plan = flagKillPlan("web", kAppPlan, release(), 4, "new-checkout");
  REQUIRE(plan.ok());
  CHECK(plan->plan.waves.on_failure != OnFailure::kRollback);
  rollout_drive::Drive d(plan->plan.waves, 4);
  d.start();
  REQUIRE(d.deploys().size() == 4);
  d.phase("h0", Phase::kFailed);
  d.lost("h1");
  d.healthy("h2");
  d.healthy("h3");
  d.tick();
  CHECK(d.rollout.finished());
  CHECK(d.rollout.state() == RolloutState::kSucceeded);
  CHECK(d.hostState("h2") == HostState::kHealthy);
  CHECK_FALSE(d.hasEvent("wave_failed"));
}

TEST_CASE("flag kill: targeting removed, default the off variant, metadata says who", "[coordinator][flags]") {
  auto killed = killFlag(kSet, "new-checkout", "", "user:ann", 1'700'000'000'000);
  REQUIRE(killed.ok());
  CHECK(killed->off_variant == "off");
  auto set = flotilla::flags::FlagSet::parse(killed->text);
  REQUIRE(set.ok());
  const auto* f = set->find("new-checkout");
  REQUIRE(f);
  CHECK_FALSE(f->targeting.has_value());
  CHECK(f->defaultVariant == "off");
  CHECK(f->metadata["killedBy"] == "user:ann");
  CHECK(f->metadata["killedAt"] == "2023-11-14T22:13:20Z");
  // The other flags and the evaluators (in their order: b uses a, listed after it) are kept.
  CHECK(set->find("banner")->defaultVariant == "shown");
  CHECK(killed->text.find("\"b\"") < killed->text.find("\"a\""));
}

TEST_CASE("flag kill: a boolean flag without an \"off\" variant goes to its false one", "[coordinator][flags]") {
  auto killed = killFlag(kSet, "banner", "", "ops", 0);
  REQUIRE(killed.ok());
  CHECK(killed->off_variant == "hidden");
}

TEST_CASE("flag kill: a flag whose off variant cannot be told needs --variant", "[coordinator][flags]") {
  auto unnamed = killFlag(kSet, "colour", "", "ops", 0);
  REQUIRE_FALSE(unnamed.ok());
  CHECK(unnamed.error().code == Errc::kInvalidArgument);
  CHECK(unnamed.error().message.find("--variant") != std::string::npos);
  auto named = killFlag(kSet, "colour", "blue", "ops", 0);
  REQUIRE(named.ok());
  CHECK(named->off_variant == "blue");
  auto wrong = killFlag(kSet, "colour", "green", "ops", 0);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code == Errc::kInvalidArgument);
}

TEST_CASE("flag kill: a disabled flag is enabled at its off variant, not left to the caller's default",
          "[coordinator][flags]") {
  const std::string disabled = R"({"flags": {"beta": {"state": "DISABLED", "variants": {"on": true, "off": false},
                                                      "defaultVariant": "on"}}})";
  auto killed = killFlag(disabled, "beta", "", "ops", 0);
  REQUIRE(killed.ok());
  auto set = flotilla::flags::FlagSet::parse(killed->text);
  REQUIRE(set.ok());
  CHECK(set->find("beta")->defaultVariant == "off");
  CHECK(set->find("beta")->state == flotilla::flags::FlagState::kEnabled);
}

TEST_CASE("flag kill: an unknown flag is not found", "[coordinator][flags]") {
  auto killed = killFlag(kSet, "nope", "", "ops", 0);
  REQUIRE_FALSE(killed.ok());
  CHECK(killed.error().code == Errc::kNotFound);
  CHECK(killed.error().message.find("nope") != std::string::npos);
  CHECK(killFlag("[]", "x", "", "ops", 0).error().code == Errc::kCorrupt);
}
