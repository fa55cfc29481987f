#include "flotilla/protocol/plan.h"

#include <catch2/catch.hpp>

#include "support/temp_dir.h"

using namespace std::chrono_literals;
using flotilla::Errc;
using flotilla::protocol::Amount;
using flotilla::protocol::Approval;
using flotilla::protocol::HealthCheck;
using flotilla::protocol::OnFailure;
using flotilla::protocol::parsePlan;
using flotilla::protocol::parsePlanFile;
using flotilla::protocol::Plan;
using flotilla::protocol::validAppName;
using flotilla::protocol::validVersion;
using flotilla::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// The example plan of DESIGN.md section 2.
constexpr const char* kDesignExample = R"(app     = "web"
version = "2.4.1"

[change]                       # optional; feeds lead time for changes
commit       = "9f2c1ab"
committed_at = 2026-11-26T09:12:00Z

[artifact]
file = "web-2.4.1.tar.gz"      # relative to the plan; stored by the coordinator under its digest

[target]
labels = { role = "web" }      # every accepted agent whose labels match

[waves]
sizes           = [1, "10%", "50%", "100%"]  # cumulative share of the target reached by each wave
max_parallel    = 10           # hosts deploying at once inside a wave
max_failed      = 0            # hosts that may fail per wave (count or "5%") before the rollout fails
max_unreachable = 0            # hosts that may be unreachable per wave, counted apart from failures
bake            = "30s"        # the whole wave stays healthy this long before the next wave starts
approval        = "auto"       # "manual": wait for `flotilla promote` before each next wave
on_failure      = "rollback"   # "rollback" the hosts already moved | "pause" | "halt"
deadline        = "10m"        # a wave not finished by then fails (never hangs)

[deploy]                       # run in the new release directory as the agent's run_as user
before_switch = [["./bin/migrate", "--check"]]
restart       = ["systemctl", "restart", "web"]

[health]
interval    = "1s"
healthy_for = "10s"            # checks pass continuously this long => host healthy
deadline    = "60s"            # not healthy by then => the host reverts itself

[[health.check]]
http = "http://127.0.0.1:8080/healthz"   # any 2xx passes
timeout = "2s"
[[health.check]]
tcp = "127.0.0.1:8080"
[[health.check]]
exec = ["./bin/selfcheck"]
)";

// The smallest valid plan: four lines at the root table; tests append to it
// from line 5 on.
const std::string kMinimal = R"(app = "web"
version = "1.0"
artifact.file = "web.tar.gz"
# tables and keys of each test follow
)";

Plan planOf(std::string_view text) {
  auto r = parsePlan(text, "p.toml", "/plans");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

std::string errorOf(std::string_view text) {
  auto r = parsePlan(text, "p.toml", "/plans");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kInvalidArgument);
  return r.error().message;
}

const flotilla::common::SysTime kCommittedAt = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26} + 9h + 12min;

}  // namespace

