#include "sqlite_migrations.h"

#include <iterator>
#include <string>

#include "flotilla/coordinator/sqlite_store.h"
#include "sqlite_statement.h"

namespace flotilla::coordinator::sqlite {
namespace {

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return Error(Errc::kIo, msg);
  }
  return {};
}

// Version 1: the tables as the coordinator made them before versions were
// recorded. IF NOT EXISTS, so that a store made by that code adopts them.
Status createTables(sqlite3* db) {
  return exec(db, R"sql(
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
)sql");
}

// Version 2: the columns that earlier releases added to existing tables on the
// fly. A store made by them may lack some; a store made by version 1 has them all.
Status addLateColumns(sqlite3* db) {
  struct Column {
    const char* table;
    const char* name;
    const char* ddl;
  };
  static const Column kAdded[] = {
      {"releases", "release_signature", "ALTER TABLE releases ADD COLUMN release_signature TEXT NOT NULL DEFAULT ''"},
      {"rollouts", "engine", "ALTER TABLE rollouts ADD COLUMN engine TEXT NOT NULL DEFAULT ''"},
      {"rollouts", "plan_text", "ALTER TABLE rollouts ADD COLUMN plan_text TEXT NOT NULL DEFAULT ''"},
      {"apps", "current_rollout", "ALTER TABLE apps ADD COLUMN current_rollout TEXT NOT NULL DEFAULT ''"},
      {"apps", "target", "ALTER TABLE apps ADD COLUMN target TEXT NOT NULL DEFAULT '{}'"},
  };
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", -1, &s, nullptr) != SQLITE_OK)
    return Error(Errc::kIo, sqlite3_errmsg(db));
  Status out;
  for (const auto& c : kAdded) {
    int rc;
    {
      Binder b(s);
      b.text(c.table).text(c.name);
      rc = b.step();
    }
    if (rc == SQLITE_DONE) out = exec(db, c.ddl);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
      out = Error(Errc::kIo, std::string("reading the columns of ") + c.table + ": " + sqlite3_errmsg(db));
    if (!out.ok()) break;
  }
  sqlite3_finalize(s);
  return out;
}

// Version 3: release analysis, the samples hosts send and each wave's verdict.
Status addAnalysisTables(sqlite3* db) {
  return exec(db, R"sql(
CREATE TABLE analysis_samples (
  rollout_id TEXT NOT NULL, wave INTEGER NOT NULL, agent_id TEXT NOT NULL, role TEXT NOT NULL,
  metric TEXT NOT NULL, at_ms INTEGER NOT NULL, value REAL, num REAL NOT NULL, den REAL NOT NULL);
CREATE INDEX analysis_samples_wave ON analysis_samples(rollout_id, wave);
CREATE TABLE analysis_verdicts (
  rollout_id TEXT NOT NULL, wave INTEGER NOT NULL, at_ms INTEGER NOT NULL, outcome TEXT NOT NULL,
  score REAL NOT NULL, json TEXT NOT NULL, PRIMARY KEY (rollout_id, wave));
)sql");
}

// Version 4: which deployments were unplanned (DORA's rework rate, docs/metrics.md).
Status addUnplanned(sqlite3* db) {
  return exec(db, "ALTER TABLE rollouts ADD COLUMN unplanned INTEGER NOT NULL DEFAULT 0");
}

constexpr Migration kMigrations[] = {
    {1, "create the tables", createTables},
    {2, "add the columns that stores made by earlier releases lack", addLateColumns},
    {3, "add the analysis tables", addAnalysisTables},
    {4, "add rollouts.unplanned", addUnplanned},
};
constexpr bool numberedFromOne() {
  for (std::size_t i = 0; i < std::size(kMigrations); ++i)
    if (kMigrations[i].version != static_cast<int>(i) + 1) return false;
  return true;
}
static_assert(numberedFromOne(), "migration i (from 0) brings a store to version i + 1");
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion,
              "SqliteStore::kSchemaVersion is the number of the last migration");

// One step: inside a write transaction, reads the version and applies the
// migration after it. Returns the version the store is at when it commits.
Result<int> step(sqlite3* db, const std::filesystem::path& file) {
  FLOTILLA_TRY(exec(db, "BEGIN IMMEDIATE"));
  auto done = [&]() -> Result<int> {
    auto v = schemaVersion(db);
    if (!v) return v.error();
    if (*v > SqliteStore::kSchemaVersion) return versionMismatch(file, *v, SqliteStore::kSchemaVersion);
    if (*v == SqliteStore::kSchemaVersion) return *v;
    const Migration& m = kMigrations[*v];
    if (auto st = m.apply(db); !st.ok())
      return st.error().context("migrating to schema version " + std::to_string(m.version) + " (" + m.what + ")");
    const std::string set = "PRAGMA user_version = " + std::to_string(m.version);
    FLOTILLA_TRY(exec(db, set.c_str()));
    return m.version;
  }();
  if (!done.ok()) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return done.error();
  }
  FLOTILLA_TRY(exec(db, "COMMIT"));
  return done;
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

Result<int> schemaVersion(sqlite3* db) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr) != SQLITE_OK)
    return Error(Errc::kIo, std::string("reading the schema version: ") + sqlite3_errmsg(db));
  const int rc = sqlite3_step(s);
  const int version = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
  const std::string why = sqlite3_errmsg(db);
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW) return Error(Errc::kIo, "reading the schema version: " + why);
  return version;
}

Status migrate(sqlite3* db, const std::filesystem::path& file) {
  // Read outside a transaction first: a store already current, or too new,
  // takes no write lock.
  auto v = schemaVersion(db);
  if (!v) return v.error();
  while (*v != SqliteStore::kSchemaVersion) {
    if (*v > SqliteStore::kSchemaVersion) return versionMismatch(file, *v, SqliteStore::kSchemaVersion);
    v = step(db, file);
    if (!v) return v.error();
  }
  return {};
}

Error versionMismatch(const std::filesystem::path& file, int found, int known) {
  const std::string head =
      "store " + file.string() + " is at schema version " + std::to_string(found) + ", and this flotilla-coordinator ";
  if (found > known)
    return Error(Errc::kConflict, head + "knows versions up to " + std::to_string(known) +
                                      ": a later release wrote it; run that release, or restore a backup taken "
                                      "before the upgrade");
  return Error(Errc::kConflict, head + "reads version " + std::to_string(known) +
                                    ": start flotilla-coordinator on it once to upgrade it");
}

}  // namespace flotilla::coordinator::sqlite
