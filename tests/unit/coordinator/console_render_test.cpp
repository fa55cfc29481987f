#include <catch2/catch.hpp>

#include "flotilla/console/render.h"

using namespace flotilla;
using namespace flotilla::console;
using nlohmann::json;
namespace control = flotilla::protocol::control;

namespace {

json wave(int index, int hosts, int healthy, int failed, int unreachable, const char* state) {
  return {{"index", index},     {"hosts", hosts},       {"done", healthy + failed + unreachable},
          {"healthy", healthy}, {"failed", failed},     {"unreachable", unreachable},
          {"max_failed", 0},    {"max_unreachable", 0}, {"state", state}};
}

json runningStatus() {
  return {{"id", "web-3"},
          {"app", "web"},
          {"version", "2.4.1"},
          {"state", "running"},
          {"gate", "bake 3s left"},
          {"current_wave", 1},
          {"submitted_by", "alice@box (local)"},
          {"submitted_at", "2026-11-26T09:12:00Z"},
          {"started_at", "2026-11-26T09:12:00Z"},
          {"finished_at", nullptr},
          {"message", ""},
          {"waves", json::array({wave(0, 1, 1, 0, 0, "succeeded"), wave(1, 4, 2, 0, 0, "baking"),
                                 wave(2, 5, 0, 0, 0, "pending")})}};
}

// An event as the coordinator sends it: every field, the optional ones null.
json event(int seq, const char* at, const char* kind, const char* message) {
  return {{"seq", seq},       {"rollout", "web-3"}, {"at", at},           {"kind", kind},
          {"agent", nullptr}, {"wave", nullptr},    {"message", message}, {"actor", nullptr}};
}

}  // namespace

TEST_CASE("progress bar fills in proportion and is full only when done", "[console][render]") {
  CHECK(progressBar(0, 10) == "[..........]");
  CHECK(progressBar(5, 10) == "[#####.....]");
  CHECK(progressBar(10, 10) == "[##########]");
  CHECK(progressBar(1, 3) == "[###.......]");
  CHECK(progressBar(99, 100) == "[#########.]");
  CHECK(progressBar(1, 1) == "[##########]");
}

TEST_CASE("progress bar of an empty wave is empty and overflow is clamped", "[console][render]") {
  CHECK(progressBar(0, 0) == "[..........]");
  CHECK(progressBar(12, 10) == "[##########]");
  CHECK(progressBar(2, 4, 4) == "[##..]");
}

TEST_CASE("wave line shows progress, counts and state", "[console][render]") {
  CHECK(waveLine(wave(1, 10, 4, 1, 0, "running").get<control::WaveDoc>()) ==
        "wave 1: [#####.....] 5/10 hosts healthy 4 failed 1 unreachable 0 running");
}

TEST_CASE("wave line shows an empty state as a dash", "[console][render]") {
  CHECK(waveLine(control::WaveDoc{2, 0, 0, 0, 0, 0, 0, 0, ""}) ==
        "wave 2: [..........] 0/0 hosts healthy 0 failed 0 unreachable 0 -");
}

TEST_CASE("a malformed status is refused naming the field, not rendered", "[console][render]") {
  json s = runningStatus();
  s["waves"][1]["hosts"] = "many";
  auto bad = control::parseReply<control::RolloutStatus>(s);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::kCorrupt);
  CHECK(bad.error().message ==
        "unexpected reply from the coordinator: waves[1].hosts: expected a non-negative "
        "integer, got a string");
  s = runningStatus();
  s.erase("state");
  CHECK_THAT(control::parseReply<control::RolloutStatus>(s).error().message, Catch::EndsWith("state: missing"));
  s = runningStatus();
  s["waves"][0]["index"] = -1;
  CHECK_THAT(control::parseReply<control::RolloutStatus>(s).error().message,
             Catch::EndsWith("waves[0].index: expected a non-negative integer, got -1"));
}

TEST_CASE("status block has headline, gate, waves with the current one marked", "[console][render]") {
  auto lines = statusBlock(runningStatus().get<control::RolloutStatus>());
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == "rollout web-3: web 2.4.1 running");
  CHECK(lines[1] == "  gate: bake 3s left");
  CHECK(lines[2] == "  wave 0: [##########] 1/1 hosts healthy 1 failed 0 unreachable 0 succeeded");
  CHECK(lines[3] == "> wave 1: [#####.....] 2/4 hosts healthy 2 failed 0 unreachable 0 baking");
  CHECK(lines[4] == "  wave 2: [..........] 0/5 hosts healthy 0 failed 0 unreachable 0 pending");
}

