#include <catch2/catch.hpp>

#include <sstream>

#include "flotilla/console/render.h"
#include "flotilla/console/watch.h"

using namespace flotilla::console;
using nlohmann::json;

namespace {

json wave(int index, int hosts, int healthy, int failed, const char* state) {
  return {{"index", index},   {"hosts", hosts},  {"done", healthy + failed}, {"healthy", healthy}, {"failed", failed},
          {"unreachable", 0}, {"max_failed", 0}, {"max_unreachable", 0},     {"state", state}};
}

json status(const char* state, const char* gate, json waves) {
  return {{"id", "web-3"},
          {"app", "web"},
          {"version", "2"},
          {"state", state},
          {"gate", gate},
          {"current_wave", 0},
          {"submitted_by", "alice@box (local)"},
          {"submitted_at", "2026-11-26T09:12:00Z"},
          {"started_at", "2026-11-26T09:12:00Z"},
          {"finished_at", nullptr},
          {"message", ""},
          {"waves", std::move(waves)}};
}

json event(int seq, const char* kind, const char* message, const char* agent = nullptr, int wave = -1) {
  return {{"seq", seq},
          {"rollout", "web-3"},
          {"at", "2026-11-26T09:12:0" + std::to_string(seq % 10) + "Z"},
          {"kind", kind},
          {"message", message},
          {"agent", agent ? json(agent) : json(nullptr)},
          {"wave", wave >= 0 ? json(wave) : json(nullptr)},
          {"actor", nullptr}};
}

json push(json doc, const char* type) {
  doc["type"] = type;
  return doc;
}

json watchReply(json st, json events, bool finished) {
  return {{"type", "response"},  {"req", 1}, {"ok", true}, {"rollout", std::move(st)}, {"events", std::move(events)},
          {"finished", finished}};
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("plain watch prints events once and wave lines when they change", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kPlain);
  REQUIRE(view.onWatchReply(watchReply(status("running", "deploying", json::array({wave(0, 1, 0, 0, "running")})),
                                       json::array({event(1, "submitted", "rollout of web 2")}), false))
              .ok());
  view.flush();
  CHECK(view.lastSeq() == 1);
  // The re-sent watch replays seq 1 and an unchanged status: nothing new to print.
  REQUIRE(view.onWatchReply(watchReply(status("running", "deploying", json::array({wave(0, 1, 0, 0, "running")})),
                                       json::array({event(1, "submitted", "rollout of web 2")}), false))
              .ok());
  REQUIRE(view.onPush(push(event(2, "host_healthy", "healthy for 2s", "h1", 0), "event")).ok());
  REQUIRE(
      view.onPush(push(status("running", "bake 1s left", json::array({wave(0, 1, 1, 0, "baking")})), "status")).ok());
  view.flush();
  CHECK_FALSE(view.ended());
  CHECK(lines(out.str()) == std::vector<std::string>{
                                "09:12:01 submitted rollout of web 2",
                                "rollout web-3: web 2 running",
                                "gate: deploying",
                                "wave 0: [..........] 0/1 hosts healthy 0 failed 0 unreachable 0 running",
                                "09:12:02 host_healthy h1 wave 0 healthy for 2s",
                                "gate: bake 1s left",
                                "wave 0: [##########] 1/1 hosts healthy 1 failed 0 unreachable 0 baking",
                            });
}

TEST_CASE("plain watch prints a bake countdown once, not every tick", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kPlain);
  auto waves = json::array({wave(0, 1, 1, 0, "baking")});
  REQUIRE(view.onPush(push(status("running", "bake 30s left", waves), "status")).ok());
  REQUIRE(view.onPush(push(status("running", "bake 27s left", waves), "status")).ok());
  REQUIRE(view.onPush(push(status("running", "bake 24s left", waves), "status")).ok());
  view.flush();
  CHECK(lines(out.str()).size() == 3);  // headline, gate, wave
}

TEST_CASE("watch ends with a summary and exit 0 when the rollout succeeded", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kPlain);
  REQUIRE(view.onWatchReply(
                  watchReply(status("running", "", json::array({wave(0, 1, 0, 0, "running")})), json::array(), false))
              .ok());
  REQUIRE(view.onPush(push(event(5, "rollout_succeeded", "1 hosts healthy"), "event")).ok());
  json end = status("succeeded", "", json::array({wave(0, 1, 1, 0, "succeeded")}));
  end["finished_at"] = "2026-11-26T09:12:09Z";
  REQUIRE(view.onPush(push(end, "end")).ok());
  REQUIRE(view.ended());
  CHECK(view.finish(std::nullopt) == kExitOk);
  CHECK(lines(out.str()).back() == "rollout web-3 succeeded in 9.0s");
}

TEST_CASE("watch of a failed rollout exits 1 and says why", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kPlain);
  json st = status("failed", "", json::array({wave(0, 1, 0, 1, "failed")}));
  REQUIRE(view.onWatchReply(watchReply(st,
                                       json::array({event(1, "host_failed", "healthz 500", "h1", 0),
                                                    event(2, "rollout_failed", "wave 0 failed: 1 hosts failed")}),
                                       true))
              .ok());
  REQUIRE(view.ended());
  CHECK(view.finalMessage() == "wave 0 failed: 1 hosts failed");
  CHECK(view.finish(4.25) == kExitNotSucceeded);
  CHECK(lines(out.str()).back() == "rollout web-3 failed in 4.2s: wave 0 failed: 1 hosts failed");
}

