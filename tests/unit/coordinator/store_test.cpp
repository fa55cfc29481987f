#include "flotilla/coordinator/store.h"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/temp_dir.h"

using flotilla::coordinator::AgentRecord;
using flotilla::coordinator::AppRecord;
using flotilla::coordinator::EventRecord;
using flotilla::coordinator::ReleaseRecord;
using flotilla::coordinator::RolloutHostRecord;
using flotilla::coordinator::RolloutRecord;
using flotilla::coordinator::Store;
using flotilla::coordinator::TokenRecord;
using flotilla::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Store> openStore(const fs::path& file) {
  auto s = Store::open(file);
  INFO((s ? std::string() : s.error().message));
  REQUIRE(s.ok());
  return std::move(*s);
}

template <typename T>
T valueOf(flotilla::Result<T> r) {
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return std::move(*r);
}

void ok(const flotilla::Status& st) {
  INFO((st ? std::string() : st.error().message));
  REQUIRE(st.ok());
}

AgentRecord agent(const std::string& id) {
  AgentRecord a;
  a.id = id;
  a.curve_key = std::string(64, 'a');
  a.state = "accepted";
  a.labels = {{"role", "web"}, {"dc", "par1"}};
  a.releases = {{"web", "1.0"}};
  a.first_seen_ms = 1000;
  a.last_seen_ms = 2000;
  return a;
}

RolloutRecord rolloutRecord(const std::string& id, const std::string& app, std::int64_t submitted_at_ms) {
  RolloutRecord r;
  r.id = id;
  r.app = app;
  r.version = "2.0";
  r.state = "running";
  r.plan_name = app + ".toml";
  r.artifact_digest = std::string(64, 'd');
  r.submitted_by = "op-1";
  r.submitted_at_ms = submitted_at_ms;
  r.started_at_ms = submitted_at_ms + 1;
  r.commit = "9f2c1ab";
  r.message = "";
  r.snapshot = "{}";
  return r;
}

}  // namespace

TEST_CASE("store: opens a new file in a temporary directory", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "coordinator.db");
  CHECK(fs::exists(dir.path() / "coordinator.db"));
  CHECK(valueOf(store->loadAgents()).empty());
  CHECK(valueOf(store->rollouts("", 10)).empty());
}

TEST_CASE("store: opening in a missing directory is an I/O error", "[coordinator][store]") {
  TempDir dir;
  auto s = Store::open(dir.path() / "no" / "such" / "dir" / "c.db");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == flotilla::Errc::kIo);
  CHECK(s.error().message.find("c.db") != std::string::npos);
}

TEST_CASE("store: a file that is not a database is refused with an error", "[coordinator][store]") {
  TempDir dir;
  auto file = dir.path() / "c.db";
  {
    std::ofstream out(file, std::ios::binary);
    out << std::string(8192, 'x');
  }
  auto s = Store::open(file);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == flotilla::Errc::kIo);
  CHECK_FALSE(s.error().message.empty());
}

TEST_CASE("store: agents upsert and load round trip", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->upsertAgent(agent("b")));
  ok(store->upsertAgent(agent("a")));
  auto agents = valueOf(store->loadAgents());
  REQUIRE(agents.size() == 2);
  CHECK(agents[0].id == "a");  // ordered by id
  CHECK(agents[1].id == "b");
  CHECK(agents[0].curve_key == std::string(64, 'a'));
  CHECK(agents[0].state == "accepted");
  CHECK(agents[0].labels == std::map<std::string, std::string>{{"role", "web"}, {"dc", "par1"}});
  CHECK(agents[0].releases == std::map<std::string, std::string>{{"web", "1.0"}});
  CHECK(agents[0].first_seen_ms == 1000);
  CHECK(agents[0].last_seen_ms == 2000);
}