TEST_CASE("the DESIGN.md example plan parses with every field", "[protocol][plan]") {
  Plan plan = planOf(kDesignExample);
  CHECK(plan.app == "web");
  CHECK(plan.version == "2.4.1");

  REQUIRE(plan.change.has_value());
  CHECK(plan.change->commit == "9f2c1ab");
  REQUIRE(plan.change->committed_at.has_value());
  CHECK(*plan.change->committed_at == kCommittedAt);

  CHECK(plan.artifact_file == fs::path("/plans/web-2.4.1.tar.gz"));
  CHECK(plan.target_labels == std::map<std::string, std::string>{{"role", "web"}});

  const auto& waves = plan.waves;
  REQUIRE(waves.sizes.size() == 4);
  CHECK_FALSE(waves.sizes[0].percent);
  CHECK(waves.sizes[0].value == 1);
  CHECK(waves.sizes[1].percent);
  CHECK(waves.sizes[1].value == 10);
  CHECK(waves.sizes[2].percent);
  CHECK(waves.sizes[2].value == 50);
  CHECK(waves.sizes[3].percent);
  CHECK(waves.sizes[3].value == 100);
  CHECK(waves.max_parallel == 10);
  CHECK_FALSE(waves.max_failed.percent);
  CHECK(waves.max_failed.value == 0);
  CHECK_FALSE(waves.max_unreachable.percent);
  CHECK(waves.max_unreachable.value == 0);
  CHECK(waves.bake == 30s);
  CHECK(waves.approval == Approval::kAuto);
  CHECK(waves.on_failure == OnFailure::kRollback);
  CHECK(waves.deadline == 10min);

  CHECK(plan.deploy.before_switch == std::vector<std::vector<std::string>>{{"./bin/migrate", "--check"}});
  CHECK(plan.deploy.restart == std::vector<std::string>{"systemctl", "restart", "web"});
  CHECK(plan.deploy.hook_timeout == 5min);

  CHECK(plan.health.interval == 1s);
  CHECK(plan.health.healthy_for == 10s);
  CHECK(plan.health.deadline == 60s);
  REQUIRE(plan.health.checks.size() == 3);
  CHECK(plan.health.checks[0].kind == HealthCheck::Kind::kHttp);
  CHECK(plan.health.checks[0].target == "http://127.0.0.1:8080/healthz");
  CHECK(plan.health.checks[0].timeout == 2s);
  CHECK(plan.health.checks[1].kind == HealthCheck::Kind::kTcp);
  CHECK(plan.health.checks[1].target == "127.0.0.1:8080");
  CHECK(plan.health.checks[1].timeout == 2s);
  CHECK(plan.health.checks[2].kind == HealthCheck::Kind::kExec);
  CHECK(plan.health.checks[2].argv == std::vector<std::string>{"./bin/selfcheck"});
}

TEST_CASE("a minimal plan gets the defaults", "[protocol][plan]") {
  Plan plan = planOf(kMinimal);
  CHECK(plan.app == "web");
  CHECK(plan.version == "1.0");
  CHECK_FALSE(plan.change.has_value());
  CHECK(plan.artifact_file == fs::path("/plans/web.tar.gz"));
  CHECK(plan.target_labels.empty());
  REQUIRE(plan.waves.sizes.size() == 1);
  CHECK(plan.waves.sizes[0].toString() == "100%");
  CHECK(plan.waves.max_parallel == 10);
  CHECK(plan.waves.max_failed.toString() == "0");
  CHECK(plan.waves.bake == 0ms);
  CHECK(plan.waves.approval == Approval::kAuto);
  CHECK(plan.waves.on_failure == OnFailure::kRollback);
  CHECK(plan.waves.deadline == 10min);
  CHECK(plan.deploy.before_switch.empty());
  CHECK(plan.deploy.restart.empty());
  CHECK(plan.health.interval == 1s);
  CHECK(plan.health.healthy_for == 10s);
  CHECK(plan.health.deadline == 60s);
  CHECK(plan.health.checks.empty());
}

TEST_CASE("optional values other than the example's are read", "[protocol][plan]") {
  Plan plan = planOf(kMinimal + R"(
[change]
committed_at = "2026-11-26T10:12:00+01:00"
[waves]
sizes = [1, 5, "25%", "25%"]
max_failed = "5%"
max_unreachable = 2
approval = "manual"
on_failure = "pause"
[deploy]
timeout = "90s"
[health]
healthy_for = "0s"
[[health.check]]
tcp = "${HOST}:${PORT}"
timeout = "500ms"
)");
  REQUIRE(plan.change.has_value());
  CHECK(plan.change->commit.empty());
  CHECK(plan.change->committed_at == kCommittedAt);
  CHECK_FALSE(plan.change->unplanned);
  REQUIRE(plan.waves.sizes.size() == 4);
  CHECK(plan.waves.sizes[1].toString() == "5");
  CHECK(plan.waves.max_failed.percent);
  CHECK(plan.waves.max_failed.value == 5);
  CHECK(plan.waves.max_unreachable.toString() == "2");
  CHECK(plan.waves.approval == Approval::kManual);
  CHECK(plan.waves.on_failure == OnFailure::kPause);
  CHECK(plan.deploy.hook_timeout == 90s);
  CHECK(plan.health.healthy_for == 0ms);
  REQUIRE(plan.health.checks.size() == 1);
  CHECK(plan.health.checks[0].target == "${HOST}:${PORT}");
  CHECK(plan.health.checks[0].timeout == 500ms);
}

