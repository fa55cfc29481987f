// Flag rollouts end to end (docs/flags.md "Flag rollouts", "The kill switch"):
// the console pushes and kills flag sets through a real coordinator; real
// agents write them to <apps_dir>/web/flags.json, run web's health checks on
// them and revert a set that breaks them.
#include <catch2/catch.hpp>

#include <fstream>

#include "support/cluster.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// web's health: its release is healthy (HEALTHY) and the flag set it runs
// serves no flag whose default variant is "broken" (flags.json sits two levels
// above the live release, in <apps_dir>/web).
const char* kFlagAwareHealth =
    "[health]\ninterval = \"100ms\"\nhealthy_for = \"300ms\"\ndeadline = \"3s\"\n\n"
    "[[health.check]]\nexec = [\"test\", \"-f\", \"HEALTHY\"]\n"
    "[[health.check]]\n"
    "exec = [\"sh\", \"-c\", 'if grep -qs \"defaultVariant.: *.broken\" ../../flags.json; then exit 1; fi']\n";

std::string flagSet(const std::string& checkout_default, bool targeted) {
  json set = {
      {"$schema", "https://flagd.dev/schema/v0/flags.json"},
      {"flags",
       {{"new-checkout",
         {{"state", "ENABLED"},
          {"variants", {{"on", "v2"}, {"off", "v1"}, {"broken", "v0"}}},
          {"defaultVariant", checkout_default}}},
        {"banner",
         {{"state", "ENABLED"}, {"variants", {{"shown", true}, {"hidden", false}}}, {"defaultVariant", "shown"}}}}}};
  if (targeted)
    set["flags"]["new-checkout"]["targeting"] = {
        {"if", {{{"ends_with", {{{"var", "email"}}, "@example.com"}}}, "on", "off"}}};
  return set.dump(2) + "\n";
}

// Four hosts running release 1 of web with kFlagAwareHealth.
void startFleet(Fleet& f) {
  f.startCoordinator();
  for (int i = 0; i < 4; ++i) f.startAgent({"h" + std::to_string(i)});
  REQUIRE(f.waitOnline(4));
  auto id = f.submit(f.writePlan("web", "1", f.makeRelease("1", true), kOneWaveAllAtOnce, kFlagAwareHealth));
  REQUIRE(f.waitFinished(id)["state"] == "succeeded");
}

std::filesystem::path writeFlags(Fleet& f, const std::string& name, const std::string& text) {
  const auto path = f.dir() / name;
  std::ofstream(path) << text;
  return path;
}

std::string push(Fleet& f, const std::filesystem::path& file, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"flags", "push", "web", file.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = f.console(args);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return r.json["id"].get<std::string>();
}

std::string liveFlags(Fleet& f, const std::string& host) { return readFile(f.appsDir(host) / "web/flags.json"); }

}  // namespace

TEST_CASE("a flag set rolls out in waves and reaches every host's flags.json", "[integration][flags]") {
  Fleet f;
  startFleet(f);
  const std::string text = flagSet("off", true);
  const auto file = writeFlags(f, "flags.json", text);
  const std::string id = push(f, file, {"--waves", "1,50%,100%", "--bake", "200ms"});
  CHECK(id.rfind("flags:web-", 0) == 0);
  auto st = f.waitFinished(id);
  INFO(st.dump(2));
  REQUIRE(st["state"] == "succeeded");
  REQUIRE(st["waves"].size() == 3);
  CHECK(st["waves"][0]["hosts"] == 1);
  CHECK(st["waves"][2]["hosts"] == 2);
  const std::string version = st["version"];
  CHECK(version.rfind("f-", 0) == 0);
  for (int i = 0; i < 4; ++i) {
    const std::string h = "h" + std::to_string(i);
    CHECK(liveFlags(f, h) == text);
    CHECK(f.reportedRelease(h, "flags:web") == version);
    CHECK(f.liveRelease(h, "web") == "1");  // no deploy of web: the release stays
  }
  CHECK(f.restarts("h0").size() == 1);  // and nothing restarted it

  auto show = f.console({"flags", "show", "web"});
  INFO(show.out << show.err);
  REQUIRE(show.exit_code == 0);
  CHECK(show.json["version"] == version);
  REQUIRE(show.json["versions"].size() == 1);
  CHECK(show.json["versions"][0] == json{{"version", version}, {"hosts", 4}});
  CHECK(show.json["flags"][1]["key"] == "new-checkout");
  CHECK(show.json["flags"][1]["targeted"] == true);
  auto host = f.console({"flags", "show", "web", "--host", "h2"});
  CHECK(host.json["hosts"] == json::array({{{"host", "h2"}, {"version", version}}}));

  // Flag rollouts are rollouts: in `history`, and a set pushed again is the same version.
  auto hist = f.console({"history", "--app", "flags:web"});
  REQUIRE(hist.json["rollouts"].size() == 1);
  CHECK(hist.json["rollouts"][0]["id"] == id);
  auto again = f.console({"flags", "push", "web", file.string(), "--watch"});
  INFO(again.out << again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("\"version\":\"" + version + "\"") != std::string::npos);

  auto bad =
      f.console({"flags", "push", "web", writeFlags(f, "bad.json", R"({"flags": {"x": {"state": "ON"}}})").string()});
  CHECK(bad.exit_code == 2);
  CHECK(bad.json["error"]["message"].get<std::string>().find("bad.json") != std::string::npos);
  CHECK(f.console({"flags", "push", "api", file.string()}).json["error"]["code"] == "not_found");
}