TEST_CASE("store: upserting an agent updates it and keeps first_seen", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->upsertAgent(agent("a")));
  auto a = agent("a");
  a.state = "revoked";
  a.labels = {};
  a.releases = {{"web", "2.0"}, {"db", "9"}};
  a.first_seen_ms = 5000;
  a.last_seen_ms = 9000;
  ok(store->upsertAgent(a));
  auto agents = valueOf(store->loadAgents());
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].state == "revoked");
  CHECK(agents[0].labels.empty());
  CHECK(agents[0].releases.size() == 2);
  CHECK(agents[0].releases.at("web") == "2.0");
  CHECK(agents[0].first_seen_ms == 1000);
  CHECK(agents[0].last_seen_ms == 9000);
}

TEST_CASE("store: releases round trip, binary spec included", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ReleaseRecord r;
  r.app = "web";
  r.version = "2.4.1";
  r.artifact_digest = std::string(64, 'e');
  r.artifact_size = 123456789012ULL;
  r.spec = std::string("\x92\x93\x00\xff\x00", 5);
  r.plan_text = "app = \"web\"\n";
  ok(store->putRelease(r));

  auto got = valueOf(store->release("web", "2.4.1"));
  REQUIRE(got.has_value());
  CHECK(got->app == "web");
  CHECK(got->version == "2.4.1");
  CHECK(got->artifact_digest == r.artifact_digest);
  CHECK(got->artifact_size == r.artifact_size);
  CHECK(got->spec == r.spec);
  CHECK(got->plan_text == r.plan_text);

  CHECK_FALSE(valueOf(store->release("web", "9.9")).has_value());
  CHECK_FALSE(valueOf(store->release("api", "2.4.1")).has_value());

  // Submitting the same release again replaces it.
  r.plan_text = "changed";
  ok(store->putRelease(r));
  CHECK(valueOf(store->release("web", "2.4.1"))->plan_text == "changed");
}

TEST_CASE("store: rollouts insert, read back and update", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  auto r = rolloutRecord("r-1", "web", 100);
  r.committed_at_ms = 42;
  ok(store->insertRollout(r));

  auto got = valueOf(store->rollout("r-1"));
  REQUIRE(got.has_value());
  CHECK(got->id == "r-1");
  CHECK(got->app == "web");
  CHECK(got->version == "2.0");
  CHECK(got->state == "running");
  CHECK(got->plan_name == "web.toml");
  CHECK(got->artifact_digest == std::string(64, 'd'));
  CHECK(got->submitted_by == "op-1");
  CHECK(got->submitted_at_ms == 100);
  CHECK(got->started_at_ms == 101);
  CHECK(got->finished_at_ms == 0);
  CHECK(got->commit == "9f2c1ab");
  CHECK(got->committed_at_ms == std::optional<std::int64_t>(42));
  CHECK(got->snapshot == "{}");

  r.state = "succeeded";
  r.finished_at_ms = 500;
  r.message = "all 3 waves succeeded";
  r.snapshot = R"({"state":"succeeded"})";
  ok(store->updateRollout(r));
  got = valueOf(store->rollout("r-1"));
  REQUIRE(got.has_value());
  CHECK(got->state == "succeeded");
  CHECK(got->finished_at_ms == 500);
  CHECK(got->message == "all 3 waves succeeded");
  CHECK(got->snapshot == R"({"state":"succeeded"})");

  CHECK_FALSE(valueOf(store->rollout("r-404")).has_value());
  // The id is the primary key.
  CHECK_FALSE(store->insertRollout(r).ok());
}

TEST_CASE("store: a rollout without committed_at reads back without it", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->insertRollout(rolloutRecord("r-1", "web", 1)));
  auto got = valueOf(store->rollout("r-1"));
  REQUIRE(got.has_value());
  CHECK_FALSE(got->committed_at_ms.has_value());
}

