// What only SqliteStore does: its file on disk, WAL, lazy transactions,
// versioned migrations (from stores made before versions were recorded too),
// and the read-only open. What every Store does is in store_contract.h.

#include "flotilla/coordinator/sqlite_store.h"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "flotilla/common/fs.h"
#include "store_records.h"
#include "support/temp_dir.h"

using flotilla::Errc;
using flotilla::coordinator::SqliteStore;
using flotilla::testing::TempDir;
using store_records::agent;
using store_records::ok;
using store_records::rolloutRecord;
using store_records::valueOf;
namespace fs = std::filesystem;

namespace {

constexpr int kVersion = SqliteStore::kSchemaVersion;

// A raw connection, to make and inspect stores behind SqliteStore's back.
class RawDb {
 public:
  explicit RawDb(const fs::path& file) { REQUIRE(sqlite3_open(file.c_str(), &db_) == SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    INFO(sql << ": " << (err ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }
  // The first column of the first row, as text ("" when there is none).
  std::string text(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
  }
  int version() { return std::stoi(text("PRAGMA user_version")); }
  bool hasColumn(const std::string& table, const std::string& column) {
    return text("SELECT 1 FROM pragma_table_info('" + table + "') WHERE name = '" + column + "'") == "1";
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string fileBytes(const fs::path& file) {
  auto bytes = flotilla::common::readFile(file);
  REQUIRE(bytes.ok());
  return *bytes;
}

// The schema exactly as the coordinator created it before versioned
// migrations (coordinator/src/store.cpp up to b18bae6), user_version 0.
const char* kUnversionedSchema = R"sql(
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY, curve_key TEXT NOT NULL, state TEXT NOT NULL,
  labels TEXT NOT NULL, releases TEXT NOT NULL,
  first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS releases (
  app TEXT NOT NULL, version TEXT NOT NULL, artifact_digest TEXT NOT NULL,
  artifact_size INTEGER NOT NULL, spec BLOB NOT NULL, plan_text TEXT NOT NULL,
  release_signature TEXT NOT NULL DEFAULT '', PRIMARY KEY (app, version));
CREATE TABLE IF NOT EXISTS rollouts (
  id TEXT PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL, state TEXT NOT NULL,
  plan_name TEXT NOT NULL, artifact_digest TEXT NOT NULL, submitted_by TEXT NOT NULL,
  submitted_at_ms INTEGER NOT NULL, started_at_ms INTEGER NOT NULL, finished_at_ms INTEGER NOT NULL,
  commit_id TEXT NOT NULL, committed_at_ms INTEGER, message TEXT NOT NULL, snapshot TEXT NOT NULL,
  engine TEXT NOT NULL DEFAULT '', plan_text TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS rollouts_app ON rollouts(app, submitted_at_ms);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id TEXT NOT NULL, at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL, agent_id TEXT NOT NULL, wave INTEGER NOT NULL, message TEXT NOT NULL,
  actor TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_rollout ON events(rollout_id, seq);
CREATE TABLE IF NOT EXISTS apps (
  app TEXT PRIMARY KEY, sequence INTEGER NOT NULL DEFAULT 0, current_version TEXT NOT NULL DEFAULT '',
  current_rollout TEXT NOT NULL DEFAULT '', target TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS rollout_hosts (
  rollout_id TEXT NOT NULL, idx INTEGER NOT NULL, agent_id TEXT NOT NULL, wave INTEGER NOT NULL,
  state TEXT NOT NULL, phase TEXT NOT NULL, previous_version TEXT NOT NULL, message TEXT NOT NULL,
  moved INTEGER NOT NULL, reverted_itself INTEGER NOT NULL, order_id TEXT NOT NULL, sequence INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, idx));
CREATE INDEX IF NOT EXISTS rollout_hosts_agent ON rollout_hosts(agent_id, rollout_id);
CREATE TABLE IF NOT EXISTS tokens (
  token_hash TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL, uses_left INTEGER NOT NULL);
)sql";

}  // namespace

TEST_CASE("sqlite store: a new file is made in WAL mode at the current schema version",
          "[coordinator][store][sqlite]") {
  TempDir dir;
  const auto file = dir.path() / "coordinator.db";
  { auto store = valueOf(SqliteStore::open(file)); }
  REQUIRE(fs::exists(file));
  RawDb db(file);
  CHECK(db.version() == kVersion);
  CHECK(db.text("PRAGMA journal_mode") == "wal");
}

TEST_CASE("sqlite store: opening in a missing directory is an I/O error naming the file",
          "[coordinator][store][sqlite]") {
  TempDir dir;
  auto s = SqliteStore::open(dir.path() / "no" / "such" / "dir" / "c.db");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == Errc::kIo);
  CHECK(s.error().message.find("c.db") != std::string::npos);
}

TEST_CASE("sqlite store: a file that is not a database is refused", "[coordinator][store][sqlite]") {
  TempDir dir;
  const auto file = dir.path() / "c.db";
  {
    std::ofstream out(file, std::ios::binary);
    out << std::string(8192, 'x');
  }
  for (bool read_only : {false, true}) {
    auto s = read_only ? SqliteStore::openReadOnly(file) : SqliteStore::open(file);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == Errc::kIo);
    CHECK(s.error().message.find(file.string()) != std::string::npos);
  }
  CHECK(fileBytes(file) == std::string(8192, 'x'));
}

TEST_CASE("sqlite store: a unit of work opens its transaction at the first write", "[coordinator][store][sqlite]") {
  TempDir dir;
  auto store = valueOf(SqliteStore::open(dir.path() / "c.db"));
  ok(store->begin());
  CHECK(valueOf(store->rollouts("", 10)).empty());  // reads do not open it
  CHECK_FALSE(store->inTransaction());
  ok(store->upsertAgent(agent("a")));
  CHECK(store->inTransaction());
  ok(store->commit());
  CHECK_FALSE(store->inTransaction());
  ok(store->upsertAgent(agent("b")));  // no unit armed: autocommit
  CHECK_FALSE(store->inTransaction());
}

TEST_CASE("sqlite store: opening a current store again writes nothing to it", "[coordinator][store][sqlite]") {
  TempDir dir;
  const auto file = dir.path() / "c.db";
  { auto store = valueOf(SqliteStore::open(file)); }
  const auto before = fileBytes(file);
  { auto again = valueOf(SqliteStore::open(file)); }
  CHECK(fileBytes(file) == before);
  CHECK(RawDb(file).version() == kVersion);
}

TEST_CASE("sqlite store: a store made before versions were recorded opens, is upgraded and works",
          "[coordinator][store][sqlite][migration]") {
  TempDir dir;
  const auto file = dir.path() / "old.db";
  {
    // As the previous code left it: its pragmas, its schema, some records.
    RawDb db(file);
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
    db.exec(kUnversionedSchema);
    db.exec(
        "INSERT INTO agents VALUES ('h0', 'k', 'accepted', '{\"role\":\"web\"}', '{\"web\":\"1.0\"}', 1, 2);"
        "INSERT INTO releases VALUES ('web', '1.0', 'd', 10, x'00ff', 'app = \"web\"', 'sig');"
        "INSERT INTO rollouts VALUES ('web-1', 'web', '1.0', 'succeeded', 'p.toml', 'd', 'me', 1, 1, 2, 'c', NULL, "
        "'done', '{}', '', 'plan');"
        "INSERT INTO events (rollout_id, at_ms, kind, agent_id, wave, message, actor) "
        "VALUES ('web-1', 1, 'rollout_started', '', -1, '', '');"
        "INSERT INTO apps VALUES ('web', 41, '1.0', 'web-1', '{\"role\":\"web\"}');"
        "INSERT INTO tokens VALUES ('hash', 9999999999999, 1);");
    REQUIRE(db.version() == 0);
  }
  auto store = valueOf(SqliteStore::open(file));
  CHECK(RawDb(file).version() == kVersion);

  auto agents = valueOf(store->loadAgents());
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].labels.at("role") == "web");
  auto rel = valueOf(store->release("web", "1.0"));
  REQUIRE(rel.has_value());
  CHECK(rel->spec == std::string("\x00\xff", 2));
  CHECK(rel->release_signature == "sig");
  auto r = valueOf(store->rollout("web-1"));
  REQUIRE(r.has_value());
  CHECK(r->plan_text == "plan");
  CHECK(valueOf(store->events("web-1", 0)).size() == 1);
  auto apps = valueOf(store->apps());
  REQUIRE(apps.size() == 1);
  CHECK(apps[0].current_rollout == "web-1");
  CHECK(apps[0].target.at("role") == "web");

