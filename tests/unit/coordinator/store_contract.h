#pragma once
// The Store contract (coordinator/include/flotilla/coordinator/store.h), as
// one suite that runs against every implementation.
//
// Include this header in exactly one test file, after defining the macro
// STORE_CONTRACT_FIXTURES as the fixture types, one per implementation,
// separated by commas. Each fixture, default-constructed, names a new empty
// store and provides
//   flotilla::Result<std::unique_ptr<Store>> open(bool read_only = false);
// which opens that same store each time it is called (so a test can close it
// and open it again, or hold a writer and a reader on it at once).
// store_contract_test.cpp instantiates it for SqliteStore and PgStore.

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/coordinator/store.h"
#include "store_records.h"

#define STORE_CONTRACT_CASE(name) \
  TEMPLATE_TEST_CASE("store contract: " name, "[coordinator][store]", STORE_CONTRACT_FIXTURES)

namespace store_contract {

using namespace store_records;  // NOLINT(google-build-using-namespace): the tests' vocabulary

STORE_CONTRACT_CASE("a new store is empty") {
  TestType fx;
  auto store = valueOf(fx.open());
  CHECK(valueOf(store->loadAgents()).empty());
  CHECK(valueOf(store->rollouts("", 10)).empty());
  CHECK(valueOf(store->unfinishedRollouts()).empty());
  CHECK(valueOf(store->waveDurations()).empty());
  CHECK(valueOf(store->apps()).empty());
  CHECK(valueOf(store->currentReleases()).empty());
  CHECK(valueOf(store->countRollouts("web")) == 0);
}

STORE_CONTRACT_CASE("agents upsert and load round trip, ordered by id") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->upsertAgent(agent("b")));
  ok(store->upsertAgent(agent("a")));
  auto agents = valueOf(store->loadAgents());
  REQUIRE(agents.size() == 2);
  CHECK(agents[0].id == "a");
  CHECK(agents[1].id == "b");
  CHECK(agents[0].curve_key == std::string(64, 'a'));
  CHECK(agents[0].state == "accepted");
  CHECK(agents[0].labels == std::map<std::string, std::string>{{"role", "web"}, {"dc", "par1"}});
  CHECK(agents[0].releases == std::map<std::string, std::string>{{"web", "1.0"}});
  CHECK(agents[0].first_seen_ms == 1000);
  CHECK(agents[0].last_seen_ms == 2000);
}

STORE_CONTRACT_CASE("upserting an agent updates it and keeps first_seen") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->upsertAgent(agent("a")));
  auto a = agent("a");
  a.curve_key = std::string(64, 'b');
  a.state = "revoked";
  a.labels = {};
  a.releases = {{"web", "2.0"}, {"db", "9"}};
  a.first_seen_ms = 5000;
  a.last_seen_ms = 9000;
  ok(store->upsertAgent(a));
  auto agents = valueOf(store->loadAgents());
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].curve_key == std::string(64, 'b'));
  CHECK(agents[0].state == "revoked");
  CHECK(agents[0].labels.empty());
  CHECK(agents[0].releases == std::map<std::string, std::string>{{"web", "2.0"}, {"db", "9"}});
  CHECK(agents[0].first_seen_ms == 1000);
  CHECK(agents[0].last_seen_ms == 9000);
}

STORE_CONTRACT_CASE("releases round trip, binary spec included, and are replaced") {
  TestType fx;
  auto store = valueOf(fx.open());
  ReleaseRecord r;
  r.app = "web";
  r.version = "2.4.1";
  r.artifact_digest = std::string(64, 'e');
  r.artifact_size = 123456789012ULL;
  r.spec = std::string("\x92\x93\x00\xff\x00", 5);
  r.plan_text = "app = \"web\"\n";
  r.release_signature = std::string(128, 'f');
  ok(store->putRelease(r));

  auto got = valueOf(store->release("web", "2.4.1"));
  REQUIRE(got.has_value());
  CHECK(got->app == "web");
  CHECK(got->version == "2.4.1");
  CHECK(got->artifact_digest == r.artifact_digest);
  CHECK(got->artifact_size == r.artifact_size);
  CHECK(got->spec == r.spec);
  CHECK(got->plan_text == r.plan_text);
  CHECK(got->release_signature == r.release_signature);

  CHECK_FALSE(valueOf(store->release("web", "9.9")).has_value());
  CHECK_FALSE(valueOf(store->release("api", "2.4.1")).has_value());

  r.plan_text = "changed";
  r.release_signature = "";
  ok(store->putRelease(r));
  got = valueOf(store->release("web", "2.4.1"));
  REQUIRE(got.has_value());
  CHECK(got->plan_text == "changed");
  CHECK(got->release_signature.empty());
}

