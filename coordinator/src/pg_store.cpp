#include "flotilla/coordinator/pg_store.h"

#include <nlohmann/json.hpp>

#include "lease_fence.h"
#include "pg_connection.h"
#include "pg_host_batch.h"
#include "pg_migrations.h"

namespace flotilla::coordinator {
namespace {

using pg::Param;
using pg::PgRows;

std::string mapToJson(const std::map<std::string, std::string>& m) { return nlohmann::json(m).dump(); }

std::map<std::string, std::string> jsonToMap(const std::string& text) {
  std::map<std::string, std::string> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return out;
  for (auto& [k, v] : j.items())
    if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

#define FLOTILLA_ROLLOUT_COLUMNS                                                                        \
  "id, app, version, state, plan_name, artifact_digest, submitted_by, submitted_at_ms, started_at_ms, " \
  "finished_at_ms, commit_id, committed_at_ms, message, snapshot, engine, plan_text, unplanned"

RolloutRecord readRollout(const PgRows& s, int row) {
  RolloutRecord r;
  r.id = s.text(row, 0);
  r.app = s.text(row, 1);
  r.version = s.text(row, 2);
  r.state = s.text(row, 3);
  r.plan_name = s.text(row, 4);
  r.artifact_digest = s.text(row, 5);
  r.submitted_by = s.text(row, 6);
  r.submitted_at_ms = s.i64(row, 7);
  r.started_at_ms = s.i64(row, 8);
  r.finished_at_ms = s.i64(row, 9);
  r.commit = s.text(row, 10);
  if (!s.isNull(row, 11)) r.committed_at_ms = s.i64(row, 11);
  r.message = s.text(row, 12);
  r.snapshot = s.text(row, 13);
  r.engine = s.text(row, 14);
  r.plan_text = s.text(row, 15);
  r.unplanned = s.flag(row, 16);
  return r;
}

std::vector<RolloutRecord> readRollouts(const PgRows& s) {
  std::vector<RolloutRecord> out;
  for (int i = 0; i < s.size(); ++i) out.push_back(readRollout(s, i));
  return out;
}

std::vector<EventRecord> readEvents(const PgRows& s) {
  std::vector<EventRecord> out;
  for (int i = 0; i < s.size(); ++i) {
    EventRecord e;
    e.seq = s.i64(i, 0);
    e.rollout_id = s.text(i, 1);
    e.at_ms = s.i64(i, 2);
    e.kind = s.text(i, 3);
    e.agent_id = s.text(i, 4);
    e.wave = static_cast<int>(s.i64(i, 5));
    e.message = s.text(i, 6);
    e.actor = s.text(i, 7);
    out.push_back(std::move(e));
  }
  return out;
}

Status done(const Result<PgRows>& r) { return r.ok() ? Status() : Status(r.error()); }

}  // namespace

PgStore::PgStore(std::unique_ptr<pg::Connection> c, bool read_only)
    : conn_(std::move(c)), hosts_(std::make_unique<pg::HostBatch>()), read_only_(read_only) {}

PgStore::~PgStore() {
  if (fence_epoch_ != 0) {
    if (in_tx_) (void)commit();  // a fenced unit commits only through the fence check
    return;
  }
  if (in_tx_) (void)flushHosts();
  if (in_tx_ && conn_->inTransaction() && !conn_->transactionFailed()) (void)conn_->exec("committing", "COMMIT");
}

Result<std::unique_ptr<PgStore>> PgStore::open(const std::string& url, const std::string& password) {
  auto c = pg::Connection::open({.url = url, .password = password, .read_only = false});
  if (!c) return c.error();
  if (auto st = pg::migrate(**c); !st.ok()) {
    if (st.error().code == Errc::kConflict) return st.error();
    return st.error().context("opening store " + (*c)->displayUrl());
  }
  return std::unique_ptr<PgStore>(new PgStore(std::move(*c), false));
}

Result<std::unique_ptr<PgStore>> PgStore::openReadOnly(const std::string& url, const std::string& password) {
  auto c = pg::Connection::open({.url = url, .password = password, .read_only = true});
  if (!c) return c.error();
  const std::string display = (*c)->displayUrl();
  auto version = pg::schemaVersion(**c);
  if (!version) return version.error().context("opening store " + display + " read-only");
  if (!*version)
    return Error(Errc::kNotFound, "store " + display +
                                      " holds no flotilla schema (a read-only open creates nothing; start "
                                      "flotilla-coordinator on it once)");
  if (**version != kSchemaVersion) return pg::versionMismatch(display, **version, kSchemaVersion);
  return std::unique_ptr<PgStore>(new PgStore(std::move(*c), true));
}

Error PgStore::readOnlyError() const {
  return Error(Errc::kPermission, "store " + conn_->displayUrl() + " is open read-only");
}

void PgStore::fence(std::uint64_t epoch, std::string holder) {
  fence_epoch_ = epoch;
  fence_holder_ = std::move(holder);
}

Status PgStore::begin() {
  // Lazy, as SqliteStore: a reactor iteration that writes nothing costs no round trip.
  want_tx_ = true;
  return {};
}

Status PgStore::write() {
  if (read_only_) return readOnlyError();
  if (in_tx_ && !conn_->inTransaction())
    return Error(Errc::kUnavailable, "store: the connection to " + conn_->displayUrl() +
                                         " was lost during this unit of work; its writes are lost");
  if (!want_tx_ || in_tx_) return {};
  FLOTILLA_TRY(conn_->exec("starting a unit of work", "BEGIN"));
  in_tx_ = true;
  return {};
}

Status PgStore::flushHosts() {
  if (hosts_->empty()) return {};
  if (in_tx_ && (conn_->broken() || !conn_->inTransaction())) {
    hosts_->clear();  // never write them outside the unit they belong to
    return Error(Errc::kUnavailable, "store: the connection to " + conn_->displayUrl() +
                                         " was lost during this unit of work; its writes are lost");
  }
  return hosts_->flush(*conn_);
}

Status PgStore::commit() {
  want_tx_ = false;
  if (!in_tx_) return {};
  // A failure here fails the transaction (or finds it lost): reported below.
  const Status held = flushHosts();
  in_tx_ = false;
  if (conn_->broken() || !conn_->inTransaction())
    return Error(Errc::kUnavailable, "store: the connection to " + conn_->displayUrl() +
                                         " was lost before commit; the unit's writes are lost");
  if (conn_->transactionFailed() || !held.ok()) {
    (void)conn_->exec("rolling back", "ROLLBACK");
    return Error(Errc::kIo, "store: a write failed in this unit of work, which was rolled back; its writes are lost" +
                                (held.ok() ? std::string() : " (" + held.error().message + ")"));
  }
  if (fence_epoch_ != 0) {
    if (auto fenced = pg::checkLeaseFence(*conn_, fence_epoch_, fence_holder_); !fenced.ok()) {
      if (conn_->inTransaction()) (void)conn_->exec("rolling back", "ROLLBACK");
      return fenced.error();
    }
  }
  if (auto r = conn_->exec("committing", "COMMIT"); !r) {
    if (conn_->inTransaction()) (void)conn_->exec("rolling back", "ROLLBACK");
    return r.error().context("its writes are lost");
  }
  return {};
}

Status PgStore::upsertAgent(const AgentRecord& a) {
  FLOTILLA_TRY(write());
  return done(conn_->exec(
      "saving agent " + a.id,
      "INSERT INTO agents (id, curve_key, state, labels, releases, first_seen_ms, last_seen_ms) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET curve_key = excluded.curve_key, "
      "state = excluded.state, labels = excluded.labels, releases = excluded.releases, "
      "last_seen_ms = excluded.last_seen_ms",
      {a.id, a.curve_key, a.state, mapToJson(a.labels), mapToJson(a.releases), a.first_seen_ms, a.last_seen_ms}));
}

Result<std::vector<AgentRecord>> PgStore::loadAgents() {
  auto s = conn_->exec("loading agents",
                       "SELECT id, curve_key, state, labels, releases, first_seen_ms, last_seen_ms FROM agents "
                       "ORDER BY id COLLATE \"C\"");
  if (!s) return s.error();
  std::vector<AgentRecord> out;
  for (int i = 0; i < s->size(); ++i) {
    AgentRecord a;
    a.id = s->text(i, 0);
    a.curve_key = s->text(i, 1);
    a.state = s->text(i, 2);
    a.labels = jsonToMap(s->text(i, 3));
    a.releases = jsonToMap(s->text(i, 4));
    a.first_seen_ms = s->i64(i, 5);
    a.last_seen_ms = s->i64(i, 6);
    out.push_back(std::move(a));
  }
  return out;
}

Status PgStore::putRelease(const ReleaseRecord& r) {
  FLOTILLA_TRY(write());
  return done(conn_->exec(
      "saving release " + r.app + " " + r.version,
      "INSERT INTO releases (app, version, artifact_digest, artifact_size, spec, plan_text, release_signature) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app, version) DO UPDATE SET "
      "artifact_digest = excluded.artifact_digest, artifact_size = excluded.artifact_size, spec = excluded.spec, "
      "plan_text = excluded.plan_text, release_signature = excluded.release_signature",
      {r.app, r.version, r.artifact_digest, static_cast<std::int64_t>(r.artifact_size), Param::bytes(r.spec),
       r.plan_text, r.release_signature}));
}

Result<std::optional<ReleaseRecord>> PgStore::release(const std::string& app, const std::string& version) {
  auto s = conn_->exec("reading release " + app + " " + version,
                       "SELECT artifact_digest, artifact_size, spec, plan_text, release_signature FROM releases "
                       "WHERE app = $1 AND version = $2",
                       {app, version});
  if (!s) return s.error();
  if (s->size() == 0) return std::optional<ReleaseRecord>();
  ReleaseRecord r;
  r.app = app;
  r.version = version;
  r.artifact_digest = s->text(0, 0);
  r.artifact_size = static_cast<std::uint64_t>(s->i64(0, 1));
  r.spec = s->bytes(0, 2);
  r.plan_text = s->text(0, 3);
  r.release_signature = s->text(0, 4);
  return std::optional<ReleaseRecord>(std::move(r));
}

Status PgStore::insertRollout(const RolloutRecord& r) {
  FLOTILLA_TRY(write());
  // ON CONFLICT DO NOTHING: a taken id is refused without failing the unit of work.
  auto s = conn_->exec(
      "saving rollout " + r.id,
      "INSERT INTO rollouts (" FLOTILLA_ROLLOUT_COLUMNS
      ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
      "ON CONFLICT (id) DO NOTHING RETURNING id",
      {r.id, r.app, r.version, r.state, r.plan_name, r.artifact_digest, r.submitted_by, r.submitted_at_ms,
       r.started_at_ms, r.finished_at_ms, r.commit, r.committed_at_ms ? Param(*r.committed_at_ms) : Param(nullptr),
       r.message, r.snapshot, r.engine, r.plan_text, Param::flag(r.unplanned)});
  if (!s) return s.error();
  if (s->size() == 0) return Error(Errc::kAlreadyExists, "store: rollout " + r.id + " already exists");
  return {};
}

Status PgStore::updateRollout(const RolloutRecord& r) {
  FLOTILLA_TRY(write());
  return done(conn_->exec("updating rollout " + r.id,
                          "UPDATE rollouts SET state = $1, started_at_ms = $2, finished_at_ms = $3, message = $4, "
                          "snapshot = $5, engine = $6 WHERE id = $7",
                          {r.state, r.started_at_ms, r.finished_at_ms, r.message, r.snapshot, r.engine, r.id}));
}

Result<std::optional<RolloutRecord>> PgStore::rollout(const std::string& id) {
  auto s =
      conn_->exec("reading rollout " + id, "SELECT " FLOTILLA_ROLLOUT_COLUMNS " FROM rollouts WHERE id = $1", {id});
  if (!s) return s.error();
  if (s->size() == 0) return std::optional<RolloutRecord>();
  return std::optional<RolloutRecord>(readRollout(*s, 0));
}

Result<std::vector<RolloutRecord>> PgStore::rollouts(const std::string& app, std::size_t limit) {
  auto s = conn_->exec("listing rollouts",
                       "SELECT " FLOTILLA_ROLLOUT_COLUMNS
                       " FROM rollouts WHERE ($1::text = '' OR app = $1::text) "
                       "ORDER BY submitted_at_ms DESC, inserted DESC LIMIT $2",
                       {app, static_cast<std::int64_t>(limit)});
  if (!s) return s.error();
  return readRollouts(*s);
}

Result<std::vector<RolloutRecord>> PgStore::unfinishedRollouts() {
  auto s = conn_->exec("listing unfinished rollouts", "SELECT " FLOTILLA_ROLLOUT_COLUMNS
                                                      " FROM rollouts WHERE finished_at_ms = 0 "
                                                      "ORDER BY submitted_at_ms, inserted");
  if (!s) return s.error();
  return readRollouts(*s);
}

Result<std::int64_t> PgStore::countRollouts(const std::string& app) {
  auto s = conn_->exec("counting rollouts", "SELECT COUNT(*) FROM rollouts WHERE app = $1", {app});
  if (!s) return s.error();
  return s->i64(0, 0);
}

Result<std::vector<Store::WaveDuration>> PgStore::waveDurations() {
  auto s = conn_->exec("reading wave durations",
                       "SELECT rollout_id, wave, kind, at_ms FROM events "
                       "WHERE kind IN ('wave_started', 'wave_succeeded', 'wave_failed') ORDER BY seq");
  if (!s) return s.error();
  std::map<std::pair<std::string, int>, std::int64_t> started;
  std::vector<WaveDuration> out;
  for (int i = 0; i < s->size(); ++i) {
    auto key = std::make_pair(s->text(i, 0), static_cast<int>(s->i64(i, 1)));
    const std::string kind = s->text(i, 2);
    const std::int64_t at = s->i64(i, 3);
    if (kind == "wave_started") {
      started[key] = at;
      continue;
    }
    auto it = started.find(key);
    if (it == started.end()) continue;
    out.push_back({key.first, key.second, static_cast<double>(at - it->second) / 1000.0, kind == "wave_succeeded"});
    started.erase(it);
  }
  return out;
}

Result<std::int64_t> PgStore::appendEvent(const EventRecord& e) {
  if (auto st = write(); !st.ok()) return st.error();
  auto s = conn_->exec("saving event",
                       "INSERT INTO events (rollout_id, at_ms, kind, agent_id, wave, message, actor) "
                       "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
                       {e.rollout_id, e.at_ms, e.kind, e.agent_id, e.wave, e.message, e.actor});
  if (!s) return s.error();
  return s->i64(0, 0);
}

Result<std::vector<EventRecord>> PgStore::events(const std::string& rollout_id, std::int64_t after_seq) {
  auto s = conn_->exec("reading events",
                       "SELECT seq, rollout_id, at_ms, kind, agent_id, wave, message, actor FROM events "
                       "WHERE rollout_id = $1 AND seq > $2 ORDER BY seq",
                       {rollout_id, after_seq});
  if (!s) return s.error();
  return readEvents(*s);
}

Result<std::vector<EventRecord>> PgStore::eventsAfter(std::int64_t after_seq, std::size_t limit) {
  auto s = conn_->exec("reading events",
                       "SELECT seq, rollout_id, at_ms, kind, agent_id, wave, message, actor FROM events "
                       "WHERE seq > $1 ORDER BY seq LIMIT $2",
                       {after_seq, static_cast<std::int64_t>(limit)});
  if (!s) return s.error();
  return readEvents(*s);
}

Result<std::int64_t> PgStore::lastEventSeq() {
  auto s = conn_->exec("reading the last event", "SELECT COALESCE(MAX(seq), 0) FROM events");
  if (!s) return s.error();
  return s->i64(0, 0);
}

Result<std::uint64_t> PgStore::nextSequence(const std::string& app) { return reserveSequences(app, 1); }

Result<std::uint64_t> PgStore::reserveSequences(const std::string& app, std::uint64_t n) {
  if (auto st = write(); !st.ok()) return st.error();
  auto s = conn_->exec("reserving order sequences of " + app,
                       "INSERT INTO apps (app, sequence) VALUES ($1, $2) ON CONFLICT (app) DO UPDATE "
                       "SET sequence = apps.sequence + excluded.sequence RETURNING sequence",
                       {app, static_cast<std::int64_t>(n)});
  if (!s) return s.error();
  return static_cast<std::uint64_t>(s->i64(0, 0));
}

Status PgStore::setCurrentRelease(const AppRecord& a) {
  FLOTILLA_TRY(write());
  return done(conn_->exec("saving the current release of " + a.app,
                          "INSERT INTO apps (app, current_version, current_rollout, target) VALUES ($1, $2, $3, $4) "
                          "ON CONFLICT (app) DO UPDATE SET current_version = excluded.current_version, "
                          "current_rollout = excluded.current_rollout, target = excluded.target",
                          {a.app, a.current_version, a.current_rollout, mapToJson(a.target)}));
}

Result<std::vector<AppRecord>> PgStore::apps() {
  auto s = conn_->exec("reading current releases",
                       "SELECT app, current_version, current_rollout, target FROM apps WHERE current_version != '' "
                       "ORDER BY app COLLATE \"C\"");
  if (!s) return s.error();
  std::vector<AppRecord> out;
  for (int i = 0; i < s->size(); ++i)
    out.push_back(AppRecord{s->text(i, 0), s->text(i, 1), s->text(i, 2), jsonToMap(s->text(i, 3))});
  return out;
}

Result<std::map<std::string, std::string>> PgStore::currentReleases() {
  auto list = apps();
  if (!list) return list.error();
  std::map<std::string, std::string> out;
  for (auto& a : *list) out[a.app] = a.current_version;
  return out;
}

Status PgStore::putRolloutHost(const std::string& rollout_id, const RolloutHostRecord& h) {
  FLOTILLA_TRY(write());
  hosts_->add(rollout_id, h);
  return in_tx_ ? Status() : flushHosts();  // outside a unit: at once, as every other write
}

Result<std::vector<RolloutHostRecord>> PgStore::rolloutHosts(const std::string& rollout_id) {
  FLOTILLA_TRY(flushHosts());
  auto s = conn_->exec("reading the hosts of rollout " + rollout_id,
                       "SELECT idx, agent_id, wave, state, phase, previous_version, message, moved, reverted_itself, "
                       "order_id, sequence FROM rollout_hosts WHERE rollout_id = $1 ORDER BY idx",
                       {rollout_id});
  if (!s) return s.error();
  std::vector<RolloutHostRecord> out;
  for (int i = 0; i < s->size(); ++i) {
    RolloutHostRecord h;
    h.idx = static_cast<std::size_t>(s->i64(i, 0));
    h.agent_id = s->text(i, 1);
    h.wave = static_cast<int>(s->i64(i, 2));
    h.state = s->text(i, 3);
    h.phase = s->text(i, 4);
    h.previous_version = s->text(i, 5);
    h.message = s->text(i, 6);
    h.moved = s->flag(i, 7);
    h.reverted_itself = s->flag(i, 8);
    h.order_id = s->text(i, 9);
    h.sequence = static_cast<std::uint64_t>(s->i64(i, 10));
    out.push_back(std::move(h));
  }
  return out;
}

Result<std::optional<std::string>> PgStore::hostState(const std::string& rollout_id, const std::string& agent_id) {
  FLOTILLA_TRY(flushHosts());
  auto s =
      conn_->exec("reading host " + agent_id + " of rollout " + rollout_id,
                  "SELECT state FROM rollout_hosts WHERE agent_id = $1 AND rollout_id = $2", {agent_id, rollout_id});
  if (!s) return s.error();
  if (s->size() == 0) return std::optional<std::string>();
  return std::optional<std::string>(s->text(0, 0));
}

Status PgStore::putToken(const TokenRecord& t) {
  FLOTILLA_TRY(write());
  return done(conn_->exec("saving join token",
                          "INSERT INTO tokens (token_hash, expires_at_ms, uses_left) VALUES ($1, $2, $3) "
                          "ON CONFLICT (token_hash) DO UPDATE SET expires_at_ms = excluded.expires_at_ms, "
                          "uses_left = excluded.uses_left",
                          {t.token_hash, t.expires_at_ms, t.uses_left}));
}

Result<bool> PgStore::useToken(const std::string& token_hash, std::int64_t now_ms) {
  if (auto st = write(); !st.ok()) return st.error();
  auto s = conn_->exec("checking join token",
                       "UPDATE tokens SET uses_left = CASE WHEN uses_left > 0 THEN uses_left - 1 ELSE uses_left END "
                       "WHERE token_hash = $1 AND expires_at_ms > $2 AND uses_left != 0 RETURNING token_hash",
                       {token_hash, now_ms});
  if (!s) return s.error();
  return s->size() > 0;
}

Status PgStore::appendSamples(const std::vector<SampleRecord>& samples) {
  FLOTILLA_TRY(write());
  for (const auto& x : samples)
    FLOTILLA_TRY(
        conn_->exec("saving analysis samples",
                    "INSERT INTO analysis_samples (rollout_id, wave, agent_id, role, metric, at_ms, value, num, "
                    "den) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    {x.rollout_id, x.wave, x.agent_id, x.role, x.metric, x.at_ms, x.value, x.num, x.den}));
  return {};
}

Result<std::vector<SampleRecord>> PgStore::samples(const std::string& rollout_id, int wave) {
  auto s = conn_->exec("reading analysis samples",
                       "SELECT agent_id, role, metric, at_ms, value, num, den FROM analysis_samples "
                       "WHERE rollout_id = $1 AND wave = $2 ORDER BY inserted",
                       {rollout_id, wave});
  if (!s) return s.error();
  std::vector<SampleRecord> out;
  for (int i = 0; i < s->size(); ++i)
    out.push_back(SampleRecord{rollout_id, wave, s->text(i, 0), s->text(i, 1), s->text(i, 2), s->i64(i, 3),
                               s->f64(i, 4), s->f64(i, 5), s->f64(i, 6)});
  return out;
}

Status PgStore::putVerdict(const VerdictRecord& v) {
  FLOTILLA_TRY(write());
  return done(conn_->exec("saving an analysis verdict",
                          "INSERT INTO analysis_verdicts (rollout_id, wave, at_ms, outcome, score, json) "
                          "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rollout_id, wave) DO UPDATE SET "
                          "at_ms = excluded.at_ms, outcome = excluded.outcome, score = excluded.score, "
                          "json = excluded.json",
                          {v.rollout_id, v.wave, v.at_ms, v.outcome, v.score, v.json}));
}

Result<std::vector<VerdictRecord>> PgStore::verdicts(const std::string& rollout_id) {
  auto s = conn_->exec("reading analysis verdicts",
                       "SELECT wave, at_ms, outcome, score, json FROM analysis_verdicts WHERE rollout_id = $1 "
                       "ORDER BY wave",
                       {rollout_id});
  if (!s) return s.error();
  std::vector<VerdictRecord> out;
  for (int i = 0; i < s->size(); ++i)
    out.push_back(VerdictRecord{rollout_id, static_cast<int>(s->i64(i, 0)), s->i64(i, 1), s->text(i, 2), s->f64(i, 3),
                                s->text(i, 4)});
  return out;
}

#undef FLOTILLA_ROLLOUT_COLUMNS

}  // namespace flotilla::coordinator
