// The console's flag views (render_flags.cpp) and the flag documents' wire form.
#include <catch2/catch.hpp>

#include "flotilla/console/render.h"
#include "flotilla/protocol/control_flags.h"

using namespace flotilla::console;
using nlohmann::json;
namespace control = flotilla::protocol::control;

namespace {

control::FlagsShowReply showReply() {
  control::FlagsShowReply r;
  r.app = "web";
  r.version = "f-0123456789abcdef";
  r.versions = {{"", 1}, {"f-0123456789abcdef", 3}};
  r.hosts = {{"h0", ""}, {"h1", "f-0123456789abcdef"}};
  r.flags = {{"banner", "DISABLED", std::nullopt, {"hidden", "shown"}, false, false},
             {"new-ui", "ENABLED", "off", {"off", "on"}, true, true}};
  return r;
}

}  // namespace

TEST_CASE("console: flags show lists hosts per version and the newest set's flags", "[console][flags]") {
  const std::string out = renderFlagsShow(showReply(), false);
  CHECK(out.find("(none)") != std::string::npos);
  CHECK(out.find("f-0123456789abcdef  3") != std::string::npos);
  CHECK(out.find("flags of web f-0123456789abcdef (the newest set)") != std::string::npos);
  CHECK(out.find("(caller's)") != std::string::npos);
  CHECK(out.find("off,on") != std::string::npos);
  CHECK(out.find("killed") != std::string::npos);
  control::FlagsShowReply empty;
  empty.app = "web";
  CHECK(renderFlagsShow(empty, false).find("no flag set of web yet") != std::string::npos);
  auto one = showReply();
  one.hosts = {{"h1", "f-0123456789abcdef"}};
  CHECK(renderFlagsShow(one, true).rfind("host h1: flag set f-0123456789abcdef\n", 0) == 0);
}

TEST_CASE("console: flags history shows what each rollout changed", "[console][flags]") {
  control::FlagsHistoryReply r;
  r.app = "web";
  r.rollouts = {
      {"flags:web-2", "kill", "f-2", "succeeded", "ann", "2026-12-01T00:00:00Z", std::nullopt, "", {}, {}, {"new-ui"}},
      {"flags:web-1",
       "push",
       "f-1",
       "succeeded",
       "ann",
       "2026-11-30T00:00:00Z",
       std::nullopt,
       "",
       {"new-ui", "banner"},
       {"old"},
       {}}};
  const std::string out = renderFlagsHistory(r);
  CHECK(out.find("~new-ui") != std::string::npos);
  CHECK(out.find("+new-ui,+banner,-old") != std::string::npos);
  CHECK(out.find("kill") != std::string::npos);
}

TEST_CASE("flag documents read back what they wrote, and a malformed one names its field", "[console][flags]") {
  const auto show = showReply();
  CHECK(json(show).get<control::FlagsShowReply>() == show);
  json broken = show;
  broken["flags"][1]["targeted"] = "yes";
  auto parsed = control::parseReply<control::FlagsShowReply>(broken);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().message.find("flags[1].targeted") != std::string::npos);
  control::FlagsHistoryReply hist;
  hist.app = "web";
  hist.rollouts = {{"flags:web-1", "push", "f-1", "failed", "ann", std::nullopt, std::nullopt, "why", {"a"}, {}, {}}};
  CHECK(json(hist).get<control::FlagsHistoryReply>() == hist);
  const control::FlagsPushRequest push{"web", "{}", "f.json", {"1", "100%"}, "5m", ""};
  const auto back = json(push).get<control::FlagsPushRequest>();
  CHECK(back.waves == push.waves);
  CHECK(back.bake == "5m");
  CHECK(json(push)["cmd"] == "flags_push");
}