TEST_CASE("status block of a finished rollout marks no wave and has no gate", "[console][render]") {
  json s = runningStatus();
  s["state"] = "failed";
  s["gate"] = "";
  auto lines = statusBlock(s.get<control::RolloutStatus>());
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "rollout web-3: web 2.4.1 failed");
  CHECK(lines[2].rfind("  wave 1", 0) == 0);
}

TEST_CASE("status block lists hosts when the document has them", "[console][render]") {
  json s = runningStatus();
  s["hosts"] = json::array(
      {{{"id", "h1"}, {"wave", 0}, {"state", "healthy"}, {"phase", "healthy"}, {"previous", "2.4.0"}, {"message", ""}},
       {{"id", "h2"},
        {"wave", 1},
        {"state", "failed"},
        {"phase", "reverted"},
        {"previous", ""},
        {"message", "healthz 500"}}});
  const std::string text = renderStatus(s.get<control::RolloutStatus>());
  CHECK(text.find("  HOST  WAVE  STATE    PHASE     PREVIOUS  MESSAGE\n") != std::string::npos);
  CHECK(text.find("  h1    0     healthy  healthy   2.4.0\n") != std::string::npos);
  CHECK(text.find("  h2    1     failed   reverted  -         healthz 500\n") != std::string::npos);
}

TEST_CASE("gate durations are shown in whole seconds, rounded up", "[console][render]") {
  CHECK(gateText("bake 19s534ms left") == "bake 20s left");
  CHECK(gateText("bake 999ms left") == "bake 1s left");
  CHECK(gateText("bake 1m30s left") == "bake 1m30s left");
  CHECK(gateText("approval (flotilla promote web-3)") == "approval (flotilla promote web-3)");
  CHECK(gateText("") == "");
}

TEST_CASE("tables align columns and trim trailing spaces", "[console][render]") {
  CHECK(renderTable({"ID", "STATE"}, {{"a-long-id", "online"}, {"b", ""}}) ==
        "ID         STATE\n"
        "a-long-id  online\n"
        "b\n");
  CHECK(renderTable({"A", "B"}, {}) == "A  B\n");
}

TEST_CASE("agents table shows labels, releases and health as k=v lists", "[console][render]") {
  json agents = json::array({{{"id", "host-1"},
                              {"state", "online"},
                              {"labels", {{"role", "web"}, {"zone", "a"}}},
                              {"releases", {{"web", "2.4.1"}}},
                              {"health", {{"web", "healthy"}}},
                              {"key", "0123456789abcdef"},
                              {"busy", nullptr},
                              {"last_seen", "2026-11-26T09:12:00Z"}},
                             {{"id", "host-2"},
                              {"state", "pending"},
                              {"labels", json::object()},
                              {"releases", json::object()},
                              {"health", json::object()},
                              {"key", "fedcba9876543210"},
                              {"busy", nullptr},
                              {"last_seen", nullptr}}});
  CHECK(renderAgents(agents.get<std::vector<control::AgentDoc>>()) ==
        "ID      STATE    LABELS           RELEASES   HEALTH\n"
        "host-1  online   role=web,zone=a  web=2.4.1  web=healthy\n"
        "host-2  pending  -                -          -\n");
}

TEST_CASE("history table shows who submitted and how long it took", "[console][render]") {
  json list = json::array({{{"id", "web-2"},
                            {"app", "web"},
                            {"version", "2"},
                            {"state", "succeeded"},
                            {"submitted_by", "alice@box (local)"},
                            {"submitted_at", "2026-11-26T09:12:00Z"},
                            {"started_at", "2026-11-26T09:12:00Z"},
                            {"finished_at", "2026-11-26T09:12:12Z"},
                            {"message", ""},
                            {"commit", ""},
                            {"committed_at", nullptr},
                            {"duration", 12.34}},
                           {{"id", "web-3"},
                            {"app", "web"},
                            {"version", "3"},
                            {"state", "running"},
                            {"submitted_by", "bob@box (local)"},
                            {"submitted_at", "2026-11-26T10:00:00Z"},
                            {"started_at", nullptr},
                            {"finished_at", nullptr},
                            {"message", ""},
                            {"commit", "abc"},
                            {"committed_at", nullptr}}});
  CHECK(renderHistory(list.get<std::vector<control::HistoryEntry>>()) ==
        "ID     APP  VERSION  STATE      SUBMITTED             BY                 DURATION\n"
        "web-2  web  2        succeeded  2026-11-26T09:12:00Z  alice@box (local)  12.3s\n"
        "web-3  web  3        running    2026-11-26T10:00:00Z  bob@box (local)    -\n");
}

