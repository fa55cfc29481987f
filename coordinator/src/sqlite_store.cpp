#include "flotilla/coordinator/sqlite_store.h"

#include <cmath>
#include <limits>

#include <sqlite3.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "sqlite_migrations.h"
#include "sqlite_statement.h"

namespace flotilla::coordinator {
namespace {

using sqlite::Binder;
using sqlite::columnBlob;
using sqlite::columnText;

std::string mapToJson(const std::map<std::string, std::string>& m) { return nlohmann::json(m).dump(); }

std::map<std::string, std::string> jsonToMap(const unsigned char* text) {
  std::map<std::string, std::string> out;
  if (!text) return out;
  auto j = nlohmann::json::parse(reinterpret_cast<const char*>(text), nullptr, false);
  if (!j.is_object()) return out;
  for (auto& [k, v] : j.items())
    if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

RolloutRecord readRollout(sqlite3_stmt* s) {
  RolloutRecord r;
  r.id = columnText(s, 0);
  r.app = columnText(s, 1);
  r.version = columnText(s, 2);
  r.state = columnText(s, 3);
  r.plan_name = columnText(s, 4);
  r.artifact_digest = columnText(s, 5);
  r.submitted_by = columnText(s, 6);
  r.submitted_at_ms = sqlite3_column_int64(s, 7);
  r.started_at_ms = sqlite3_column_int64(s, 8);
  r.finished_at_ms = sqlite3_column_int64(s, 9);
  r.commit = columnText(s, 10);
  if (sqlite3_column_type(s, 11) != SQLITE_NULL) r.committed_at_ms = sqlite3_column_int64(s, 11);
  r.message = columnText(s, 12);
  r.snapshot = columnText(s, 13);
  r.engine = columnText(s, 14);
  r.plan_text = columnText(s, 15);
  r.unplanned = sqlite3_column_int(s, 16) != 0;
  return r;
}

constexpr const char* kRolloutColumns =
    "id, app, version, state, plan_name, artifact_digest, submitted_by, submitted_at_ms, started_at_ms, "
    "finished_at_ms, commit_id, committed_at_ms, message, snapshot, engine, plan_text, unplanned";

// Why a store cannot be written, in a person's words ("" when no usual reason shows).
std::string whyNotWritable(const std::filesystem::path& file) {
  struct statvfs fs {};
  const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  if (::statvfs(dir.c_str(), &fs) == 0 && (fs.f_flag & ST_RDONLY))
    return " (the file system holding it is mounted read-only)";
  if (::access(dir.c_str(), W_OK) != 0 || (std::filesystem::exists(file) && ::access(file.c_str(), W_OK) != 0))
    return " (the store or its directory is not writable by this user)";
  return "";
}

Result<sqlite3*> openHandle(const std::filesystem::path& file, int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error(Errc::kIo, "opening store " + file.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::filesystem::path& file) {
  auto db = openHandle(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return db.error();
  std::unique_ptr<SqliteStore> store(new SqliteStore(*db, file, false));
  auto prepared = [&]() -> Status {
    // SQLite falls back to a read-only handle when the file cannot be written;
    // refuse now rather than at the first write.
    if (sqlite3_db_readonly(*db, "main") == 1) return Error(Errc::kIo, "the file cannot be opened for writing");
    // A store too new is refused before anything, journal mode included, is written to it.
    auto version = sqlite::schemaVersion(*db);
    if (!version) return version.error();
    if (*version > kSchemaVersion) return sqlite::versionMismatch(file, *version, kSchemaVersion);
    FLOTILLA_TRY(store->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
    return sqlite::migrate(*db, file);
  }();
  if (!prepared.ok()) {
    if (prepared.error().code == Errc::kConflict) return prepared.error();  // names the file and both versions
    return Error(Errc::kIo, "opening store " + file.string() + ": " + prepared.error().message + whyNotWritable(file));
  }
  return store;
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::openReadOnly(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec))
    return Error(Errc::kNotFound, "store " + file.string() + " does not exist (a read-only open creates nothing)");
  auto db = openHandle(file, SQLITE_OPEN_READONLY);
  if (!db) return db.error();
  std::unique_ptr<SqliteStore> store(new SqliteStore(*db, file, true));
  auto version = sqlite::schemaVersion(*db);
  if (!version) return version.error().context("opening store " + file.string() + " read-only");
  if (*version != kSchemaVersion) return sqlite::versionMismatch(file, *version, kSchemaVersion);
  return store;
}

SqliteStore::~SqliteStore() {
  for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
  if (in_tx_) sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db_);
}

Error SqliteStore::sqlError(const std::string& what) const {
  return Error(Errc::kIo, "store: " + what + ": " + sqlite3_errmsg(db_));
}

Status SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Error(Errc::kIo, std::string("store: ") + msg);
  }
  return {};
}

Result<sqlite3_stmt*> SqliteStore::prepare(const char* sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return it->second;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return sqlError("preparing statement");
  stmts_.emplace(sql, s);
  return s;
}

Status SqliteStore::begin() {
  // Lazy: the transaction opens on the first write, so an iteration of the
  // reactor that writes nothing costs no BEGIN/COMMIT (and no WAL lock).
  want_tx_ = true;
  return {};
}

Status SqliteStore::write() {
  if (read_only_) return Error(Errc::kPermission, "store " + file_.string() + " is open read-only");
  if (!want_tx_ || in_tx_) return {};
  FLOTILLA_TRY(exec("BEGIN IMMEDIATE"));
  in_tx_ = true;
  return {};
}

Status SqliteStore::commit() {
  want_tx_ = false;
  if (!in_tx_) return {};
  in_tx_ = false;
  // After SQLITE_FULL or an I/O error SQLite may roll the transaction back by
  // itself; what was written in it is gone, and the caller must know.
  if (sqlite3_get_autocommit(db_))
    return Error(Errc::kIo, "store: the transaction was rolled back after a failed write; its writes are lost");
  if (auto st = exec("COMMIT"); !st.ok()) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return st;
  }
  return {};
}

Status SqliteStore::upsertAgent(const AgentRecord& a) {
  FLOTILLA_TRY(write());
  static const char* kSql =
      "INSERT INTO agents (id, curve_key, state, labels, releases, first_seen_ms, last_seen_ms) "
      "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET curve_key=excluded.curve_key, "
      "state=excluded.state, labels=excluded.labels, releases=excluded.releases, last_seen_ms=excluded.last_seen_ms";
  auto s = prepare(kSql);
  if (!s) return s.error();
  Binder b(*s);
  b.text(a.id).text(a.curve_key).text(a.state).text(mapToJson(a.labels)).text(mapToJson(a.releases));
  b.i64(a.first_seen_ms).i64(a.last_seen_ms);
  if (b.step() != SQLITE_DONE) return sqlError("saving agent " + a.id);
  return {};
}

Result<std::vector<AgentRecord>> SqliteStore::loadAgents() {
  auto s =
      prepare("SELECT id, curve_key, state, labels, releases, first_seen_ms, last_seen_ms FROM agents ORDER BY id");
  if (!s) return s.error();
  Binder b(*s);
  std::vector<AgentRecord> out;
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) {
    AgentRecord a;
    a.id = columnText(*s, 0);
    a.curve_key = columnText(*s, 1);
    a.state = columnText(*s, 2);
    a.labels = jsonToMap(sqlite3_column_text(*s, 3));
    a.releases = jsonToMap(sqlite3_column_text(*s, 4));
    a.first_seen_ms = sqlite3_column_int64(*s, 5);
    a.last_seen_ms = sqlite3_column_int64(*s, 6);
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return sqlError("loading agents");
  return out;
}

Status SqliteStore::putRelease(const ReleaseRecord& r) {
  FLOTILLA_TRY(write());
  auto s = prepare(
      "INSERT INTO releases (app, version, artifact_digest, artifact_size, spec, plan_text, release_signature) "
      "VALUES (?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(app, version) DO UPDATE SET artifact_digest=excluded.artifact_digest, "
      "artifact_size=excluded.artifact_size, spec=excluded.spec, plan_text=excluded.plan_text, "
      "release_signature=excluded.release_signature");
  if (!s) return s.error();
  Binder b(*s);
  b.text(r.app).text(r.version).text(r.artifact_digest).i64(static_cast<std::int64_t>(r.artifact_size));
  b.blob(r.spec).text(r.plan_text).text(r.release_signature);
  if (b.step() != SQLITE_DONE) return sqlError("saving release " + r.app + " " + r.version);
  return {};
}

Result<std::optional<ReleaseRecord>> SqliteStore::release(const std::string& app, const std::string& version) {
  auto s = prepare(
      "SELECT artifact_digest, artifact_size, spec, plan_text, release_signature FROM releases "
      "WHERE app = ? AND version = ?");
  if (!s) return s.error();
  Binder b(*s);
  b.text(app).text(version);
  int rc = b.step();
  if (rc == SQLITE_DONE) return std::optional<ReleaseRecord>();
  if (rc != SQLITE_ROW) return sqlError("reading release");
  ReleaseRecord r;
  r.app = app;
  r.version = version;
  r.artifact_digest = columnText(*s, 0);
  r.artifact_size = static_cast<std::uint64_t>(sqlite3_column_int64(*s, 1));
  r.spec = columnBlob(*s, 2);
  r.plan_text = columnText(*s, 3);
  r.release_signature = columnText(*s, 4);
  return std::optional<ReleaseRecord>(std::move(r));
}

Status SqliteStore::insertRollout(const RolloutRecord& r) {
  FLOTILLA_TRY(write());
  auto s = prepare(
      "INSERT INTO rollouts (id, app, version, state, plan_name, artifact_digest, submitted_by, submitted_at_ms, "
      "started_at_ms, finished_at_ms, commit_id, committed_at_ms, message, snapshot, engine, plan_text, unplanned) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  Binder b(*s);
  b.text(r.id).text(r.app).text(r.version).text(r.state).text(r.plan_name).text(r.artifact_digest);
  b.text(r.submitted_by).i64(r.submitted_at_ms).i64(r.started_at_ms).i64(r.finished_at_ms).text(r.commit);
  if (r.committed_at_ms)
    b.i64(*r.committed_at_ms);
  else
    b.null();
  b.text(r.message).text(r.snapshot).text(r.engine).text(r.plan_text).i64(r.unplanned ? 1 : 0);
  const int rc = b.step();
  if (rc == SQLITE_CONSTRAINT) return Error(Errc::kAlreadyExists, "store: rollout " + r.id + " already exists");
  if (rc != SQLITE_DONE) return sqlError("saving rollout " + r.id);
  return {};
}

Status SqliteStore::updateRollout(const RolloutRecord& r) {
  FLOTILLA_TRY(write());
  auto s = prepare(
      "UPDATE rollouts SET state = ?, started_at_ms = ?, finished_at_ms = ?, message = ?, snapshot = ?, engine = ? "
      "WHERE id = ?");
  if (!s) return s.error();
  Binder b(*s);
  b.text(r.state).i64(r.started_at_ms).i64(r.finished_at_ms).text(r.message).text(r.snapshot).text(r.engine).text(r.id);
  if (b.step() != SQLITE_DONE) return sqlError("updating rollout " + r.id);
  return {};
}

Result<std::optional<RolloutRecord>> SqliteStore::rollout(const std::string& id) {
  static const std::string sql = std::string("SELECT ") + kRolloutColumns + " FROM rollouts WHERE id = ?";
  auto s = prepare(sql.c_str());
  if (!s) return s.error();
  Binder b(*s);
  b.text(id);
  int rc = b.step();
  if (rc == SQLITE_DONE) return std::optional<RolloutRecord>();
  if (rc != SQLITE_ROW) return sqlError("reading rollout");
  return std::optional<RolloutRecord>(readRollout(*s));
}

Result<std::vector<RolloutRecord>> SqliteStore::rollouts(const std::string& app, std::size_t limit) {
  static const std::string sql = std::string("SELECT ") + kRolloutColumns +
                                 " FROM rollouts WHERE (?1 = '' OR app = ?1) ORDER BY submitted_at_ms DESC, rowid DESC "
                                 "LIMIT ?2";
  auto s = prepare(sql.c_str());
  if (!s) return s.error();
  Binder b(*s);
  b.text(app).i64(static_cast<std::int64_t>(limit));
  std::vector<RolloutRecord> out;
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) out.push_back(readRollout(*s));
  if (rc != SQLITE_DONE) return sqlError("listing rollouts");
  return out;
}

Result<std::vector<RolloutRecord>> SqliteStore::unfinishedRollouts() {
  static const std::string sql = std::string("SELECT ") + kRolloutColumns +
                                 " FROM rollouts WHERE finished_at_ms = 0 ORDER BY submitted_at_ms, rowid";
  auto s = prepare(sql.c_str());
  if (!s) return s.error();
  Binder b(*s);
  std::vector<RolloutRecord> out;
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) out.push_back(readRollout(*s));
  if (rc != SQLITE_DONE) return sqlError("listing unfinished rollouts");
  return out;
}