  // And it takes writes.
  ok(store->begin());
  CHECK(valueOf(store->nextSequence("web")) == 42);  // sequences survive the upgrade
  CHECK(valueOf(store->useToken("hash", 0)));
  ok(store->insertRollout(rolloutRecord("web-2", "web", 5)));
  ok(store->upsertAgent(agent("h1")));
  ok(store->commit());
  CHECK(valueOf(store->rollouts("web", 10)).size() == 2);
  CHECK(valueOf(store->loadAgents()).size() == 2);
}

TEST_CASE("sqlite store: a store from before engine state and signatures gains their columns",
          "[coordinator][store][sqlite][migration]") {
  TempDir dir;
  const auto file = dir.path() / "older.db";
  {
    RawDb db(file);
    db.exec(
        "CREATE TABLE rollouts (id TEXT PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL, state TEXT NOT NULL, "
        "plan_name TEXT NOT NULL, artifact_digest TEXT NOT NULL, submitted_by TEXT NOT NULL, "
        "submitted_at_ms INTEGER NOT NULL, started_at_ms INTEGER NOT NULL, finished_at_ms INTEGER NOT NULL, "
        "commit_id TEXT NOT NULL, committed_at_ms INTEGER, message TEXT NOT NULL, snapshot TEXT NOT NULL);"
        "CREATE TABLE apps (app TEXT PRIMARY KEY, sequence INTEGER NOT NULL DEFAULT 0, "
        "current_version TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE releases (app TEXT NOT NULL, version TEXT NOT NULL, artifact_digest TEXT NOT NULL, "
        "artifact_size INTEGER NOT NULL, spec BLOB NOT NULL, plan_text TEXT NOT NULL, PRIMARY KEY (app, version));"
        "INSERT INTO apps (app, sequence, current_version) VALUES ('web', 41, '1.0');"
        "INSERT INTO releases VALUES ('web', '1.0', 'd', 1, x'00', 'p');"
        "INSERT INTO rollouts VALUES ('web-1', 'web', '1.0', 'succeeded', 'p.toml', 'd', 'me', 1, 1, 2, '', NULL, "
        "'done', '{}');");
  }
  auto store = valueOf(SqliteStore::open(file));
  auto r = valueOf(store->rollout("web-1"));
  REQUIRE(r.has_value());
  CHECK(r->engine.empty());
  CHECK(r->plan_text.empty());
  CHECK(valueOf(store->release("web", "1.0"))->release_signature.empty());
  CHECK(valueOf(store->currentReleases()).at("web") == "1.0");
  CHECK(valueOf(store->apps())[0].target.empty());
  CHECK(valueOf(store->nextSequence("web")) == 42);  // sequences survive the upgrade
  ok(store->putRolloutHost("web-1", {}));            // the tables it lacked were made
  RawDb db(file);
  CHECK(db.version() == kVersion);
  CHECK(db.hasColumn("releases", "release_signature"));
}

TEST_CASE("sqlite store: a migration that fails leaves the store at its version, none of it applied",
          "[coordinator][store][sqlite][migration]") {
  TempDir dir;
  const auto file = dir.path() / "c.db";
  {
    // Version 1, where version 2 adds releases.release_signature, then fails
    // on rollouts (a view: no column can be added to it).
    RawDb db(file);
    db.exec(
        "CREATE TABLE releases (app TEXT NOT NULL, version TEXT NOT NULL, artifact_digest TEXT NOT NULL, "
        "artifact_size INTEGER NOT NULL, spec BLOB NOT NULL, plan_text TEXT NOT NULL, PRIMARY KEY (app, version));"
        "CREATE VIEW rollouts AS SELECT 1 AS id;"
        "PRAGMA user_version = 1;");
  }
  auto s = SqliteStore::open(file);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find(file.string()) != std::string::npos);
  CHECK(s.error().message.find("schema version 2") != std::string::npos);
  RawDb db(file);
  CHECK(db.version() == 1);
  CHECK_FALSE(db.hasColumn("releases", "release_signature"));
}