TEST_CASE("change.unplanned marks a deployment made to fix production", "[protocol][plan]") {
  Plan plan = planOf(kMinimal + "[change]\nunplanned = true\n");
  REQUIRE(plan.change.has_value());
  CHECK(plan.change->unplanned);
  auto bad = flotilla::protocol::parsePlan(kMinimal + "[change]\nunplanned = \"yes\"\n", "p.toml", "");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("change.unplanned") && Catch::Contains("true or false"));
}

TEST_CASE("host variables are kept for the agent to expand", "[protocol][plan]") {
  Plan plan = planOf(kMinimal + R"(
[deploy]
restart = ["systemctl", "restart", "web@${INSTANCE}"]
[[health.check]]
http = "http://127.0.0.1:${PORT}/healthz"
)");
  CHECK(plan.deploy.restart.back() == "web@${INSTANCE}");
  CHECK(plan.health.checks[0].target == "http://127.0.0.1:${PORT}/healthz");
}

TEST_CASE("on_failure halt and absolute artifact paths", "[protocol][plan]") {
  Plan plan = planOf(R"(app = "web"
version = "1.0"
artifact.file = "/srv/web.tar.gz"
waves.on_failure = "halt"
)");
  CHECK(plan.artifact_file == fs::path("/srv/web.tar.gz"));
  CHECK(plan.waves.on_failure == OnFailure::kHalt);
}

TEST_CASE("Amount resolves against the target size", "[protocol][plan]") {
  CHECK(Amount{false, 3}.resolve(10) == 3);
  CHECK(Amount{false, 30}.resolve(10) == 10);
  CHECK(Amount{false, 0}.resolve(10) == 0);
  CHECK(Amount{false, 1e30}.resolve(10) == 10);
  CHECK(Amount{true, 1000}.resolve(10) == 10);
  CHECK(Amount{true, 10}.resolve(5) == 1);
  CHECK(Amount{true, 10}.resolve(30) == 3);
  CHECK(Amount{true, 10}.resolve(31) == 4);
  CHECK(Amount{true, 50}.resolve(7) == 4);
  CHECK(Amount{true, 100}.resolve(7) == 7);
  CHECK(Amount{true, 0}.resolve(7) == 0);
  CHECK(Amount{true, 10}.resolve(0) == 0);
  for (std::size_t total = 1; total <= 1000; ++total) {
    for (int pct : {1, 5, 10, 20, 25, 50, 100}) {
      INFO(pct << "% of " << total);
      std::size_t want = (total * pct + 99) / 100;
      CHECK(Amount{true, static_cast<double>(pct)}.resolve(total) == want);
    }
  }
}

TEST_CASE("Amount and the enums print as in TOML", "[protocol][plan]") {
  CHECK(Amount{false, 3}.toString() == "3");
  CHECK(Amount{true, 10}.toString() == "10%");
  CHECK(Amount{true, 2.5}.toString() == "2.5%");
  CHECK(std::string(toString(Approval::kAuto)) == "auto");
  CHECK(std::string(toString(Approval::kManual)) == "manual");
  CHECK(std::string(toString(OnFailure::kRollback)) == "rollback");
  CHECK(std::string(toString(OnFailure::kPause)) == "pause");
  CHECK(std::string(toString(OnFailure::kHalt)) == "halt");
}

TEST_CASE("app names and versions", "[protocol][plan]") {
  CHECK(validAppName("web"));
  CHECK(validAppName("0web.api_v2-x"));
  CHECK(validAppName(std::string(64, 'a')));
  CHECK_FALSE(validAppName(""));
  CHECK_FALSE(validAppName(std::string(65, 'a')));
  CHECK_FALSE(validAppName("Web"));
  CHECK_FALSE(validAppName(".web"));
  CHECK_FALSE(validAppName("-web"));
  CHECK_FALSE(validAppName("web/../x"));
  CHECK_FALSE(validAppName("web app"));

  CHECK(validVersion("2.4.1"));
  CHECK(validVersion("2.4.1-rc.1+build_7"));
  CHECK(validVersion("V2"));
  CHECK(validVersion(std::string(128, '1')));
  CHECK_FALSE(validVersion(""));
  CHECK_FALSE(validVersion(std::string(129, '1')));
  CHECK_FALSE(validVersion("-1"));
  CHECK_FALSE(validVersion(".1"));
  CHECK_FALSE(validVersion("1/2"));
  CHECK_FALSE(validVersion("1 2"));
}