TEST_CASE("store: rollouts list newest first, filtered by app and limited", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->insertRollout(rolloutRecord("r-1", "web", 100)));
  ok(store->insertRollout(rolloutRecord("r-2", "api", 200)));
  ok(store->insertRollout(rolloutRecord("r-3", "web", 300)));
  ok(store->insertRollout(rolloutRecord("r-4", "web", 300)));  // same time: inserted later comes first

  auto all = valueOf(store->rollouts("", 10));
  REQUIRE(all.size() == 4);
  CHECK(all[0].id == "r-4");
  CHECK(all[1].id == "r-3");
  CHECK(all[2].id == "r-2");
  CHECK(all[3].id == "r-1");

  auto web = valueOf(store->rollouts("web", 10));
  REQUIRE(web.size() == 3);
  CHECK(web[0].id == "r-4");
  CHECK(web[1].id == "r-3");
  CHECK(web[2].id == "r-1");

  auto api = valueOf(store->rollouts("api", 10));
  REQUIRE(api.size() == 1);
  CHECK(api[0].id == "r-2");

  CHECK(valueOf(store->rollouts("nope", 10)).empty());
  auto two = valueOf(store->rollouts("web", 2));
  REQUIRE(two.size() == 2);
  CHECK(two[0].id == "r-4");

  CHECK(valueOf(store->countRollouts("web")) == 3);
  CHECK(valueOf(store->countRollouts("api")) == 1);
  CHECK(valueOf(store->countRollouts("nope")) == 0);
}

TEST_CASE("store: events append and read after a sequence", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  EventRecord e;
  e.rollout_id = "r-1";
  e.at_ms = 10;
  e.kind = "wave_started";
  e.wave = 0;
  e.message = "1 hosts";
  auto s1 = valueOf(store->appendEvent(e));
  e.kind = "host_healthy";
  e.agent_id = "h0";
  e.at_ms = 11;
  auto s2 = valueOf(store->appendEvent(e));
  EventRecord other;
  other.rollout_id = "r-2";
  other.kind = "rollout_started";
  auto s3 = valueOf(store->appendEvent(other));
  e.kind = "rollout_paused";
  e.agent_id = "";
  e.wave = -1;
  e.actor = "op-key-1";
  auto s4 = valueOf(store->appendEvent(e));
  CHECK(s1 < s2);
  CHECK(s2 < s3);
  CHECK(s3 < s4);

  auto all = valueOf(store->events("r-1", 0));
  REQUIRE(all.size() == 3);
  CHECK(all[0].seq == s1);
  CHECK(all[0].kind == "wave_started");
  CHECK(all[0].wave == 0);
  CHECK(all[0].at_ms == 10);
  CHECK(all[0].message == "1 hosts");
  CHECK(all[0].rollout_id == "r-1");
  CHECK(all[1].kind == "host_healthy");
  CHECK(all[1].agent_id == "h0");
  CHECK(all[2].seq == s4);
  CHECK(all[2].wave == -1);
  CHECK(all[2].actor == "op-key-1");

  auto after = valueOf(store->events("r-1", s2));
  REQUIRE(after.size() == 1);
  CHECK(after[0].seq == s4);
  CHECK(valueOf(store->events("r-1", s4)).empty());
  CHECK(valueOf(store->events("r-2", 0)).size() == 1);
  CHECK(valueOf(store->events("r-9", 0)).empty());
}

TEST_CASE("store: nextSequence increments per app independently", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  CHECK(valueOf(store->nextSequence("web")) == 1);
  CHECK(valueOf(store->nextSequence("web")) == 2);
  CHECK(valueOf(store->nextSequence("api")) == 1);
  CHECK(valueOf(store->nextSequence("web")) == 3);
  CHECK(valueOf(store->nextSequence("api")) == 2);
}

TEST_CASE("store: current releases and sequences do not disturb each other", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->setCurrentRelease(AppRecord{"web", "2.0", "web-1", {}}));
  CHECK(valueOf(store->nextSequence("web")) == 1);
  CHECK(valueOf(store->nextSequence("db")) == 1);
  ok(store->setCurrentRelease(AppRecord{"web", "2.1", "web-1", {}}));
  CHECK(valueOf(store->nextSequence("web")) == 2);
  auto current = valueOf(store->currentReleases());
  CHECK(current == std::map<std::string, std::string>{{"web", "2.1"}});  // db has none yet
}