TEST_CASE("sqlite store: a store at a newer schema version is refused and left untouched",
          "[coordinator][store][sqlite][migration]") {
  TempDir dir;
  const auto file = dir.path() / "future.db";
  {
    RawDb db(file);
    db.exec("CREATE TABLE things (id TEXT PRIMARY KEY); PRAGMA user_version = " + std::to_string(kVersion + 5) + ";");
  }
  const auto before = fileBytes(file);
  for (bool read_only : {false, true}) {
    auto s = read_only ? SqliteStore::openReadOnly(file) : SqliteStore::open(file);
    REQUIRE_FALSE(s.ok());
    INFO(s.error().message);
    CHECK(s.error().code == Errc::kConflict);
    CHECK(s.error().message.find(file.string()) != std::string::npos);
    CHECK(s.error().message.find("version " + std::to_string(kVersion + 5)) != std::string::npos);
    CHECK(s.error().message.find(std::to_string(kVersion)) != std::string::npos);
  }
  CHECK(fileBytes(file) == before);
  CHECK_FALSE(fs::exists(dir.path() / "future.db-wal"));
}

TEST_CASE("sqlite store: a read-only open creates nothing", "[coordinator][store][sqlite][readonly]") {
  TempDir dir;
  const auto file = dir.path() / "c.db";
  auto s = SqliteStore::openReadOnly(file);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == Errc::kNotFound);
  CHECK(s.error().message.find(file.string()) != std::string::npos);
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("sqlite store: a read-only open refuses a store not yet upgraded, and does not upgrade it",
          "[coordinator][store][sqlite][readonly]") {
  TempDir dir;
  const auto file = dir.path() / "old.db";
  {
    RawDb db(file);
    db.exec(kUnversionedSchema);
  }
  const auto before = fileBytes(file);
  auto s = SqliteStore::openReadOnly(file);
  REQUIRE_FALSE(s.ok());
  INFO(s.error().message);
  CHECK(s.error().code == Errc::kConflict);
  CHECK(s.error().message.find(file.string()) != std::string::npos);
  CHECK(s.error().message.find("version 0") != std::string::npos);
  CHECK(s.error().message.find("version " + std::to_string(kVersion)) != std::string::npos);
  CHECK(fileBytes(file) == before);
  CHECK(RawDb(file).version() == 0);
}

TEST_CASE("sqlite store: a read-only store reads what the writer commits while both are open",
          "[coordinator][store][sqlite][readonly]") {
  TempDir dir;
  const auto file = dir.path() / "c.db";
  auto writer = valueOf(SqliteStore::open(file));
  auto reader = valueOf(SqliteStore::openReadOnly(file));
  CHECK(valueOf(reader->rollouts("", 10)).empty());
  ok(writer->begin());
  ok(writer->insertRollout(rolloutRecord("r-1", "web", 1)));
  CHECK(valueOf(reader->rollouts("", 10)).empty());  // WAL: the last committed state
  ok(writer->commit());
  CHECK(valueOf(reader->rollouts("", 10)).size() == 1);
  // A read between the writer's commits does not hold up the next one.
  ok(writer->begin());
  ok(writer->insertRollout(rolloutRecord("r-2", "web", 2)));
  ok(writer->commit());
  CHECK(valueOf(reader->rollouts("", 10)).size() == 2);
  auto refused = reader->upsertAgent(agent("a"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("read-only") != std::string::npos);
}