TEST_CASE("active rollout list shows state, wave and gate", "[console][render]") {
  CHECK(renderRolloutList({runningStatus().get<control::RolloutStatus>()}) ==
        "ID     APP  VERSION  STATE    WAVE  GATE\n"
        "web-3  web  2.4.1    running  1     bake 3s left\n");
}

TEST_CASE("metrics show each key's raw figure beside its band and basis", "[console][render]") {
  json scope = {
      {"deployment_frequency", {{"per_day", 0.1}, {"deployments", 3}, {"band", "high"}}},
      {"lead_time", {{"median_seconds", 10800.0}, {"rollouts", 3}, {"from_submission", 1}, {"band", "elite"}}},
      {"change_failure_rate", {{"rate", 0.25}, {"failed", 1}, {"finished", 4}, {"aborted", 0}, {"band", "high"}}},
      {"recovery_time", {{"median_seconds", nullptr}, {"recoveries", 0}, {"unrecovered", 1}, {"band", "n/a"}}},
      {"rework_rate", {{"rate", 1.0 / 3}, {"unplanned", 1}, {"deployments", 3}}}};
  json report = {{"app", nullptr},
                 {"window_days", 30},
                 {"window_start", "2026-11-01T12:00:00Z"},
                 {"generated_at", "2026-12-01T12:00:00Z"},
                 {"fleet", scope},
                 {"apps", {{"web", scope}}}};
  const std::string text = renderMetrics(report.get<control::MetricsReply>());
  CHECK(text.rfind("DORA metrics over 30 days, 2026-11-01T12:00:00Z to 2026-12-01T12:00:00Z\n"
                   "SCOPE  KEY                   VALUE     BAND   BASIS\n"
                   "fleet  deployment frequency  0.10/day  high   3 deployments\n"
                   "fleet  lead time             3h00m     elite  3 rollouts (1 from submission)\n"
                   "fleet  change failure rate   25.0%     high   1 of 4 finished\n"
                   "fleet  recovery time         -         n/a    0 recovered, 1 unrecovered\n"
                   "fleet  rework rate           33.3%     n/a    1 of 3 deployments unplanned\n"
                   "web    deployment frequency",
                   0) == 0);
  CHECK(text.find("\nweb    recovery time ") != std::string::npos);
}

TEST_CASE("metrics of one app have no fleet rows", "[console][render]") {
  control::MetricsReply report;
  report.app = "web";
  report.window_days = 7;
  report.apps["web"] = control::DoraScopeDoc{};
  report.apps["web"].lead_time.band = "n/a";
  const std::string text = renderMetrics(report);
  CHECK(text.find("fleet") == std::string::npos);
  CHECK(text.find("web    deployment frequency  0.00/day  -     0 deployments\n") != std::string::npos);
  CHECK(text.find("web    lead time             -         n/a   0 rollouts\n") != std::string::npos);
}

TEST_CASE("event line has time, kind, agent, wave, message and actor", "[console][render]") {
  json host = {{"seq", 7},      {"rollout", "web-3"}, {"at", "2026-11-26T09:12:05Z"}, {"kind", "host_failed"},
               {"agent", "h2"}, {"wave", 0},          {"message", "healthz 500"},     {"actor", nullptr}};
  CHECK(eventLine(host.get<control::EventDoc>()) == "2026-11-26T09:12:05Z host_failed h2 wave 0 healthz 500");
  CHECK(eventLine(host.get<control::EventDoc>(), true) == "09:12:05 host_failed h2 wave 0 healthz 500");

  json op = {{"seq", 9},
             {"rollout", "web-3"},
             {"at", "2026-11-26T09:13:00Z"},
             {"kind", "operator_pause"},
             {"agent", nullptr},
             {"wave", nullptr},
             {"message", "pause by alice@box (local)"},
             {"actor", "alice@box (local)"}};
  CHECK(eventLine(op.get<control::EventDoc>()) ==
        "2026-11-26T09:13:00Z operator_pause pause by alice@box (local) (alice@box (local))");
  CHECK(renderEvents(json::array({host, op}).get<std::vector<control::EventDoc>>()) ==
        eventLine(host.get<control::EventDoc>()) + "\n" + eventLine(op.get<control::EventDoc>()) + "\n");
}