TEST_CASE("plan error: missing app", "[protocol][plan][error]") {
  std::string msg = errorOf(R"(version = "1.0"
artifact.file = "x"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:1:1: app: "));
  CHECK_THAT(msg, Catch::Contains("missing"));
}

TEST_CASE("plan error: missing version", "[protocol][plan][error]") {
  std::string msg = errorOf(R"(app = "web"
artifact.file = "x"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:1:1: version: "));
}

TEST_CASE("plan error: bad app name", "[protocol][plan][error]") {
  std::string msg = errorOf(R"(app = "Web Site"
version = "1.0"
artifact.file = "x"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:1:7: app: "));
  CHECK_THAT(msg, Catch::Contains("\"Web Site\""));
}

TEST_CASE("plan error: bad version", "[protocol][plan][error]") {
  std::string msg = errorOf(R"(app = "web"
version = "-1"
artifact.file = "x"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:2:11: version: "));
  CHECK_THAT(msg, Catch::Contains("\"-1\""));
}

TEST_CASE("plan error: missing artifact table", "[protocol][plan][error]") {
  std::string msg = errorOf(R"(app = "web"
version = "1.0"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:1:1: artifact.file: "));
}

TEST_CASE("plan error: missing artifact.file", "[protocol][plan][error]") {
  std::string msg = errorOf(R"(app = "web"
version = "1.0"

[artifact]
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:4:1: artifact.file: "));
  CHECK_THAT(msg, Catch::Contains("missing"));
}

TEST_CASE("plan error: empty artifact.file", "[protocol][plan][error]") {
  std::string msg = errorOf(R"(app = "web"
version = "1.0"
[artifact]
file = ""
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:4:8: artifact.file: must not be empty"));
}

TEST_CASE("plan error: bad wave size element", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([waves]
sizes = [1, "ten"]
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:6:13: waves.sizes[1]: "));
  CHECK_THAT(msg, Catch::Contains("\"ten\""));
}

TEST_CASE("plan error: wave size not positive", "[protocol][plan][error]") {
  CHECK_THAT(errorOf(kMinimal + "waves.sizes = [0]\n"), Catch::StartsWith("p.toml:5:16: waves.sizes[0]: "));
  CHECK_THAT(errorOf(kMinimal + "waves.sizes = [\"0%\"]\n"), Catch::StartsWith("p.toml:5:16: waves.sizes[0]: "));
  CHECK_THAT(errorOf(kMinimal + "waves.sizes = [\"101%\"]\n"), Catch::StartsWith("p.toml:5:16: waves.sizes[0]: "));
  CHECK_THAT(errorOf(kMinimal + "waves.sizes = [1.5]\n"), Catch::Contains("got a floating-point number"));
  CHECK_THAT(errorOf(kMinimal + "waves.sizes = []\n"), Catch::StartsWith("p.toml:5:15: waves.sizes: "));
}

TEST_CASE("plan error: decreasing wave sizes", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([waves]
sizes = [1, "50%", 2, "10%"]
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:6:23: waves.sizes[3]: "));
  CHECK_THAT(msg, Catch::Contains("10% after 50%"));
  CHECK_THAT(errorOf(kMinimal + "waves.sizes = [5, \"10%\", 3]\n"), Catch::StartsWith("p.toml:5:26: waves.sizes[2]: "));
}

TEST_CASE("plan error: zero max_parallel", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([waves]
max_parallel = 0
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:6:16: waves.max_parallel: "));
  CHECK_THAT(msg, Catch::Contains("at least 1"));
}

TEST_CASE("plan error: bad failure budget", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([waves]
max_failed = "five"
)");
  CHECK(msg == "p.toml:6:14: waves.max_failed: expected a count or a percentage like \"5%\", got \"five\"");
  CHECK_THAT(errorOf(kMinimal + "waves.max_failed = \"150%\"\n"), Catch::StartsWith("p.toml:5:20: waves.max_failed: "));
  CHECK_THAT(errorOf(kMinimal + "waves.max_unreachable = -1\n"),
             Catch::StartsWith("p.toml:5:25: waves.max_unreachable: must not be negative"));
  CHECK_THAT(errorOf(kMinimal + "waves.max_failed = \"5 %\"\n"), Catch::StartsWith("p.toml:5:20: waves.max_failed: "));
}

TEST_CASE("plan error: bad duration", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([waves]
bake = "3x"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:6:8: waves.bake: "));
  CHECK_THAT(msg, Catch::Contains("unknown unit 'x'"));
  CHECK_THAT(errorOf(kMinimal + "waves.bake = 30\n"),
             Catch::Contains("waves.bake: expected a duration like \"30s\", got an integer"));
}

TEST_CASE("plan error: zero durations where time must pass", "[protocol][plan][error]") {
  CHECK_THAT(errorOf(kMinimal + "waves.deadline = \"0s\"\n"), Catch::StartsWith("p.toml:5:18: waves.deadline: "));
  CHECK_THAT(errorOf(kMinimal + "health.interval = \"0ms\"\n"), Catch::StartsWith("p.toml:5:19: health.interval: "));
  CHECK_THAT(errorOf(kMinimal + "deploy.timeout = \"0s\"\n"), Catch::StartsWith("p.toml:5:18: deploy.timeout: "));
}

TEST_CASE("plan error: health deadline shorter than healthy_for", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([health]
healthy_for = "30s"
deadline = "20s"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:7:12: health.deadline: "));
  CHECK_THAT(msg, Catch::Contains("at least health.healthy_for (30s), got 20s"));
  // Against the default deadline (60s), the position is the key that was written.
  CHECK_THAT(errorOf(kMinimal + "health.healthy_for = \"2m\"\n"), Catch::StartsWith("p.toml:5:22: health.deadline: "));
}

TEST_CASE("plan error: health check with two kinds", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"(
[[health.check]]
http = "http://127.0.0.1/"
[[health.check]]
http = "http://127.0.0.1/"
tcp = "127.0.0.1:80"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:8:1: health.check[1]: "));
  CHECK_THAT(msg, Catch::Contains("http and tcp"));
}

TEST_CASE("plan error: health check with no kind", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"(
[[health.check]]
timeout = "1s"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:6:1: health.check[0]: "));
  CHECK_THAT(msg, Catch::Contains("needs one of http, tcp or exec"));
}

TEST_CASE("plan error: bad tcp check", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([[health.check]]
tcp = "127.0.0.1:99999"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:6:7: health.check[0].tcp: "));
  CHECK_THAT(msg, Catch::Contains("port out of range"));
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\ntcp = \"localhost\"\n"),
             Catch::Contains("health.check[0].tcp: missing port"));
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\ntcp = \":80\"\n"),
             Catch::Contains("health.check[0].tcp: missing host"));
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\ntcp = \"db:0\"\n"),
             Catch::Contains("health.check[0].tcp: port out of range"));
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\ntcp = \"db:http\"\n"),
             Catch::Contains("health.check[0].tcp: bad port"));
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\ntcp = \"\"\n"),
             Catch::Contains("health.check[0].tcp: must not be empty"));
}

TEST_CASE("plan error: bad http check", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([[health.check]]
http = "ftp://127.0.0.1/"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:6:8: health.check[0].http: "));
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\nhttp = \"http://\"\n"), Catch::Contains("health.check[0].http: "));
}

TEST_CASE("plan error: bad exec check", "[protocol][plan][error]") {
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\nexec = []\n"),
             Catch::StartsWith("p.toml:6:8: health.check[0].exec: must not be empty"));
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\nexec = \"./check\"\n"),
             Catch::StartsWith("p.toml:6:8: health.check[0].exec: expected an array of strings"));
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\nexec = [\"./check\", 1]\n"),
             Catch::StartsWith("p.toml:6:20: health.check[0].exec[1]: expected a string, got an integer"));
  CHECK_THAT(errorOf(kMinimal + "health.check = [1]\n"),
             Catch::StartsWith("p.toml:5:17: health.check[0]: expected a table, got an integer"));
}

