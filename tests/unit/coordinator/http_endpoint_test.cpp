// The metrics endpoint reads the store and never writes to it: it opens the
// store read-only (no schema work, nothing created) and keeps that one
// connection for later scrapes.

#include "flotilla/coordinator/http_endpoint.h"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "flotilla/common/fs.h"
#include "flotilla/coordinator/sqlite_store.h"
#include "support/temp_dir.h"

using flotilla::coordinator::HttpEndpoint;
using flotilla::coordinator::LiveGauges;
using flotilla::coordinator::RolloutRecord;
using flotilla::coordinator::SqliteStore;
using flotilla::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string fileBytes(const fs::path& file) {
  auto bytes = flotilla::common::readFile(file);
  REQUIRE(bytes.ok());
  return *bytes;
}

bool hasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

RolloutRecord finished(const std::string& id, const std::string& state) {
  RolloutRecord r;
  r.id = id;
  r.app = "web";
  r.version = "1";
  r.state = state;
  r.submitted_at_ms = 1'000;
  r.started_at_ms = 1'000;
  r.finished_at_ms = 3'000;
  r.snapshot = "{}";
  return r;
}

}  // namespace

TEST_CASE("metrics endpoint: a scrape without a store says so and creates none", "[coordinator][metrics][http]") {
  TempDir dir;
  const auto file = dir.path() / "coordinator.db";
  auto gauges = std::make_shared<LiveGauges>();
  gauges->publish("flotilla_active_rollouts 0\n");
  HttpEndpoint endpoint({.file = file}, gauges);
  const auto text = endpoint.renderMetrics();
  INFO(text);
  CHECK(text.find("flotilla_active_rollouts 0\n") == 0);
  CHECK(text.find("# store unavailable: ") != std::string::npos);
  CHECK_FALSE(fs::exists(file));
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("metrics endpoint: a scrape leaves a store of a newer schema version untouched",
          "[coordinator][metrics][http]") {
  TempDir dir;
  const auto file = dir.path() / "coordinator.db";
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE things (id TEXT PRIMARY KEY); PRAGMA user_version = 99;", nullptr, nullptr,
                         nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  const auto before = fileBytes(file);
  HttpEndpoint endpoint({.file = file}, std::make_shared<LiveGauges>());
  const auto text = endpoint.renderMetrics();
  INFO(text);
  CHECK(text.find("# store unavailable: ") != std::string::npos);
  CHECK(text.find("99") != std::string::npos);
  CHECK(fileBytes(file) == before);
  CHECK_FALSE(fs::exists(dir.path() / "coordinator.db-wal"));
}

TEST_CASE("metrics endpoint: scrapes read what the coordinator commits, without writing",
          "[coordinator][metrics][http]") {
  TempDir dir;
  const auto file = dir.path() / "coordinator.db";
  auto writer = SqliteStore::open(file);
  REQUIRE(writer.ok());
  auto& store = **writer;
  REQUIRE(store.insertRollout(finished("web-1", "succeeded")).ok());

  HttpEndpoint endpoint({.file = file}, std::make_shared<LiveGauges>());
  auto text = endpoint.renderMetrics();
  INFO(text);
  CHECK(hasLine(text, "flotilla_rollouts_total{app=\"web\",outcome=\"succeeded\"} 1"));
  CHECK(text.find("# store unavailable") == std::string::npos);

  // Committed after the endpoint opened its store: the next scrape sees it.
  REQUIRE(store.begin().ok());
  REQUIRE(store.insertRollout(finished("web-2", "failed")).ok());
  REQUIRE(store.commit().ok());
  text = endpoint.renderMetrics();
  CHECK(hasLine(text, "flotilla_rollouts_total{app=\"web\",outcome=\"failed\"} 1"));
  CHECK(hasLine(text, "flotilla_rollout_duration_seconds_count{app=\"web\"} 2"));

  // A scrape while the coordinator holds a write transaction open neither
  // waits for it nor sees it.
  REQUIRE(store.begin().ok());
  REQUIRE(store.insertRollout(finished("web-3", "failed")).ok());
  text = endpoint.renderMetrics();
  CHECK(hasLine(text, "flotilla_rollouts_total{app=\"web\",outcome=\"failed\"} 1"));
  REQUIRE(store.commit().ok());
  CHECK(hasLine(endpoint.renderMetrics(), "flotilla_rollouts_total{app=\"web\",outcome=\"failed\"} 2"));
}