TEST_CASE("control characters from the coordinator never reach the terminal", "[console][render]") {
  json e = event(1, "2026-11-26T09:12:05Z", "host_failed", "bad\x1b[2Jthing\nnext");
  CHECK(eventLine(e.get<control::EventDoc>()) == "2026-11-26T09:12:05Z host_failed bad?[2Jthing?next");
  CHECK(sanitize("caf\xc3\xa9") == "caf\xc3\xa9");
}

TEST_CASE("durations read as seconds, minutes or hours", "[console][render]") {
  CHECK(formatSeconds(0) == "0.0s");
  CHECK(formatSeconds(12.34) == "12.3s");
  CHECK(formatSeconds(59.9) == "59.9s");
  CHECK(formatSeconds(125) == "2m05s");
  CHECK(formatSeconds(3720) == "1h02m");
  CHECK(formatSeconds(-3) == "0.0s");
}

TEST_CASE("elapsed time comes from submitted_at and finished_at", "[console][render]") {
  control::RolloutStatus s;
  s.submitted_at = "2026-11-26T09:12:00Z";
  s.finished_at = "2026-11-26T09:12:42Z";
  REQUIRE(elapsedSeconds(s).has_value());
  CHECK(*elapsedSeconds(s) == Approx(42.0));
  CHECK_FALSE(elapsedSeconds(runningStatus().get<control::RolloutStatus>()).has_value());
}

TEST_CASE("summary line names the outcome, the time and why it failed", "[console][render]") {
  CHECK(summaryLine("web-3", "succeeded", 12.3, "3 hosts healthy") == "rollout web-3 succeeded in 12.3s");
  CHECK(summaryLine("web-4", "failed", 40.0, "wave 0 failed: 1 hosts failed") ==
        "rollout web-4 failed in 40.0s: wave 0 failed: 1 hosts failed");
  CHECK(summaryLine("web-4", "rolled_back", std::nullopt, "every moved host is back") ==
        "rollout web-4 rolled_back: every moved host is back");
}

TEST_CASE("exit code of a watched rollout follows its final state", "[console][render]") {
  CHECK(exitCodeForState("succeeded") == kExitOk);
  CHECK(exitCodeForState("failed") == kExitNotSucceeded);
  CHECK(exitCodeForState("rolled_back") == kExitNotSucceeded);
  CHECK(exitCodeForState("aborted") == kExitNotSucceeded);
  CHECK(isTerminalState("aborted"));
  CHECK_FALSE(isTerminalState("rolling_back"));
  CHECK_FALSE(isTerminalState("paused"));
}

TEST_CASE("exit code of an error: 3 when unreachable or denied, 4 when refused by policy, else 2",
          "[console][render]") {
  CHECK(exitCodeForError(errcFromName("invalid_argument")) == kExitUsage);
  CHECK(exitCodeForError(errcFromName("not_found")) == kExitUsage);
  CHECK(exitCodeForError(errcFromName("conflict")) == kExitUsage);
  CHECK(exitCodeForError(errcFromName("corrupt")) == kExitUsage);
  CHECK(exitCodeForError(errcFromName("permission")) == kExitUnreachable);
  CHECK(exitCodeForError(errcFromName("policy_denied")) == kExitPolicy);
  CHECK(exitCodeForError(Errc::kUnavailable) == kExitUnreachable);
  CHECK(exitCodeForError(Errc::kTimeout) == kExitUnreachable);
  CHECK(errcFromName("no_such_code") == Errc::kInternal);
}

TEST_CASE("error document carries the code name and the message", "[console][render]") {
  CHECK(errorDoc(Error(Errc::kConflict, "rollout web-3 is still active")).dump() ==
        R"({"error":{"code":"conflict","message":"rollout web-3 is still active"}})");
}