STORE_CONTRACT_CASE("rollouts insert, read back and update what changes while they run") {
  TestType fx;
  auto store = valueOf(fx.open());
  auto r = rolloutRecord("r-1", "web", 100);
  r.committed_at_ms = 42;
  r.engine = R"({"wave":0})";
  r.unplanned = true;
  ok(store->insertRollout(r));
  CHECK(valueOf(store->rollout("r-1"))->unplanned);

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
  CHECK(got->engine == R"({"wave":0})");
  CHECK(got->plan_text == "app = \"web\"\n");

  auto changed = r;
  changed.state = "succeeded";
  changed.started_at_ms = 150;
  changed.finished_at_ms = 500;
  changed.message = "all 3 waves succeeded";
  changed.snapshot = R"({"state":"succeeded"})";
  changed.engine = "";
  changed.version = "ignored";  // written once, by insertRollout
  changed.plan_text = "ignored";
  ok(store->updateRollout(changed));
  got = valueOf(store->rollout("r-1"));
  REQUIRE(got.has_value());
  CHECK(got->state == "succeeded");
  CHECK(got->started_at_ms == 150);
  CHECK(got->finished_at_ms == 500);
  CHECK(got->message == "all 3 waves succeeded");
  CHECK(got->snapshot == R"({"state":"succeeded"})");
  CHECK(got->engine.empty());
  CHECK(got->version == "2.0");
  CHECK(got->plan_text == "app = \"web\"\n");
}

STORE_CONTRACT_CASE("unknown rollouts read as absent, and updating one writes nothing") {
  TestType fx;
  auto store = valueOf(fx.open());
  CHECK_FALSE(valueOf(store->rollout("r-404")).has_value());
  ok(store->updateRollout(rolloutRecord("r-404", "web", 1)));
  CHECK_FALSE(valueOf(store->rollout("r-404")).has_value());
  CHECK(valueOf(store->rollouts("", 10)).empty());
}

STORE_CONTRACT_CASE("a rollout id is taken once") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->insertRollout(rolloutRecord("r-1", "web", 1)));
  auto again = store->insertRollout(rolloutRecord("r-1", "api", 2));
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == flotilla::Errc::kAlreadyExists);
  CHECK(again.error().message.find("r-1") != std::string::npos);
  CHECK(valueOf(store->rollout("r-1"))->app == "web");
}

STORE_CONTRACT_CASE("a rollout without committed_at reads back without it") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->insertRollout(rolloutRecord("r-1", "web", 1)));
  auto got = valueOf(store->rollout("r-1"));
  REQUIRE(got.has_value());
  CHECK_FALSE(got->committed_at_ms.has_value());
}

STORE_CONTRACT_CASE("rollouts list newest first, filtered by app and limited") {
  TestType fx;
  auto store = valueOf(fx.open());
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
  CHECK(two[1].id == "r-3");
  CHECK(valueOf(store->rollouts("web", 0)).empty());

  CHECK(valueOf(store->countRollouts("web")) == 3);
  CHECK(valueOf(store->countRollouts("api")) == 1);
  CHECK(valueOf(store->countRollouts("nope")) == 0);
}

STORE_CONTRACT_CASE("unfinished rollouts are the ones not finished, oldest first") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->insertRollout(rolloutRecord("r-new", "web", 300)));
  auto done = rolloutRecord("r-done", "web", 50);
  done.finished_at_ms = 60;
  done.state = "succeeded";
  ok(store->insertRollout(done));
  ok(store->insertRollout(rolloutRecord("r-old", "api", 100)));
  ok(store->insertRollout(rolloutRecord("r-old-2", "web", 100)));  // same time: inserted later comes later

  auto open = valueOf(store->unfinishedRollouts());
  REQUIRE(open.size() == 3);
  CHECK(open[0].id == "r-old");
  CHECK(open[1].id == "r-old-2");
  CHECK(open[2].id == "r-new");

  auto finished = rolloutRecord("r-old", "api", 100);
  finished.finished_at_ms = 400;
  ok(store->updateRollout(finished));
  open = valueOf(store->unfinishedRollouts());
  REQUIRE(open.size() == 2);
  CHECK(open[0].id == "r-old-2");
}