Result<std::int64_t> SqliteStore::countRollouts(const std::string& app) {
  auto s = prepare("SELECT COUNT(*) FROM rollouts WHERE app = ?");
  if (!s) return s.error();
  Binder b(*s);
  b.text(app);
  if (b.step() != SQLITE_ROW) return sqlError("counting rollouts");
  return static_cast<std::int64_t>(sqlite3_column_int64(*s, 0));
}

Result<std::vector<Store::WaveDuration>> SqliteStore::waveDurations() {
  auto s = prepare(
      "SELECT rollout_id, wave, kind, at_ms FROM events "
      "WHERE kind IN ('wave_started', 'wave_succeeded', 'wave_failed') ORDER BY seq");
  if (!s) return s.error();
  Binder b(*s);
  std::map<std::pair<std::string, int>, std::int64_t> started;
  std::vector<WaveDuration> out;
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) {
    std::string rollout = columnText(*s, 0);
    int wave = sqlite3_column_int(*s, 1);
    std::string kind = columnText(*s, 2);
    std::int64_t at = sqlite3_column_int64(*s, 3);
    auto key = std::make_pair(rollout, wave);
    if (kind == "wave_started") {
      started[key] = at;
      continue;
    }
    auto it = started.find(key);
    if (it == started.end()) continue;
    out.push_back({rollout, wave, static_cast<double>(at - it->second) / 1000.0, kind == "wave_succeeded"});
    started.erase(it);
  }
  if (rc != SQLITE_DONE) return sqlError("reading wave durations");
  return out;
}

