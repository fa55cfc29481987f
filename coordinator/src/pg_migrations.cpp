#include "pg_migrations.h"

#include <iterator>

#include "flotilla/coordinator/pg_store.h"

namespace flotilla::coordinator::pg {
namespace {

struct Migration {
  int version;
  const char* what;  // for error messages
  const char* sql;   // one or more statements, no parameters
};

// Version 1: the SQLite store's tables at its version 4, in PostgreSQL's types
// (bytea for blobs, boolean for flags, an insertion order where SQLite's rowid
// broke ties), and the uploaded artifacts' bytes.
constexpr const char* kCreateTables = R"sql(
CREATE TABLE agents (
  id TEXT PRIMARY KEY, curve_key TEXT NOT NULL, state TEXT NOT NULL,
  labels TEXT NOT NULL, releases TEXT NOT NULL,
  first_seen_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL);
CREATE TABLE releases (
  app TEXT NOT NULL, version TEXT NOT NULL, artifact_digest TEXT NOT NULL,
  artifact_size BIGINT NOT NULL, spec BYTEA NOT NULL, plan_text TEXT NOT NULL,
  release_signature TEXT NOT NULL DEFAULT '', PRIMARY KEY (app, version));
CREATE TABLE rollouts (
  id TEXT PRIMARY KEY, inserted BIGSERIAL NOT NULL, app TEXT NOT NULL, version TEXT NOT NULL,
  state TEXT NOT NULL, plan_name TEXT NOT NULL, artifact_digest TEXT NOT NULL, submitted_by TEXT NOT NULL,
  submitted_at_ms BIGINT NOT NULL, started_at_ms BIGINT NOT NULL, finished_at_ms BIGINT NOT NULL,
  commit_id TEXT NOT NULL, committed_at_ms BIGINT, message TEXT NOT NULL, snapshot TEXT NOT NULL,
  engine TEXT NOT NULL DEFAULT '', plan_text TEXT NOT NULL DEFAULT '', unplanned BOOLEAN NOT NULL DEFAULT false);
CREATE INDEX rollouts_app ON rollouts(app, submitted_at_ms);
CREATE INDEX rollouts_unfinished ON rollouts(finished_at_ms) WHERE finished_at_ms = 0;
CREATE TABLE events (
  seq BIGSERIAL PRIMARY KEY, rollout_id TEXT NOT NULL, at_ms BIGINT NOT NULL,
  kind TEXT NOT NULL, agent_id TEXT NOT NULL, wave INTEGER NOT NULL, message TEXT NOT NULL,
  actor TEXT NOT NULL);
CREATE INDEX events_rollout ON events(rollout_id, seq);
CREATE TABLE apps (
  app TEXT PRIMARY KEY, sequence BIGINT NOT NULL DEFAULT 0, current_version TEXT NOT NULL DEFAULT '',
  current_rollout TEXT NOT NULL DEFAULT '', target TEXT NOT NULL DEFAULT '{}');
CREATE TABLE rollout_hosts (
  rollout_id TEXT NOT NULL, idx BIGINT NOT NULL, agent_id TEXT NOT NULL, wave INTEGER NOT NULL,
  state TEXT NOT NULL, phase TEXT NOT NULL, previous_version TEXT NOT NULL, message TEXT NOT NULL,
  moved BOOLEAN NOT NULL, reverted_itself BOOLEAN NOT NULL, order_id TEXT NOT NULL, sequence BIGINT NOT NULL,
  PRIMARY KEY (rollout_id, idx));
CREATE INDEX rollout_hosts_agent ON rollout_hosts(agent_id, rollout_id);
CREATE TABLE tokens (
  token_hash TEXT PRIMARY KEY, expires_at_ms BIGINT NOT NULL, uses_left BIGINT NOT NULL);
CREATE TABLE analysis_samples (
  inserted BIGSERIAL PRIMARY KEY, rollout_id TEXT NOT NULL, wave INTEGER NOT NULL, agent_id TEXT NOT NULL,
  role TEXT NOT NULL, metric TEXT NOT NULL, at_ms BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,
  num DOUBLE PRECISION NOT NULL, den DOUBLE PRECISION NOT NULL);
CREATE INDEX analysis_samples_wave ON analysis_samples(rollout_id, wave);
CREATE TABLE analysis_verdicts (
  rollout_id TEXT NOT NULL, wave INTEGER NOT NULL, at_ms BIGINT NOT NULL, outcome TEXT NOT NULL,
  score DOUBLE PRECISION NOT NULL, json TEXT NOT NULL, PRIMARY KEY (rollout_id, wave));
CREATE TABLE artifacts (digest TEXT PRIMARY KEY, size BIGINT NOT NULL);
CREATE TABLE artifact_chunks (
  digest TEXT NOT NULL REFERENCES artifacts(digest) ON DELETE CASCADE, "offset" BIGINT NOT NULL,
  bytes BYTEA NOT NULL, PRIMARY KEY (digest, "offset"));
)sql";

// Version 2: the leadership lease (leadership_lease.h, docs/ha.md), one row
// that no coordinator holds yet (expired since forever, epoch 0).
constexpr const char* kCreateLease = R"sql(
CREATE TABLE leadership_lease (
  id INTEGER PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL, holder TEXT NOT NULL,
  agents_endpoint TEXT NOT NULL, control_endpoint TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL,
  holder_backend INTEGER NOT NULL DEFAULT 0);
INSERT INTO leadership_lease (id, epoch, holder, agents_endpoint, control_endpoint, expires_at)
  VALUES (1, 0, '', '', '', '-infinity');
)sql";

