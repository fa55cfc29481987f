#include "flotilla/protocol/control.h"

#include <catch2/catch.hpp>

using namespace flotilla::protocol::control;
using nlohmann::json;

TEST_CASE("control: requests have the wire form the coordinator reads", "[protocol][control]") {
  CHECK(json(AgentsRequest{}).dump() == R"({"cmd":"agents"})");
  CHECK(json(AgentActionRequest{kAgentAccept, "h0"}).dump() == R"({"cmd":"agent_accept","id":"h0"})");
  CHECK(json(RolloutRequest{"app = 1", "p.toml", "ab", ""}).dump() ==
        R"({"artifact_digest":"ab","cmd":"rollout","plan":"app = 1","plan_name":"p.toml"})");
  CHECK(json(RolloutRequest{"x", "p", "d", "ff"})["release_signature"] == "ff");
  CHECK(json(StatusRequest{}).dump() == R"({"cmd":"status","hosts":false})");
  CHECK(json(StatusRequest{"web-1", true}).dump() == R"({"cmd":"status","hosts":true,"rollout":"web-1"})");
  CHECK(json(RolloutActionRequest{kPromote, "web-1"}).dump() == R"({"cmd":"promote","rollout":"web-1"})");
  CHECK(json(RollbackRequest{"web", ""}).dump() == R"({"app":"web","cmd":"rollback"})");
  CHECK(json(RollbackRequest{"web", "1.0"}).dump() == R"({"app":"web","cmd":"rollback","to":"1.0"})");
  CHECK(json(HistoryRequest{"", 5}).dump() == R"({"cmd":"history","limit":5})");
  CHECK(json(EventsRequest{"web-1", 3}).dump() == R"({"after":3,"cmd":"events","rollout":"web-1"})");
  CHECK(json(WatchRequest{"web-1", 0}).dump() == R"({"after":0,"cmd":"watch","rollout":"web-1"})");
  CHECK(json(MetricsRequest{"web", 7}).dump() == R"({"app":"web","cmd":"metrics","days":7})");
}

TEST_CASE("control: a request reads back, missing or mistyped text as empty", "[protocol][control]") {
  auto s = json(StatusRequest{"web-1", true}).get<StatusRequest>();
  CHECK(s.rollout == "web-1");
  CHECK(s.hosts);
  auto h = json::parse(R"({"cmd":"history","app":7})").get<HistoryRequest>();
  CHECK(h.app.empty());
  CHECK(h.limit == 50);
  auto m = json::parse(R"({"cmd":"metrics"})").get<MetricsRequest>();
  CHECK(m.days == 30);
  CHECK_THROWS_AS(json::parse(R"({"cmd":"status","hosts":"yes"})").get<StatusRequest>(), json::type_error);
}

TEST_CASE("control: a status document keeps its fields and nulls through JSON", "[protocol][control]") {
  RolloutStatus s;
  s.id = "web-1";
  s.state = "running";
  s.submitted_at = "2026-11-30T10:00:00.000Z";
  s.waves.push_back({0, 2, 1, 1, 0, 0, 0, 0, "running"});
  const json j = s;
  CHECK(j["started_at"].is_null());
  CHECK(j["waves"][0]["hosts"] == 2);
  CHECK_FALSE(j.contains("hosts"));
  for (const char* key : {"id", "app", "version", "state", "gate", "current_wave", "submitted_by", "submitted_at",
                          "started_at", "finished_at", "message", "waves"})
    CHECK(j.contains(key));
  auto back = j.get<RolloutStatus>();
  CHECK(json(back) == j);
  s.hosts = std::vector<HostDoc>{{"h0", 0, "healthy", "done", "1", ""}};
  CHECK(json(s)["hosts"][0]["previous"] == "1");
}

TEST_CASE("control: events, errors and replies", "[protocol][control]") {
  EventDoc e;
  e.seq = 4;
  e.kind = "submitted";
  const json j = e;
  CHECK(j["agent"].is_null());
  CHECK(j["wave"].is_null());
  CHECK(j["actor"].is_null());
  e.wave = 2;
  e.agent = "h0";
  CHECK(json(e).get<EventDoc>().wave == 2);
  CHECK(json(ErrorReply{"not_found", "no rollout 'x'"}).dump() ==
        R"({"error":{"code":"not_found","message":"no rollout 'x'"},"ok":false})");
  CHECK(json(AgentStateReply{"h0", "accepted"}).dump() == R"({"id":"h0","ok":true,"state":"accepted"})");
  CHECK(json(WatchReply{})["finished"] == false);
}

TEST_CASE("control: the final rollout states", "[protocol][control]") {
  for (const char* s : {"succeeded", "failed", "rolled_back", "aborted"}) CHECK(isTerminalRolloutState(s));
  for (const char* s : {"pending", "running", "paused", "rolling_back", ""}) CHECK_FALSE(isTerminalRolloutState(s));
}