Result<std::int64_t> SqliteStore::appendEvent(const EventRecord& e) {
  if (auto st = write(); !st.ok()) return st.error();
  auto s = prepare(
      "INSERT INTO events (rollout_id, at_ms, kind, agent_id, wave, message, actor) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  Binder b(*s);
  b.text(e.rollout_id).i64(e.at_ms).text(e.kind).text(e.agent_id).i64(e.wave).text(e.message).text(e.actor);
  if (b.step() != SQLITE_DONE) return sqlError("saving event");
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

namespace {

Result<std::vector<EventRecord>> readEvents(sqlite3_stmt* s, Binder& b) {
  std::vector<EventRecord> out;
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) {
    EventRecord e;
    e.seq = sqlite3_column_int64(s, 0);
    e.rollout_id = columnText(s, 1);
    e.at_ms = sqlite3_column_int64(s, 2);
    e.kind = columnText(s, 3);
    e.agent_id = columnText(s, 4);
    e.wave = sqlite3_column_int(s, 5);
    e.message = columnText(s, 6);
    e.actor = columnText(s, 7);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE)
    return Error(Errc::kIo, std::string("store: reading events: ") + sqlite3_errmsg(sqlite3_db_handle(s)));
  return out;
}

}  // namespace

Result<std::vector<EventRecord>> SqliteStore::events(const std::string& rollout_id, std::int64_t after_seq) {
  auto s = prepare(
      "SELECT seq, rollout_id, at_ms, kind, agent_id, wave, message, actor FROM events "
      "WHERE rollout_id = ? AND seq > ? ORDER BY seq");
  if (!s) return s.error();
  Binder b(*s);
  b.text(rollout_id).i64(after_seq);
  return readEvents(*s, b);
}

Result<std::vector<EventRecord>> SqliteStore::eventsAfter(std::int64_t after_seq, std::size_t limit) {
  auto s = prepare(
      "SELECT seq, rollout_id, at_ms, kind, agent_id, wave, message, actor FROM events "
      "WHERE seq > ? ORDER BY seq LIMIT ?");
  if (!s) return s.error();
  Binder b(*s);
  b.i64(after_seq).i64(static_cast<std::int64_t>(limit));
  return readEvents(*s, b);
}

Result<std::int64_t> SqliteStore::lastEventSeq() {
  auto s = prepare("SELECT COALESCE(MAX(seq), 0) FROM events");
  if (!s) return s.error();
  Binder b(*s);
  if (b.step() != SQLITE_ROW) return sqlError("reading the last event");
  return static_cast<std::int64_t>(sqlite3_column_int64(*s, 0));
}

Result<std::uint64_t> SqliteStore::nextSequence(const std::string& app) {
  if (auto st = write(); !st.ok()) return st.error();
  auto s = prepare(
      "INSERT INTO apps (app, sequence) VALUES (?, 1) ON CONFLICT(app) DO UPDATE SET sequence = sequence + 1 "
      "RETURNING sequence");
  if (!s) return s.error();
  Binder b(*s);
  b.text(app);
  if (b.step() != SQLITE_ROW) return sqlError("advancing the order sequence of " + app);
  auto v = static_cast<std::uint64_t>(sqlite3_column_int64(*s, 0));
  return v;
}

Result<std::uint64_t> SqliteStore::reserveSequences(const std::string& app, std::uint64_t n) {
  if (auto st = write(); !st.ok()) return st.error();
  auto s = prepare(
      "INSERT INTO apps (app, sequence) VALUES (?1, ?2) ON CONFLICT(app) DO UPDATE SET sequence = sequence + ?2 "
      "RETURNING sequence");
  if (!s) return s.error();
  Binder b(*s);
  b.text(app).i64(static_cast<std::int64_t>(n));
  if (b.step() != SQLITE_ROW) return sqlError("reserving order sequences of " + app);
  return static_cast<std::uint64_t>(sqlite3_column_int64(*s, 0));
}

Status SqliteStore::setCurrentRelease(const AppRecord& a) {
  FLOTILLA_TRY(write());
  auto s = prepare(
      "INSERT INTO apps (app, current_version, current_rollout, target) VALUES (?, ?, ?, ?) ON CONFLICT(app) DO UPDATE "
      "SET current_version = excluded.current_version, current_rollout = excluded.current_rollout, "
      "target = excluded.target");
  if (!s) return s.error();
  Binder b(*s);
  b.text(a.app).text(a.current_version).text(a.current_rollout).text(mapToJson(a.target));
  if (b.step() != SQLITE_DONE) return sqlError("saving the current release of " + a.app);
  return {};
}

Result<std::vector<AppRecord>> SqliteStore::apps() {
  auto s = prepare(
      "SELECT app, current_version, current_rollout, target FROM apps WHERE current_version != '' ORDER BY app");
  if (!s) return s.error();
  Binder b(*s);
  std::vector<AppRecord> out;
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) {
    AppRecord a;
    a.app = columnText(*s, 0);
    a.current_version = columnText(*s, 1);
    a.current_rollout = columnText(*s, 2);
    a.target = jsonToMap(sqlite3_column_text(*s, 3));
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return sqlError("reading current releases");
  return out;
}

Result<std::map<std::string, std::string>> SqliteStore::currentReleases() {
  auto list = apps();
  if (!list) return list.error();
  std::map<std::string, std::string> out;
  for (auto& a : *list) out[a.app] = a.current_version;
  return out;
}

Status SqliteStore::putRolloutHost(const std::string& rollout_id, const RolloutHostRecord& h) {
  FLOTILLA_TRY(write());
  auto s = prepare(
      "INSERT OR REPLACE INTO rollout_hosts (rollout_id, idx, agent_id, wave, state, phase, previous_version, message, "
      "moved, reverted_itself, order_id, sequence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  Binder b(*s);
  b.text(rollout_id).i64(static_cast<std::int64_t>(h.idx)).text(h.agent_id).i64(h.wave).text(h.state).text(h.phase);
  b.text(h.previous_version).text(h.message).i64(h.moved ? 1 : 0).i64(h.reverted_itself ? 1 : 0).text(h.order_id);
  b.i64(static_cast<std::int64_t>(h.sequence));
  if (b.step() != SQLITE_DONE) return sqlError("saving host " + h.agent_id + " of rollout " + rollout_id);
  return {};
}

Result<std::vector<RolloutHostRecord>> SqliteStore::rolloutHosts(const std::string& rollout_id) {
  auto s = prepare(
      "SELECT idx, agent_id, wave, state, phase, previous_version, message, moved, reverted_itself, order_id, sequence "
      "FROM rollout_hosts WHERE rollout_id = ? ORDER BY idx");
  if (!s) return s.error();
  Binder b(*s);
  b.text(rollout_id);
  std::vector<RolloutHostRecord> out;
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) {
    RolloutHostRecord h;
    h.idx = static_cast<std::size_t>(sqlite3_column_int64(*s, 0));
    h.agent_id = columnText(*s, 1);
    h.wave = sqlite3_column_int(*s, 2);
    h.state = columnText(*s, 3);
    h.phase = columnText(*s, 4);
    h.previous_version = columnText(*s, 5);
    h.message = columnText(*s, 6);
    h.moved = sqlite3_column_int(*s, 7) != 0;
    h.reverted_itself = sqlite3_column_int(*s, 8) != 0;
    h.order_id = columnText(*s, 9);
    h.sequence = static_cast<std::uint64_t>(sqlite3_column_int64(*s, 10));
    out.push_back(std::move(h));
  }
  if (rc != SQLITE_DONE) return sqlError("reading the hosts of rollout " + rollout_id);
  return out;
}

Result<std::optional<std::string>> SqliteStore::hostState(const std::string& rollout_id, const std::string& agent_id) {
  auto s = prepare("SELECT state FROM rollout_hosts WHERE agent_id = ? AND rollout_id = ?");
  if (!s) return s.error();
  Binder b(*s);
  b.text(agent_id).text(rollout_id);
  int rc = b.step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return sqlError("reading host " + agent_id + " of rollout " + rollout_id);
  return std::optional<std::string>(columnText(*s, 0));
}

Status SqliteStore::putToken(const TokenRecord& t) {
  FLOTILLA_TRY(write());
  auto s = prepare("INSERT OR REPLACE INTO tokens (token_hash, expires_at_ms, uses_left) VALUES (?, ?, ?)");
  if (!s) return s.error();
  Binder b(*s);
  b.text(t.token_hash).i64(t.expires_at_ms).i64(t.uses_left);
  if (b.step() != SQLITE_DONE) return sqlError("saving join token");
  return {};
}

Result<bool> SqliteStore::useToken(const std::string& token_hash, std::int64_t now_ms) {
  if (auto st = write(); !st.ok()) return st.error();
  auto s = prepare(
      "UPDATE tokens SET uses_left = CASE WHEN uses_left > 0 THEN uses_left - 1 ELSE uses_left END "
      "WHERE token_hash = ? AND expires_at_ms > ? AND uses_left != 0 RETURNING token_hash");
  if (!s) return s.error();
  Binder b(*s);
  b.text(token_hash).i64(now_ms);
  int rc = b.step();
  if (rc == SQLITE_ROW) {
    while (b.step() == SQLITE_ROW) {
    }
    return true;
  }
  if (rc != SQLITE_DONE) return sqlError("checking join token");
  return false;
}

Status SqliteStore::appendSamples(const std::vector<SampleRecord>& samples) {
  FLOTILLA_TRY(write());
  auto s = prepare(
      "INSERT INTO analysis_samples (rollout_id, wave, agent_id, role, metric, at_ms, value, num, den) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  for (const auto& x : samples) {
    Binder b(*s);
    b.text(x.rollout_id).i64(x.wave).text(x.agent_id).text(x.role).text(x.metric).i64(x.at_ms);
    // SQLite stores NaN as NULL; read back as NaN.
    if (std::isnan(x.value))
      b.null();
    else
      b.f64(x.value);
    b.f64(x.num).f64(x.den);
    if (b.step() != SQLITE_DONE) return sqlError("saving analysis samples");
  }
  return {};
}

Result<std::vector<SampleRecord>> SqliteStore::samples(const std::string& rollout_id, int wave) {
  auto s = prepare(
      "SELECT agent_id, role, metric, at_ms, value, num, den FROM analysis_samples "
      "WHERE rollout_id = ? AND wave = ? ORDER BY rowid");
  if (!s) return s.error();
  Binder b(*s);
  b.text(rollout_id).i64(wave);
  std::vector<SampleRecord> out;
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) {
    SampleRecord x;
    x.rollout_id = rollout_id;
    x.wave = wave;
    x.agent_id = columnText(*s, 0);
    x.role = columnText(*s, 1);
    x.metric = columnText(*s, 2);
    x.at_ms = sqlite3_column_int64(*s, 3);
    x.value = sqlite3_column_type(*s, 4) == SQLITE_NULL ? std::numeric_limits<double>::quiet_NaN()
                                                        : sqlite3_column_double(*s, 4);
    x.num = sqlite3_column_double(*s, 5);
    x.den = sqlite3_column_double(*s, 6);
    out.push_back(std::move(x));
  }
  if (rc != SQLITE_DONE) return sqlError("reading analysis samples");
  return out;
}