TEST_CASE("a rollout the coordinator dropped before it finished is not a success", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kPlain);
  REQUIRE(view.onWatchReply(watchReply(status("running", "", json::array()), json::array(), true)).ok());
  REQUIRE(view.ended());
  CHECK(view.finish(std::nullopt) == kExitNotSucceeded);
  CHECK(lines(out.str()).back() == "rollout web-3 is running but no longer active on the coordinator");
}

TEST_CASE("json watch writes one line per message with its type, without duplicates", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kJson);
  json st = status("running", "deploying", json::array({wave(0, 1, 0, 0, "running")}));
  REQUIRE(view.onWatchReply(watchReply(st, json::array({event(1, "submitted", "x")}), false)).ok());
  REQUIRE(view.onWatchReply(watchReply(st, json::array({event(1, "submitted", "x")}), false)).ok());
  REQUIRE(view.onPush(push(event(2, "rollout_succeeded", "done"), "event")).ok());
  REQUIRE(view.onPush(push(status("succeeded", "", json::array({wave(0, 1, 1, 0, "succeeded")})), "end")).ok());
  CHECK(view.finish(std::nullopt) == kExitOk);
  auto ls = lines(out.str());
  REQUIRE(ls.size() == 4);
  std::vector<std::string> types;
  for (const auto& l : ls) {
    json doc = json::parse(l);
    types.push_back(doc["type"].get<std::string>());
  }
  CHECK(types == std::vector<std::string>{"event", "status", "event", "end"});
  CHECK(json::parse(ls[3])["state"] == "succeeded");
  CHECK(json::parse(ls[0])["seq"] == 1);
}

TEST_CASE("terminal watch redraws the wave block in place", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kTerminal, 200);
  REQUIRE(view.onPush(push(status("running", "deploying", json::array({wave(0, 2, 0, 0, "running")})), "status")).ok());
  view.flush();
  const std::string first = out.str();
  CHECK(first.find("\x1b[") == std::string::npos);  // nothing to erase yet
  CHECK(first.find("> wave 0: [..........] 0/2") != std::string::npos);
  out.str("");
  REQUIRE(view.onPush(push(event(3, "host_healthy", "ok", "h1", 0), "event")).ok());
  REQUIRE(view.onPush(push(status("running", "deploying", json::array({wave(0, 2, 1, 0, "running")})), "status")).ok());
  view.flush();
  const std::string second = out.str();
  // Up over the 3 block lines (headline, gate, wave), clear, the event, the new block.
  CHECK(second.rfind("\x1b[3A\r\x1b[J09:12:03 host_healthy h1 wave 0 ok\n", 0) == 0);
  CHECK(second.find("> wave 0: [#####.....] 1/2") != std::string::npos);
  out.str("");
  view.flush();  // nothing changed: nothing written
  CHECK(out.str().empty());
}

TEST_CASE("terminal watch cuts block lines to the terminal width", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kTerminal, 20);
  REQUIRE(view.onPush(push(status("running", "", json::array({wave(0, 2, 0, 0, "running")})), "status")).ok());
  view.flush();
  for (const auto& l : lines(out.str())) CHECK(l.size() < 20);
}

TEST_CASE("a malformed push is refused naming the field and shows nothing", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kPlain);
  json bad = status("running", "", json::array({wave(0, 1, 0, 0, "running")}));
  bad["waves"][0].erase("healthy");
  auto st = view.onPush(push(bad, "status"));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == flotilla::Errc::kCorrupt);
  CHECK_THAT(st.error().message, Catch::EndsWith("waves[0].healthy: missing"));
  json ev = event(1, "submitted", "x");
  ev["seq"] = "1";
  CHECK_THAT(view.onPush(push(ev, "event")).error().message, Catch::EndsWith("seq: expected an integer, got a string"));
  auto reply = watchReply(status("running", "", json::array()), json::array(), false);
  reply["finished"] = "no";
  CHECK_THAT(view.onWatchReply(reply).error().message,
             Catch::EndsWith("finished: expected true or false, got a string"));
  view.flush();
  CHECK(out.str().empty());
  CHECK_FALSE(view.ended());
}

TEST_CASE("json watch lines carry exactly the fields the coordinator sent", "[console][watch]") {
  std::ostringstream out;
  WatchView view(out, WatchView::Mode::kJson);
  const json ev = push(event(4, "host_healthy", "ok", "h1", 0), "event");
  json end = push(status("succeeded", "", json::array({wave(0, 1, 1, 0, "succeeded")})), "end");
  end["finished_at"] = "2026-11-26T09:12:09Z";
  REQUIRE(view.onPush(ev).ok());
  REQUIRE(view.onPush(end).ok());
  view.flush();
  auto ls = lines(out.str());
  REQUIRE(ls.size() == 2);
  CHECK(ls[0] == ev.dump());
  CHECK(ls[1] == end.dump());
}