TEST_CASE("plan error: bad deploy commands", "[protocol][plan][error]") {
  CHECK_THAT(errorOf(kMinimal + "[deploy]\nbefore_switch = [[\"./a\"], []]\n"),
             Catch::StartsWith("p.toml:6:27: deploy.before_switch[1]: must not be empty"));
  CHECK_THAT(errorOf(kMinimal + "[deploy]\nbefore_switch = [\"./a\"]\n"),
             Catch::StartsWith("p.toml:6:18: deploy.before_switch[0]: expected an array of strings"));
  CHECK_THAT(errorOf(kMinimal + "[deploy]\nrestart = []\n"),
             Catch::StartsWith("p.toml:6:11: deploy.restart: must not be empty"));
  CHECK_THAT(errorOf(kMinimal + "[deploy]\nrestart = [\"\", \"x\"]\n"),
             Catch::StartsWith("p.toml:6:12: deploy.restart[0]: the command is empty"));
}

TEST_CASE("plan error: bad approval and on_failure", "[protocol][plan][error]") {
  CHECK_THAT(errorOf(kMinimal + "waves.approval = \"sometimes\"\n"),
             Catch::StartsWith("p.toml:5:18: waves.approval: expected \"auto\" or \"manual\""));
  CHECK_THAT(errorOf(kMinimal + "waves.on_failure = \"retry\"\n"),
             Catch::StartsWith("p.toml:5:20: waves.on_failure: expected \"rollback\""));
}