constexpr Migration kMigrations[] = {
    {1, "create the tables", kCreateTables},
    {2, "create the leadership lease", kCreateLease},
};
constexpr bool numberedFromOne() {
  for (std::size_t i = 0; i < std::size(kMigrations); ++i)
    if (kMigrations[i].version != static_cast<int>(i) + 1) return false;
  return true;
}
static_assert(numberedFromOne(), "migration i (from 0) brings a database to version i + 1");
static_assert(std::size(kMigrations) == PgStore::kSchemaVersion,
              "PgStore::kSchemaVersion is the number of the last migration");

// An arbitrary constant: the advisory lock that serialises migrations.
constexpr std::int64_t kMigrationLock = 0x666c6f74696c6c61;  // "flotilla"

Status applyAll(Connection& c) {
  FLOTILLA_TRY(c.exec("locking the schema", "SELECT pg_advisory_xact_lock($1)", {kMigrationLock}));
  FLOTILLA_TRY(
      c.exec("creating schema_version", "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  auto found = c.exec("reading the schema version", "SELECT version FROM schema_version");
  if (!found) return found.error();
  int version = 0;
  if (found->size() == 0) {
    FLOTILLA_TRY(c.exec("recording the schema version", "INSERT INTO schema_version (version) VALUES (0)"));
  } else {
    version = static_cast<int>(found->i64(0, 0));
  }
  if (version > PgStore::kSchemaVersion) return versionMismatch(c.displayUrl(), version, PgStore::kSchemaVersion);
  for (const auto& m : kMigrations) {
    if (m.version <= version) continue;
    if (auto st = c.script(m.what, m.sql); !st.ok())
      return st.error().context("migrating to schema version " + std::to_string(m.version));
    FLOTILLA_TRY(c.exec("recording the schema version", "UPDATE schema_version SET version = $1", {m.version}));
  }
  return {};
}

}  // namespace

Result<std::optional<int>> schemaVersion(Connection& c) {
  auto table = c.exec("looking for schema_version", "SELECT to_regclass('schema_version') IS NOT NULL");
  if (!table) return table.error();
  if (!table->flag(0, 0)) return std::optional<int>();
  auto v = c.exec("reading the schema version", "SELECT version FROM schema_version");
  if (!v) return v.error();
  if (v->size() == 0) return std::optional<int>();
  return std::optional<int>(static_cast<int>(v->i64(0, 0)));
}

Status migrate(Connection& c) {
  FLOTILLA_TRY(c.exec("starting the schema migration", "BEGIN"));
  auto applied = applyAll(c);
  if (!applied.ok()) {
    (void)c.exec("rolling back the schema migration", "ROLLBACK");
    return applied;
  }
  return c.exec("committing the schema migration", "COMMIT").ok()
             ? Status()
             : Status(Error(Errc::kIo, "store " + c.displayUrl() + ": the schema migration did not commit"));
}

Error versionMismatch(const std::string& display_url, int found, int known) {
  const std::string head =
      "store " + display_url + " is at schema version " + std::to_string(found) + ", and this flotilla-coordinator ";
  if (found > known)
    return Error(Errc::kConflict, head + "knows versions up to " + std::to_string(known) +
                                      ": a later release wrote it; run that release, or restore a backup taken "
                                      "before the upgrade");
  return Error(Errc::kConflict, head + "reads version " + std::to_string(known) +
                                    ": start flotilla-coordinator on it once to upgrade it");
}

}  // namespace flotilla::coordinator::pg