TEST_CASE("a flag set that breaks health is reverted on the canary and rolled back", "[integration][flags]") {
  Fleet f;
  startFleet(f);
  const std::string good = flagSet("off", false);
  REQUIRE(f.waitFinished(push(f, writeFlags(f, "good.json", good)))["state"] == "succeeded");

  const std::string id = push(f, writeFlags(f, "broken.json", flagSet("broken", false)), {"--waves", "1,100%"});
  auto st = f.waitFinished(id);
  INFO(st.dump(2));
  CHECK(st["state"] == "rolled_back");
  REQUIRE(st["waves"].size() == 2);
  CHECK(st["waves"][1]["state"] != "succeeded");
  bool reverted = false;
  for (const auto& e : f.events(id))
    if (e["kind"] == "host_failed" && e["message"].get<std::string>().find("reverted") != std::string::npos)
      reverted = true;
  CHECK(reverted);
  // Every host, the canary included, serves the good set again.
  for (int i = 0; i < 4; ++i) CHECK(liveFlags(f, "h" + std::to_string(i)) == good);
  auto hist = f.console({"flags", "history", "web"});
  REQUIRE(hist.json["rollouts"].size() == 2);
  CHECK(hist.json["rollouts"][0]["state"] == "rolled_back");
  CHECK(hist.json["rollouts"][0]["changed"] == json::array({"new-checkout"}));
}

TEST_CASE("a kill turns a flag off on every host in one wave, signed and recorded", "[integration][flags]") {
  Fleet f;
  startFleet(f);
  REQUIRE(f.waitFinished(push(f, writeFlags(f, "on.json", flagSet("on", true))))["state"] == "succeeded");

  auto kill = f.console({"flags", "kill", "web", "new-checkout"});
  INFO(kill.out << kill.err);
  REQUIRE(kill.exit_code == 0);
  const std::string id = kill.json["id"];
  auto st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  REQUIRE(st["state"] == "succeeded");
  REQUIRE(st["waves"].size() == 1);
  CHECK(st["waves"][0]["hosts"] == 4);
  for (int i = 0; i < 4; ++i) {
    auto live = json::parse(liveFlags(f, "h" + std::to_string(i)));
    const auto& flag = live["flags"]["new-checkout"];
    CHECK(flag["defaultVariant"] == "off");
    CHECK_FALSE(flag.contains("targeting"));
    CHECK(flag["metadata"].contains("killedBy"));
    CHECK(live["flags"]["banner"]["defaultVariant"] == "shown");
  }
  auto killed = f.findEvent(id, "flag_killed", "new-checkout");
  REQUIRE(killed.has_value());
  CHECK_FALSE((*killed)["actor"].get<std::string>().empty());

  auto hist = f.console({"flags", "history", "web"});
  REQUIRE(hist.json["rollouts"].size() == 2);
  CHECK(hist.json["rollouts"][0]["kind"] == "kill");
  CHECK(hist.json["rollouts"][0]["changed"] == json::array({"new-checkout"}));
  CHECK(f.console({"flags", "kill", "web", "nope"}).exit_code == 2);

  // A kill supersedes a flag rollout still in progress: aborted, then the kill goes out.
  const std::string slow =
      push(f, writeFlags(f, "on-again.json", flagSet("on", false)), {"--waves", "1,100%", "--bake", "60s"});
  REQUIRE(waitUntil([&] { return f.countEvents(slow, "host_healthy") >= 1; }, 30s));
  auto again = f.console({"flags", "kill", "web", "new-checkout", "--watch"});
  INFO(again.out << again.err);
  CHECK(again.exit_code == 0);
  CHECK(f.status(slow)["state"] == "aborted");
  CHECK(f.countEvents(slow, "flag_superseded") == 1);
  for (int i = 0; i < 4; ++i)
    CHECK(json::parse(liveFlags(f, "h" + std::to_string(i)))["flags"]["new-checkout"]["defaultVariant"] == "off");
  const std::string killed_again = f.console({"flags", "show", "web", "--host", "h0"}).json["version"];

  // `rollback flags:web` goes back to the flag set that succeeded before, like any app's rollback.
  auto back = f.console({"rollback", "flags:web", "--watch"});
  INFO(back.out << back.err);
  INFO(f.console({"flags", "history", "web"}).out);
  CHECK(back.exit_code == 0);
  auto shown = f.console({"flags", "show", "web", "--host", "h0"});
  INFO(shown.out);
  CHECK(shown.json["version"] != killed_again);
  // Each host reports the set it went back to (the first kill's, or, when both kills fell in
  // one second and so made one version, the first push's).
  const std::string back_to = shown.json["version"];
  for (int i = 0; i < 4; ++i) CHECK(f.reportedRelease("h" + std::to_string(i), "flags:web") == back_to);
  auto colour = f.console({"flags", "kill", "web", "banner"});
  CHECK(colour.exit_code == 0);  // a boolean flag: its false variant
}

TEST_CASE("a host that joins later gets the app, then its flag set", "[integration][flags]") {
  Fleet f;
  startFleet(f);
  const std::string text = flagSet("on", false);
  REQUIRE(f.waitFinished(push(f, writeFlags(f, "on.json", text)))["state"] == "succeeded");
  f.startAgent({"h4"});
  REQUIRE(f.waitOnline(5));
  const bool converged = waitUntil(
      [&] {
        std::error_code ec;
        return std::filesystem::exists(f.appsDir("h4") / "web/flags.json", ec) && liveFlags(f, "h4") == text;
      },
      60s, 100ms);
  INFO(readFile(f.dir() / "agent-h4.log"));
  REQUIRE(converged);
  CHECK(f.liveRelease("h4", "web") == "1");
  CHECK(waitUntil([&] { return !f.reportedRelease("h4", "flags:web").empty(); }, 20s));
}