TEST_CASE("store: a token is refused once its uses are spent", "[coordinator][store][token]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->putToken(TokenRecord{"hash-3", 10'000, 3}));
  CHECK(valueOf(store->useToken("hash-3", 1000)));
  CHECK(valueOf(store->useToken("hash-3", 1000)));
  CHECK(valueOf(store->useToken("hash-3", 1000)));
  CHECK_FALSE(valueOf(store->useToken("hash-3", 1000)));
  CHECK_FALSE(valueOf(store->useToken("hash-3", 1000)));
}

TEST_CASE("store: an unlimited token works until it expires", "[coordinator][store][token]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->putToken(TokenRecord{"hash-u", 10'000, -1}));
  for (int i = 0; i < 5; ++i) CHECK(valueOf(store->useToken("hash-u", 9'999)));
  CHECK_FALSE(valueOf(store->useToken("hash-u", 10'000)));
}

TEST_CASE("store: an expired token is refused", "[coordinator][store][token]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->putToken(TokenRecord{"hash-e", 5'000, 10}));
  CHECK_FALSE(valueOf(store->useToken("hash-e", 5'000)));
  CHECK_FALSE(valueOf(store->useToken("hash-e", 6'000)));
  CHECK(valueOf(store->useToken("hash-e", 4'999)));
}

TEST_CASE("store: an unknown token is refused", "[coordinator][store][token]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  CHECK_FALSE(valueOf(store->useToken("nobody", 0)));
  ok(store->putToken(TokenRecord{"hash-0", 10'000, 0}));  // no uses at all
  CHECK_FALSE(valueOf(store->useToken("hash-0", 0)));
}

TEST_CASE("store: data survives close and reopen", "[coordinator][store]") {
  TempDir dir;
  auto file = dir.path() / "c.db";
  {
    auto store = openStore(file);
    ok(store->begin());
    CHECK_FALSE(store->inTransaction());  // opened by the first write, not before
    ok(store->upsertAgent(agent("a")));
    CHECK(store->inTransaction());
    ok(store->insertRollout(rolloutRecord("r-1", "web", 100)));
    EventRecord e;
    e.rollout_id = "r-1";
    e.kind = "rollout_started";
    CHECK(valueOf(store->appendEvent(e)) > 0);
    CHECK(valueOf(store->nextSequence("web")) == 1);
    ok(store->setCurrentRelease(AppRecord{"web", "2.0", "web-1", {}}));
    ok(store->putToken(TokenRecord{"hash-2", 10'000, 2}));
    CHECK(valueOf(store->useToken("hash-2", 0)));
    ok(store->commit());
    CHECK_FALSE(store->inTransaction());
  }
  auto store = openStore(file);
  auto agents = valueOf(store->loadAgents());
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].labels.at("role") == "web");
  auto r = valueOf(store->rollout("r-1"));
  REQUIRE(r.has_value());
  CHECK(r->app == "web");
  CHECK(valueOf(store->events("r-1", 0)).size() == 1);
  CHECK(valueOf(store->nextSequence("web")) == 2);  // the sequence never goes back
  CHECK(valueOf(store->currentReleases()).at("web") == "2.0");
  CHECK(valueOf(store->useToken("hash-2", 0)));  // one use was spent before the restart
  CHECK_FALSE(valueOf(store->useToken("hash-2", 0)));
}

TEST_CASE("store: begin and commit are idempotent", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->commit());  // nothing open: no-op
  ok(store->begin());
  ok(store->begin());  // already open: no-op
  ok(store->upsertAgent(agent("a")));
  ok(store->commit());
  ok(store->commit());
  CHECK(valueOf(store->loadAgents()).size() == 1);
}

TEST_CASE("store: rollout hosts round-trip and are updated in place", "[coordinator][store][restore]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  RolloutHostRecord h{0, "h0", 0, "deploying", "probation", "1.0", "", true, false, "web-1/h0/3", 3};
  ok(store->putRolloutHost("web-1", h));
  ok(store->putRolloutHost("web-1", RolloutHostRecord{1, "h1", 1, "pending", "", "1.0", "", false, false, "", 0}));
  h.state = "healthy";
  ok(store->putRolloutHost("web-1", h));
  auto rows = valueOf(store->rolloutHosts("web-1"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].agent_id == "h0");
  CHECK(rows[0].state == "healthy");
  CHECK(rows[0].order_id == "web-1/h0/3");
  CHECK(rows[0].sequence == 3);
  CHECK(rows[0].moved);
  CHECK(rows[1].wave == 1);
  CHECK(valueOf(store->hostState("web-1", "h1")) == std::optional<std::string>("pending"));
  CHECK(!valueOf(store->hostState("web-1", "h9")).has_value());
  CHECK(valueOf(store->rolloutHosts("web-2")).empty());
}

TEST_CASE("store: an app's current release keeps its rollout and target", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->setCurrentRelease(AppRecord{"web", "2.0", "web-4", {{"role", "web"}, {"dc", "eu"}}}));
  auto apps = valueOf(store->apps());
  REQUIRE(apps.size() == 1);
  CHECK(apps[0].current_rollout == "web-4");
  CHECK(apps[0].target == std::map<std::string, std::string>{{"role", "web"}, {"dc", "eu"}});
}

TEST_CASE("store: a store written before engine state existed gains the new columns", "[coordinator][store]") {
  TempDir dir;
  const auto file = dir.path() / "old.db";
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    const char* old_schema =
        "CREATE TABLE rollouts (id TEXT PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL, state TEXT NOT NULL, "
        "plan_name TEXT NOT NULL, artifact_digest TEXT NOT NULL, submitted_by TEXT NOT NULL, "
        "submitted_at_ms INTEGER NOT NULL, started_at_ms INTEGER NOT NULL, finished_at_ms INTEGER NOT NULL, "
        "commit_id TEXT NOT NULL, committed_at_ms INTEGER, message TEXT NOT NULL, snapshot TEXT NOT NULL);"
        "CREATE TABLE apps (app TEXT PRIMARY KEY, sequence INTEGER NOT NULL DEFAULT 0, "
        "current_version TEXT NOT NULL DEFAULT '');"
        "INSERT INTO apps (app, sequence, current_version) VALUES ('web', 41, '1.0');"
        "INSERT INTO rollouts VALUES ('web-1', 'web', '1.0', 'succeeded', 'p.toml', 'd', 'me', 1, 1, 2, '', NULL, "
        "'done', '{}');";
    REQUIRE(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = openStore(file);
  auto r = valueOf(store->rollout("web-1"));
  REQUIRE(r.has_value());
  CHECK(r->engine.empty());
  CHECK(valueOf(store->currentReleases()).at("web") == "1.0");
  CHECK(valueOf(store->nextSequence("web")) == 42);  // sequences survive the upgrade
}

TEST_CASE("store: reserved sequences are never handed out again", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  CHECK(valueOf(store->nextSequence("web")) == 1);
  CHECK(valueOf(store->reserveSequences("web", 100)) == 101);  // 2..101 reserved
  CHECK(valueOf(store->nextSequence("web")) == 102);
  CHECK(valueOf(store->reserveSequences("db", 5)) == 5);  // a new app starts at 1..5
}

TEST_CASE("store: a transaction with no writes costs nothing and commits cleanly", "[coordinator][store]") {
  TempDir dir;
  auto store = openStore(dir.path() / "c.db");
  ok(store->begin());
  CHECK(valueOf(store->rollouts("", 10)).empty());  // reads do not open it
  CHECK_FALSE(store->inTransaction());
  ok(store->commit());
  // Armed again, a write opens it and commit() makes it durable.
  ok(store->begin());
  ok(store->upsertAgent(agent("b")));
  CHECK(store->inTransaction());
  ok(store->commit());
  CHECK(valueOf(store->loadAgents()).size() == 1);
}
