#include "flotilla/protocol/control.h"

#include <catch2/catch.hpp>

using namespace flotilla::protocol::control;
using nlohmann::json;

TEST_CASE("control: requests have the wire form the coordinator reads", "[protocol][control]") {
  CHECK(json(AgentsRequest{}).dump() == R"({"cmd":"agents"})");
  CHECK(json(AgentActionRequest{kAgentAccept, "h0"}).dump() == R"({"cmd":"agent_accept","id":"h0"})");
  CHECK(json(RolloutRequest{"app = 1", "p.toml", "ab", "", "", ""}).dump() ==
        R"({"artifact_digest":"ab","cmd":"rollout","plan":"app = 1","plan_name":"p.toml"})");
  CHECK(json(RolloutRequest{"x", "p", "d", "ff", "", ""})["release_signature"] == "ff");
  CHECK(json(RolloutRequest{"x", "p", "d", "", "{}", ""})["ci_signature"] == "{}");
  CHECK(json(RolloutRequest{"x", "p", "d", "", "", "INC-42 hotfix"})["break_glass"] == "INC-42 hotfix");
  CHECK_FALSE(json(RolloutRequest{"x", "p", "d", "", "", ""}).contains("break_glass"));
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
  // An older console sends no ci_signature: it reads as none.
  auto r = json::parse(R"({"cmd":"rollout","plan":"x","artifact_digest":"d"})").get<RolloutRequest>();
  CHECK(r.ci_signature.empty());
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

TEST_CASE("control: the upload commands have their wire form", "[protocol][control]") {
  CHECK(json(UploadBeginRequest{"ab", 10}).dump() == R"({"cmd":"upload_begin","digest":"ab","size":10})");
  CHECK(json(UploadChunkRequest{"u1", 4096}).dump() == R"({"cmd":"upload_chunk","offset":4096,"upload_id":"u1"})");
  CHECK(json(UploadEndRequest{"u1"}).dump() == R"({"cmd":"upload_end","upload_id":"u1"})");
  CHECK(json(UploadBeginReply{true, "", 0, 0}).dump() == R"({"ok":true,"stored":true})");
  CHECK(json(UploadBeginReply{false, "u1", 65536, 8}).dump() ==
        R"({"chunk_bytes":65536,"credit":8,"ok":true,"upload_id":"u1"})");
  CHECK(json(UploadChunkReply{100}).dump() == R"({"ok":true,"received":100})");
  CHECK(json(UploadEndReply{"ab", 10}).dump() == R"({"digest":"ab","ok":true,"size":10})");
  auto begin = json::parse(R"({"cmd":"upload_begin","digest":"ab","size":10})").get<UploadBeginRequest>();
  CHECK(begin.digest == "ab");
  CHECK(begin.size == 10);
  CHECK(json::parse(R"({"offset":7,"upload_id":"u"})").get<UploadChunkRequest>().offset == 7);
}

TEST_CASE("control: every reply reads back to the bytes it was written as", "[protocol][control]") {
  auto same = [](const auto& reply) {
    const std::string wire = json(reply).dump();
    auto back = parseReply<std::decay_t<decltype(reply)>>(json::parse(wire));
    INFO(wire);
    REQUIRE(back.ok());
    CHECK(json(*back).dump() == wire);
  };
  RolloutStatus s;
  s.id = "web-1";
  s.state = "running";
  s.submitted_at = "2026-11-30T10:00:00.000Z";
  s.waves.push_back({0, 2, 1, 1, 0, 0, 1, 0, "running"});
  s.hosts = std::vector<HostDoc>{{"h0", 0, "healthy", "done", "1", ""}};
  EventDoc e{4, "web-1", "2026-11-30T10:00:01.000Z", "host_failed", "h0", 0, "healthz 500", std::nullopt};
  AgentDoc a{"h0", "online", {{"role", "web"}}, {{"web", "1"}}, {{"web", "healthy"}}, "0123", "web-1", std::nullopt};
  HistoryEntry h;
  h.id = "web-1";
  h.duration = 12.5;
  DoraScopeDoc scope;
  scope.deployment_frequency = {0.1, 3, "high"};
  scope.lead_time = {10800.0, 3, 1, "elite"};
  scope.change_failure_rate = {std::nullopt, 0, 0, 2, "n/a"};
  MetricsReply m{std::nullopt, 30, "2026-11-01T12:00:00Z", "2026-12-01T12:00:00Z", scope, {{"web", scope}}};
  same(AgentsReply{{a}});
  same(AgentStateReply{"h0", "accepted"});
  same(RolloutReply{s});
  same(RolloutListReply{{s, s}});
  same(HistoryReply{{h}});
  same(EventsReply{{e}});
  same(WatchReply{s, {e}, true});
  same(m);
  same(MetricsReply{"web", 7, "a", "b", std::nullopt, {}});
  same(UploadBeginReply{false, "u1", 4096, 2});
  same(UploadBeginReply{true, "", 0, 0});
  same(UploadChunkReply{5});
  same(UploadEndReply{"ab", 5});
}

TEST_CASE("control: a malformed reply is refused naming the field", "[protocol][control]") {
  auto message = [](const auto& parsed) {
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == flotilla::Errc::kCorrupt);
    return parsed.error().message;
  };
  RolloutStatus s;
  s.waves.resize(2);
  json j = RolloutReply{s};
  j["rollout"]["waves"][1]["failed"] = "two";
  CHECK(message(parseReply<RolloutReply>(j)) ==
        "unexpected reply from the coordinator: rollout.waves[1].failed: expected a non-negative integer, got a "
        "string");
  CHECK(message(parseReply<RolloutReply>(json{{"ok", true}})) ==
        "unexpected reply from the coordinator: rollout: missing");
  CHECK(message(parseReply<AgentsReply>(json{{"agents", json::array({1})}})) ==
        "unexpected reply from the coordinator: agents[0]: expected an object, got 1");
  AgentDoc a;
  json aj = AgentsReply{{a}};
  aj["agents"][0]["labels"]["role"] = 3;
  CHECK(message(parseReply<AgentsReply>(aj)) ==
        "unexpected reply from the coordinator: agents[0].labels.role: expected a string, got 3");
  json ev = EventsReply{{EventDoc{}}};
  ev["events"][0]["agent"] = false;
  CHECK(message(parseReply<EventsReply>(ev)) ==
        "unexpected reply from the coordinator: events[0].agent: expected a string or null, got a boolean");
  json mj = MetricsReply{};
  mj["apps"]["web"] = json::object();
  CHECK(message(parseReply<MetricsReply>(mj)) ==
        "unexpected reply from the coordinator: apps.web.deployment_frequency: missing");
  CHECK(message(parseReply<HistoryReply>(json::array())) ==
        "unexpected reply from the coordinator: reply: expected an object, got an array");
  // A nullable field may be null; a history entry's duration may be absent.
  HistoryEntry h;
  CHECK(parseReply<HistoryReply>(json(HistoryReply{{h}})).ok());
}

TEST_CASE("control: a stored snapshot is read leniently", "[protocol][control]") {
  auto s = storedRolloutStatus(json::parse(R"({"id":"web-1","waves":[{"index":1,"hosts":"x"},3],"hosts":7})"));
  CHECK(s.id == "web-1");
  REQUIRE(s.waves.size() == 2);
  CHECK(s.waves[0].index == 1);
  CHECK(s.waves[0].hosts == 0);
  CHECK(s.hosts.has_value());
  CHECK(s.hosts->empty());
  CHECK(storedRolloutStatus(json("garbage")).id.empty());
}