STORE_CONTRACT_CASE("wave durations pair each wave's start with its end") {
  TestType fx;
  auto store = valueOf(fx.open());
  valueOf(store->appendEvent(event("r-1", "rollout_started", -1, 0)));
  valueOf(store->appendEvent(event("r-1", "wave_started", 0, 1'000)));
  valueOf(store->appendEvent(event("r-2", "wave_started", 0, 1'500)));
  valueOf(store->appendEvent(event("r-1", "wave_succeeded", 0, 3'500)));
  valueOf(store->appendEvent(event("r-1", "wave_started", 1, 4'000)));
  valueOf(store->appendEvent(event("r-1", "wave_failed", 1, 10'000)));
  valueOf(store->appendEvent(event("r-3", "wave_failed", 0, 10'000)));   // never started: not a duration
  valueOf(store->appendEvent(event("r-4", "wave_started", 0, 11'000)));  // still running: not yet one

  auto waves = valueOf(store->waveDurations());
  REQUIRE(waves.size() == 2);
  CHECK(waves[0].rollout_id == "r-1");
  CHECK(waves[0].wave == 0);
  CHECK(waves[0].seconds == Approx(2.5));
  CHECK(waves[0].succeeded);
  CHECK(waves[1].rollout_id == "r-1");
  CHECK(waves[1].wave == 1);
  CHECK(waves[1].seconds == Approx(6.0));
  CHECK_FALSE(waves[1].succeeded);
}

STORE_CONTRACT_CASE("events append in order and read after a sequence") {
  TestType fx;
  auto store = valueOf(fx.open());
  auto e = event("r-1", "wave_started", 0, 10);
  e.message = "1 hosts";
  auto s1 = valueOf(store->appendEvent(e));
  e.kind = "host_healthy";
  e.agent_id = "h0";
  e.at_ms = 11;
  auto s2 = valueOf(store->appendEvent(e));
  auto s3 = valueOf(store->appendEvent(event("r-2", "rollout_started", -1, 12)));
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

STORE_CONTRACT_CASE("every rollout's events read back after a seq, in seq order and a page at a time") {
  TestType fx;
  auto store = valueOf(fx.open());
  CHECK(valueOf(store->lastEventSeq()) == 0);
  CHECK(valueOf(store->eventsAfter(0, 10)).empty());
  auto s1 = valueOf(store->appendEvent(event("r-1", "submitted", -1, 10)));
  auto s2 = valueOf(store->appendEvent(event("r-2", "submitted", -1, 11)));
  auto s3 = valueOf(store->appendEvent(event("r-1", "wave_succeeded", 0, 12)));
  CHECK(valueOf(store->lastEventSeq()) == s3);

  auto page = valueOf(store->eventsAfter(0, 2));
  REQUIRE(page.size() == 2);
  CHECK(page[0].seq == s1);
  CHECK(page[0].rollout_id == "r-1");
  CHECK(page[1].seq == s2);
  CHECK(page[1].rollout_id == "r-2");
  auto rest = valueOf(store->eventsAfter(s2, 2));
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].seq == s3);
  CHECK(rest[0].kind == "wave_succeeded");
  CHECK(rest[0].wave == 0);
  CHECK(valueOf(store->eventsAfter(s3, 2)).empty());
}

STORE_CONTRACT_CASE("analysis samples append and read back per wave, NaN included") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->begin());
  std::vector<SampleRecord> batch{
      {"r-1", 0, "h0", "canary", "error_ratio", 100, 0.25, 1, 4},
      {"r-1", 0, "h1", "baseline", "error_ratio", 101, std::numeric_limits<double>::quiet_NaN(), 0, 0},
      {"r-1", 1, "h2", "canary", "latency", 102, 0.5, 0, 0},
      {"r-2", 0, "h0", "canary", "error_ratio", 103, 1, 1, 1},
  };
  ok(store->appendSamples(batch));
  ok(store->appendSamples({{"r-1", 0, "h0", "canary", "error_ratio", 110, 0.5, 2, 4}}));
  ok(store->commit());

  auto wave0 = valueOf(store->samples("r-1", 0));
  REQUIRE(wave0.size() == 3);
  CHECK(wave0[0].agent_id == "h0");
  CHECK(wave0[0].role == "canary");
  CHECK(wave0[0].metric == "error_ratio");
  CHECK(wave0[0].at_ms == 100);
  CHECK(wave0[0].value == 0.25);
  CHECK(wave0[0].num == 1);
  CHECK(wave0[0].den == 4);
  CHECK(wave0[1].role == "baseline");
  CHECK(std::isnan(wave0[1].value));
  CHECK(wave0[2].at_ms == 110);  // in the order appended
  CHECK(valueOf(store->samples("r-1", 1)).size() == 1);
  CHECK(valueOf(store->samples("r-9", 0)).empty());
}

STORE_CONTRACT_CASE("analysis verdicts are kept per wave and replaced") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->putVerdict({"r-1", 1, 20, "fail", 50, R"({"outcome":"fail"})"}));
  ok(store->putVerdict({"r-1", 0, 10, "marginal", 80, "{}"}));
  ok(store->putVerdict({"r-1", 0, 15, "pass", 100, R"({"outcome":"pass"})"}));
  auto all = valueOf(store->verdicts("r-1"));
  REQUIRE(all.size() == 2);
  CHECK(all[0].wave == 0);
  CHECK(all[0].outcome == "pass");
  CHECK(all[0].score == 100);
  CHECK(all[0].at_ms == 15);
  CHECK(all[0].json == R"({"outcome":"pass"})");
  CHECK(all[1].wave == 1);
  CHECK(all[1].outcome == "fail");
  CHECK(valueOf(store->verdicts("r-2")).empty());
}

STORE_CONTRACT_CASE("order sequences start at 1 and count per app") {
  TestType fx;
  auto store = valueOf(fx.open());
  CHECK(valueOf(store->nextSequence("web")) == 1);
  CHECK(valueOf(store->nextSequence("web")) == 2);
  CHECK(valueOf(store->nextSequence("api")) == 1);
  CHECK(valueOf(store->nextSequence("web")) == 3);
  CHECK(valueOf(store->nextSequence("api")) == 2);
}

STORE_CONTRACT_CASE("reserved sequences are never handed out again") {
  TestType fx;
  auto store = valueOf(fx.open());
  CHECK(valueOf(store->nextSequence("web")) == 1);
  CHECK(valueOf(store->reserveSequences("web", 100)) == 101);  // 2..101 reserved
  CHECK(valueOf(store->nextSequence("web")) == 102);
  CHECK(valueOf(store->reserveSequences("db", 5)) == 5);  // a new app starts at 1..5
  CHECK(valueOf(store->reserveSequences("db", 1)) == 6);
}

STORE_CONTRACT_CASE("current releases and sequences do not disturb each other") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->setCurrentRelease(AppRecord{"web", "2.0", "web-1", {}}));
  CHECK(valueOf(store->nextSequence("web")) == 1);
  CHECK(valueOf(store->nextSequence("db")) == 1);
  ok(store->setCurrentRelease(AppRecord{"web", "2.1", "web-1", {}}));
  CHECK(valueOf(store->nextSequence("web")) == 2);
  CHECK(valueOf(store->currentReleases()) == std::map<std::string, std::string>{{"web", "2.1"}});  // db has none
  auto apps = valueOf(store->apps());
  REQUIRE(apps.size() == 1);
  CHECK(apps[0].app == "web");
}

STORE_CONTRACT_CASE("an app's current release keeps its rollout and target") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->setCurrentRelease(AppRecord{"web", "2.0", "web-4", {{"role", "web"}, {"dc", "eu"}}}));
  ok(store->setCurrentRelease(AppRecord{"api", "1.0", "api-1", {}}));
  auto apps = valueOf(store->apps());
  REQUIRE(apps.size() == 2);
  CHECK(apps[0].app == "api");  // ordered by name
  CHECK(apps[1].app == "web");
  CHECK(apps[1].current_version == "2.0");
  CHECK(apps[1].current_rollout == "web-4");
  CHECK(apps[1].target == std::map<std::string, std::string>{{"role", "web"}, {"dc", "eu"}});
  CHECK(apps[0].target.empty());
}

STORE_CONTRACT_CASE("rollout hosts round-trip and are replaced in place") {
  TestType fx;
  auto store = valueOf(fx.open());
  RolloutHostRecord h{0, "h0", 0, "deploying", "probation", "1.0", "slow", true, false, "web-1/h0/3", 3};
  ok(store->putRolloutHost("web-1", h));
  ok(store->putRolloutHost("web-1", RolloutHostRecord{1, "h1", 1, "pending", "", "1.0", "", false, true, "", 0}));
  ok(store->putRolloutHost("web-2", RolloutHostRecord{0, "h1", 0, "healthy", "", "2.0", "", false, false, "", 9}));
  h.state = "healthy";
  ok(store->putRolloutHost("web-1", h));
  auto rows = valueOf(store->rolloutHosts("web-1"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].idx == 0);
  CHECK(rows[0].agent_id == "h0");
  CHECK(rows[0].wave == 0);
  CHECK(rows[0].state == "healthy");
  CHECK(rows[0].phase == "probation");
  CHECK(rows[0].previous_version == "1.0");
  CHECK(rows[0].message == "slow");
  CHECK(rows[0].moved);
  CHECK_FALSE(rows[0].reverted_itself);
  CHECK(rows[0].order_id == "web-1/h0/3");
  CHECK(rows[0].sequence == 3);
  CHECK(rows[1].idx == 1);
  CHECK(rows[1].wave == 1);
  CHECK(rows[1].reverted_itself);
  CHECK(valueOf(store->hostState("web-1", "h1")) == std::optional<std::string>("pending"));
  CHECK(valueOf(store->hostState("web-2", "h1")) == std::optional<std::string>("healthy"));
  CHECK_FALSE(valueOf(store->hostState("web-1", "h9")).has_value());
  CHECK_FALSE(valueOf(store->hostState("web-9", "h0")).has_value());
  CHECK(valueOf(store->rolloutHosts("web-9")).empty());
}

STORE_CONTRACT_CASE("a unit of work's host rows, thousands and some written twice, are read back as last written") {
  TestType fx;
  {
    auto store = valueOf(fx.open());
    ok(store->begin());
    for (std::size_t i = 0; i < 2500; ++i)
      ok(store->putRolloutHost("big-1", RolloutHostRecord{i, "h" + std::to_string(i), 0, "deploying", "", "1.0", "",
                                                          false, false, "big-1/h" + std::to_string(i) + "/1", i + 1}));
    // Read inside the unit: the unit's own writes are seen.
    CHECK(valueOf(store->hostState("big-1", "h7")) == std::optional<std::string>("deploying"));
    for (std::size_t i = 0; i < 2500; i += 2)
      ok(store->putRolloutHost("big-1", RolloutHostRecord{i, "h" + std::to_string(i), 0, "healthy", "", "1.0", "",
                                                          false, false, "", i + 1}));
    ok(store->putRolloutHost("big-1", RolloutHostRecord{7, "h7", 0, "failed", "", "1.0", "no", false, true, "", 8}));
    ok(store->commit());
  }
  auto store = valueOf(fx.open());
  auto rows = valueOf(store->rolloutHosts("big-1"));
  REQUIRE(rows.size() == 2500);
  std::size_t healthy = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i].idx == i);
    if (rows[i].state == "healthy") ++healthy;
  }
  CHECK(healthy == 1250);
  CHECK(rows[7].state == "failed");
  CHECK(rows[7].reverted_itself);
  CHECK(rows[7].message == "no");
  CHECK(rows[1].order_id == "big-1/h1/1");
  CHECK(rows[2].order_id.empty());
}

STORE_CONTRACT_CASE("a token is refused once its uses are spent") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->putToken(TokenRecord{"hash-3", 10'000, 3}));
  CHECK(valueOf(store->useToken("hash-3", 1000)));
  CHECK(valueOf(store->useToken("hash-3", 1000)));
  CHECK(valueOf(store->useToken("hash-3", 1000)));
  CHECK_FALSE(valueOf(store->useToken("hash-3", 1000)));
  CHECK_FALSE(valueOf(store->useToken("hash-3", 1000)));
}

STORE_CONTRACT_CASE("an unlimited token works until it expires") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->putToken(TokenRecord{"hash-u", 10'000, -1}));
  for (int i = 0; i < 5; ++i) CHECK(valueOf(store->useToken("hash-u", 9'999)));
  CHECK_FALSE(valueOf(store->useToken("hash-u", 10'000)));
}

STORE_CONTRACT_CASE("an expired token is refused") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->putToken(TokenRecord{"hash-e", 5'000, 10}));
  CHECK_FALSE(valueOf(store->useToken("hash-e", 5'000)));
  CHECK_FALSE(valueOf(store->useToken("hash-e", 6'000)));
  CHECK(valueOf(store->useToken("hash-e", 4'999)));
}

STORE_CONTRACT_CASE("an unknown token, or one with no uses, is refused") {
  TestType fx;
  auto store = valueOf(fx.open());
  CHECK_FALSE(valueOf(store->useToken("nobody", 0)));
  ok(store->putToken(TokenRecord{"hash-0", 10'000, 0}));
  CHECK_FALSE(valueOf(store->useToken("hash-0", 0)));
}

STORE_CONTRACT_CASE("putting a token again replaces it") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->putToken(TokenRecord{"hash-r", 10'000, 1}));
  CHECK(valueOf(store->useToken("hash-r", 0)));
  CHECK_FALSE(valueOf(store->useToken("hash-r", 0)));
  ok(store->putToken(TokenRecord{"hash-r", 10'000, 1}));
  CHECK(valueOf(store->useToken("hash-r", 0)));
}

STORE_CONTRACT_CASE("what a unit of work wrote survives closing and opening again") {
  TestType fx;
  {
    auto store = valueOf(fx.open());
    ok(store->begin());
    ok(store->upsertAgent(agent("a")));
    ok(store->insertRollout(rolloutRecord("r-1", "web", 100)));
    CHECK(valueOf(store->appendEvent(event("r-1", "rollout_started", -1, 1))) > 0);
    CHECK(valueOf(store->nextSequence("web")) == 1);
    CHECK(valueOf(store->reserveSequences("web", 10)) == 11);
    ok(store->setCurrentRelease(AppRecord{"web", "2.0", "web-1", {}}));
    ok(store->putRolloutHost("r-1", RolloutHostRecord{0, "a", 0, "pending", "", "", "", false, false, "", 0}));
    ok(store->putToken(TokenRecord{"hash-2", 10'000, 2}));
    CHECK(valueOf(store->useToken("hash-2", 0)));
    ok(store->commit());
  }
  auto store = valueOf(fx.open());
  auto agents = valueOf(store->loadAgents());
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].labels.at("role") == "web");
  auto r = valueOf(store->rollout("r-1"));
  REQUIRE(r.has_value());
  CHECK(r->app == "web");
  CHECK(valueOf(store->events("r-1", 0)).size() == 1);
  CHECK(valueOf(store->rolloutHosts("r-1")).size() == 1);
  CHECK(valueOf(store->nextSequence("web")) == 12);  // the sequence never goes back
  CHECK(valueOf(store->currentReleases()).at("web") == "2.0");
  CHECK(valueOf(store->useToken("hash-2", 0)));  // one use was spent before
  CHECK_FALSE(valueOf(store->useToken("hash-2", 0)));
}

STORE_CONTRACT_CASE("a write outside a unit of work is durable when it returns") {
  TestType fx;
  auto writer = valueOf(fx.open());
  ok(writer->upsertAgent(agent("a")));
  CHECK(valueOf(writer->nextSequence("web")) == 1);
  auto reader = valueOf(fx.open(true));
  CHECK(valueOf(reader->loadAgents()).size() == 1);
}

STORE_CONTRACT_CASE("a unit's writes are seen by its own store at once and by others at commit") {
  TestType fx;
  auto writer = valueOf(fx.open());
  auto reader = valueOf(fx.open(true));
  ok(writer->begin());
  ok(writer->upsertAgent(agent("a")));
  ok(writer->insertRollout(rolloutRecord("r-1", "web", 1)));
  CHECK(valueOf(writer->loadAgents()).size() == 1);
  CHECK(valueOf(writer->rollout("r-1")).has_value());
  CHECK(valueOf(reader->loadAgents()).empty());
  CHECK_FALSE(valueOf(reader->rollout("r-1")).has_value());
  ok(writer->commit());
  CHECK(valueOf(reader->loadAgents()).size() == 1);
  CHECK(valueOf(reader->rollout("r-1")).has_value());
}

STORE_CONTRACT_CASE("begin and commit with nothing written, or twice, do nothing") {
  TestType fx;
  auto store = valueOf(fx.open());
  ok(store->commit());  // no unit open
  ok(store->begin());
  CHECK(valueOf(store->rollouts("", 10)).empty());  // reads do not need a unit
  ok(store->commit());
  ok(store->begin());
  ok(store->begin());  // already open
  ok(store->upsertAgent(agent("a")));
  ok(store->commit());
  ok(store->commit());
  // Armed again, a write is made durable by the next commit.
  ok(store->begin());
  ok(store->upsertAgent(agent("b")));
  ok(store->commit());
  auto reader = valueOf(fx.open(true));
  CHECK(valueOf(reader->loadAgents()).size() == 2);
}

STORE_CONTRACT_CASE("a read-only open of a store that was never made is refused and makes none") {
  TestType fx;
  auto reader = fx.open(true);
  REQUIRE_FALSE(reader.ok());
  CHECK(reader.error().code == flotilla::Errc::kNotFound);
  auto writer = valueOf(fx.open());  // still new, and writable
  CHECK(valueOf(writer->loadAgents()).empty());
}

STORE_CONTRACT_CASE("a read-only store reads and refuses every write") {
  TestType fx;
  {
    auto writer = valueOf(fx.open());
    ok(writer->upsertAgent(agent("a")));
    ok(writer->insertRollout(rolloutRecord("r-1", "web", 1)));
    ok(writer->putToken(TokenRecord{"hash-1", 10'000, 1}));
  }
  auto reader = valueOf(fx.open(true));
  CHECK(valueOf(reader->loadAgents()).size() == 1);
  CHECK(valueOf(reader->rollouts("", 10)).size() == 1);

  auto refused = [](const flotilla::Status& st) {
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == flotilla::Errc::kPermission);
  };
  ok(reader->begin());
  refused(reader->upsertAgent(agent("b")));
  refused(reader->putRelease(ReleaseRecord{"web", "1", "d", 1, "s", "p", ""}));
  refused(reader->insertRollout(rolloutRecord("r-2", "web", 2)));
  refused(reader->updateRollout(rolloutRecord("r-1", "web", 1)));
  refused(reader->setCurrentRelease(AppRecord{"web", "1", "r-1", {}}));
  refused(reader->putRolloutHost("r-1", RolloutHostRecord{}));
  refused(reader->putToken(TokenRecord{"hash-2", 1, 1}));
  refused(reader->appendSamples({SampleRecord{"r-1", 0, "h0", "canary", "m", 1, 1, 0, 0}}));
  refused(reader->putVerdict(VerdictRecord{"r-1", 0, 1, "pass", 100, "{}"}));
  auto status = [](const auto& r) { return r.ok() ? flotilla::Status() : flotilla::Status(r.error()); };
  refused(status(reader->appendEvent(event("r-1", "x", 0, 0))));
  refused(status(reader->nextSequence("web")));
  refused(status(reader->reserveSequences("web", 2)));
  refused(status(reader->useToken("hash-1", 0)));
  ok(reader->commit());

  auto writer = valueOf(fx.open());
  CHECK(valueOf(writer->loadAgents()).size() == 1);
  CHECK(valueOf(writer->useToken("hash-1", 0)));  // its one use is still there
  CHECK(valueOf(writer->nextSequence("web")) == 1);
}

}  // namespace store_contract

#undef STORE_CONTRACT_CASE