Status SqliteStore::putVerdict(const VerdictRecord& v) {
  FLOTILLA_TRY(write());
  auto s = prepare(
      "INSERT OR REPLACE INTO analysis_verdicts (rollout_id, wave, at_ms, outcome, score, json) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  Binder b(*s);
  b.text(v.rollout_id).i64(v.wave).i64(v.at_ms).text(v.outcome).f64(v.score).text(v.json);
  if (b.step() != SQLITE_DONE) return sqlError("saving an analysis verdict");
  return {};
}

Result<std::vector<VerdictRecord>> SqliteStore::verdicts(const std::string& rollout_id) {
  auto s =
      prepare("SELECT wave, at_ms, outcome, score, json FROM analysis_verdicts WHERE rollout_id = ? ORDER BY wave");
  if (!s) return s.error();
  Binder b(*s);
  b.text(rollout_id);
  std::vector<VerdictRecord> out;
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) {
    VerdictRecord v;
    v.rollout_id = rollout_id;
    v.wave = sqlite3_column_int(*s, 0);
    v.at_ms = sqlite3_column_int64(*s, 1);
    v.outcome = columnText(*s, 2);
    v.score = sqlite3_column_double(*s, 3);
    v.json = columnText(*s, 4);
    out.push_back(std::move(v));
  }
  if (rc != SQLITE_DONE) return sqlError("reading analysis verdicts");
  return out;
}

}  // namespace flotilla::coordinator