TEST_CASE("plan error: unknown key", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([wavez]
sizes = [1]
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:5:2: wavez: unknown key 'wavez'"));
  CHECK_THAT(msg, Catch::Contains("did you mean 'waves'"));
  CHECK_THAT(errorOf(kMinimal + "[waves]\nbakee = \"1s\"\n"),
             Catch::StartsWith("p.toml:6:1: waves.bakee: unknown key 'bakee'"));
  CHECK_THAT(errorOf(kMinimal + "[[health.check]]\nhttp = \"http://x/\"\nretries = 3\n"),
             Catch::StartsWith("p.toml:7:1: health.check[0].retries: unknown key 'retries'"));
  CHECK_THAT(errorOf(kMinimal + "zzz = 1\n"), Catch::Contains("known keys: app version"));
  // A typo of a required key is reported as the typo, not as the key missing.
  CHECK_THAT(errorOf("ap = \"web\"\nversion = \"1\"\nartifact.file = \"x\"\n"),
             Catch::StartsWith("p.toml:1:1: ap: unknown key 'ap' (did you mean 'app'?)"));
}

TEST_CASE("plan error: wrong type", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([waves]
max_parallel = "10"
)");
  CHECK(msg == "p.toml:6:16: waves.max_parallel: expected an integer, got a string");
  CHECK(errorOf("app = 1\n") == "p.toml:1:7: app: expected a string, got an integer");
  CHECK_THAT(errorOf(kMinimal + "waves = 1\n"),
             Catch::StartsWith("p.toml:5:9: waves: expected a table, got an integer"));
  CHECK_THAT(errorOf(kMinimal + "target.labels = { role = 1 }\n"),
             Catch::StartsWith("p.toml:5:26: target.labels.role: expected a string, got an integer"));
  CHECK_THAT(errorOf(kMinimal + "target.labels = [\"web\"]\n"),
             Catch::StartsWith("p.toml:5:17: target.labels: expected a table of strings, got an array"));
  CHECK_THAT(errorOf(kMinimal + "change.commit = 123\n"),
             Catch::StartsWith("p.toml:5:17: change.commit: expected a string, got an integer"));
}

TEST_CASE("change.ref and artifact.ci_signature are read, the signature beside the plan", "[protocol][plan]") {
  Plan plan = planOf(kMinimal + R"(artifact.ci_signature = "web.tar.gz.ci-sig"
[change]
commit = "9f2c1ab"
ref = "refs/heads/main"
)");
  REQUIRE(plan.change.has_value());
  CHECK(plan.change->ref == "refs/heads/main");
  CHECK(plan.artifact_ci_signature == fs::path("/plans/web.tar.gz.ci-sig"));
  CHECK(planOf(kMinimal).artifact_ci_signature.empty());
}

TEST_CASE("plan error: change.ref and artifact.ci_signature", "[protocol][plan][error]") {
  CHECK_THAT(errorOf(kMinimal + "change.ref = 7\n"),
             Catch::StartsWith("p.toml:5:14: change.ref: expected a string, got an integer"));
  CHECK_THAT(errorOf(kMinimal + "change.ref = \"\"\n"), Catch::StartsWith("p.toml:5:14: change.ref:"));
  CHECK_THAT(errorOf(kMinimal + "artifact.ci_signature = 1\n"),
             Catch::StartsWith("p.toml:5:25: artifact.ci_signature: expected a string, got an integer"));
  CHECK_THAT(errorOf(kMinimal + "artifact.ci_signature = \"\"\n"),
             Catch::StartsWith("p.toml:5:25: artifact.ci_signature:"));
}

TEST_CASE("plan error: committed_at without a UTC offset", "[protocol][plan][error]") {
  std::string msg = errorOf(kMinimal + R"([change]
committed_at = 2026-11-26T09:12:00
)");
  CHECK(msg == "p.toml:6:16: change.committed_at: needs a UTC offset, e.g. 2026-11-26T09:12:00Z");
  CHECK_THAT(errorOf(kMinimal + "change.committed_at = \"2026-11-26T09:12:00\"\n"),
             Catch::StartsWith("p.toml:5:23: change.committed_at: missing UTC offset"));
  CHECK_THAT(errorOf(kMinimal + "change.committed_at = 2026-11-26\n"),
             Catch::Contains("change.committed_at: expected a date-time with a UTC offset"));
}

TEST_CASE("plan error: TOML syntax", "[protocol][plan][error]") {
  std::string msg = errorOf(R"(app = "web"
version = = "1.0"
)");
  CHECK_THAT(msg, Catch::StartsWith("p.toml:2:11: "));
  CHECK(msg.size() > std::string("p.toml:2:11: ").size());
  CHECK_THAT(errorOf("app = \"web\"\napp = \"api\"\n"), Catch::StartsWith("p.toml:2:"));
}

TEST_CASE("parsePlanFile resolves the artifact next to the plan", "[protocol][plan]") {
  TempDir dir;
  dir.write("web.toml", kMinimal);
  dir.write("web.tar.gz", "not really a tarball");
  auto plan = parsePlanFile(dir.path() / "web.toml");
  INFO((plan ? std::string() : plan.error().message));
  REQUIRE(plan.ok());
  CHECK(plan->artifact_file == dir.path() / "web.tar.gz");
}

TEST_CASE("plan file error: the artifact does not exist", "[protocol][plan][error]") {
  TempDir dir;
  dir.write("web.toml", kMinimal);
  fs::path plan_path = dir.path() / "web.toml";
  auto plan = parsePlanFile(plan_path);
  REQUIRE_FALSE(plan.ok());
  const std::string& msg = plan.error().message;
  CHECK_THAT(msg, Catch::StartsWith(plan_path.string() + ":3:17: artifact.file: "));
  CHECK_THAT(msg, Catch::Contains((dir.path() / "web.tar.gz").string()));
}

TEST_CASE("plan file error: the artifact is a directory", "[protocol][plan][error]") {
  TempDir dir;
  dir.write("web.toml", kMinimal);
  fs::create_directory(dir.path() / "web.tar.gz");
  auto plan = parsePlanFile(dir.path() / "web.toml");
  REQUIRE_FALSE(plan.ok());
  CHECK_THAT(plan.error().message, Catch::Contains("artifact.file: not a regular file"));
}

TEST_CASE("plan file error: the plan does not exist", "[protocol][plan][error]") {
  TempDir dir;
  auto plan = parsePlanFile(dir.path() / "missing.toml");
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().code == Errc::kNotFound);
  CHECK_THAT(plan.error().message, Catch::Contains("missing.toml"));
}

TEST_CASE("plan file error: syntax errors name the file", "[protocol][plan][error]") {
  TempDir dir;
  dir.write("web.toml", "app = \"web\"\nversion = \n");
  fs::path plan_path = dir.path() / "web.toml";
  auto plan = parsePlanFile(plan_path);
  REQUIRE_FALSE(plan.ok());
  CHECK_THAT(plan.error().message, Catch::StartsWith(plan_path.string() + ":2:"));
}
