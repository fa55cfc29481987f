#pragma once
// The Store (store.h) in a PostgreSQL database, for coordinators that run on a
// database their operators already keep (docs/postgresql.md). Reached through
// openStore() when coordinator.toml sets store.url.
//
// Units of work map onto PostgreSQL transactions the way SqliteStore maps
// them onto SQLite's: begin() arms a transaction that the first write opens
// (BEGIN), commit() commits it; a write outside a unit autocommits. A failed
// statement inside a unit, or a connection lost during one, makes commit()
// roll back and report that the unit's writes are lost. Statements are written
// so that the expected refusals (a rollout id taken) do not fail the
// transaction they run in, as with SQLite.
//
// The schema carries its version in the table schema_version and is brought up
// to date at open, in one transaction (pg_migrations.h). A read-only store
// runs no schema work, refuses a database never opened for writing (kNotFound)
// or at another version (kConflict), refuses every write itself (kPermission)
// and, in case one slipped through, its session's transactions are READ ONLY on
// the server as well.
//
// A dropped connection (server restart, pg_terminate_backend) fails the
// operation in flight with kUnavailable; the next operation reconnects.
//
// Inside a unit, putRolloutHost() only holds the row: the unit's host rows are
// written together when it commits, or before rolloutHosts()/hostState() read
// them, in multi-row statements (pg_host_batch.h), so a failure to write one
// is reported by commit(). Outside a unit each row is written at once.
//
// Uploaded artifacts are kept here too, in 256 KiB chunks (putArtifact /
// readArtifact), so any coordinator on the same database can serve them.
//
// Used by one thread at a time (not internally locked).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {

namespace pg {
class Connection;
class HostBatch;
}  // namespace pg

class PgStore final : public Store {
 public:
  // The schema version this code writes and reads (the last migration's).
  static constexpr int kSchemaVersion = 2;
  // The size of the chunks artifacts are stored in.
  static constexpr std::size_t kArtifactChunkBytes = std::size_t{256} << 10;

  // `url` is a libpq URI (postgresql://USER@HOST:PORT/DB); `password` "" =
  // libpq's own sources (PGPASSWORD, ~/.pgpass).
  static Result<std::unique_ptr<PgStore>> open(const std::string& url, const std::string& password);
  static Result<std::unique_ptr<PgStore>> openReadOnly(const std::string& url, const std::string& password);
  ~PgStore() override;

  // Fencing (leadership_lease.h, docs/ha.md): from now on every unit of work
  // that wrote checks, just before COMMIT and inside its transaction, that
  // `holder` still holds the leadership lease in `epoch`; when not, the unit
  // is rolled back and commit() fails with kConflict ("fenced: ..."). A
  // coordinator that lost its lease (paused, partitioned) can change nothing.
  void fence(std::uint64_t epoch, std::string holder);

  Status begin() override;
  Status commit() override;

  Status upsertAgent(const AgentRecord& a) override;
  Result<std::vector<AgentRecord>> loadAgents() override;

  Status putRelease(const ReleaseRecord& r) override;
  Result<std::optional<ReleaseRecord>> release(const std::string& app, const std::string& version) override;

  Status insertRollout(const RolloutRecord& r) override;
  Status updateRollout(const RolloutRecord& r) override;
  Result<std::optional<RolloutRecord>> rollout(const std::string& id) override;
  Result<std::vector<RolloutRecord>> rollouts(const std::string& app, std::size_t limit) override;
  Result<std::int64_t> countRollouts(const std::string& app) override;
  Result<std::vector<RolloutRecord>> unfinishedRollouts() override;
  Result<std::vector<WaveDuration>> waveDurations() override;

  Result<std::int64_t> appendEvent(const EventRecord& e) override;
  Result<std::vector<EventRecord>> events(const std::string& rollout_id, std::int64_t after_seq) override;
  Result<std::vector<EventRecord>> eventsAfter(std::int64_t after_seq, std::size_t limit) override;
  Result<std::int64_t> lastEventSeq() override;

  Result<std::uint64_t> nextSequence(const std::string& app) override;
  Result<std::uint64_t> reserveSequences(const std::string& app, std::uint64_t n) override;
  Status setCurrentRelease(const AppRecord& a) override;
  Result<std::vector<AppRecord>> apps() override;
  Result<std::map<std::string, std::string>> currentReleases() override;

  Status putRolloutHost(const std::string& rollout_id, const RolloutHostRecord& h) override;
  Result<std::vector<RolloutHostRecord>> rolloutHosts(const std::string& rollout_id) override;
  Result<std::optional<std::string>> hostState(const std::string& rollout_id, const std::string& agent_id) override;

  Status putToken(const TokenRecord& t) override;
  Result<bool> useToken(const std::string& token_hash, std::int64_t now_ms) override;
  Status appendSamples(const std::vector<SampleRecord>& samples) override;
  Result<std::vector<SampleRecord>> samples(const std::string& rollout_id, int wave) override;
  Status putVerdict(const VerdictRecord& v) override;
  Result<std::vector<VerdictRecord>> verdicts(const std::string& rollout_id) override;

  // Artifacts (outside units of work: each call is its own transaction).
  // Stores the file `file` as artifact `digest`, whole or not at all; a digest
  // already stored is left as it is.
  Status putArtifact(const std::string& digest, const std::filesystem::path& file);
  // The stored size of `digest`, nullopt when it is not stored.
  Result<std::optional<std::uint64_t>> artifactSize(const std::string& digest);
  // Calls `sink` with each chunk of `digest` in order (kNotFound when it is not stored).
  Status readArtifact(const std::string& digest, const std::function<Status(const std::string& bytes)>& sink);

 private:
  PgStore(std::unique_ptr<pg::Connection> c, bool read_only);
  Status write();  // refuses on a read-only store; opens the armed transaction
  // Writes the held host rows, unless the unit's connection was lost (then they are dropped with it).
  Status flushHosts();
  Error readOnlyError() const;

  std::unique_ptr<pg::Connection> conn_;
  std::unique_ptr<pg::HostBatch> hosts_;  // host rows of the open unit, not yet written
  bool read_only_;
  bool want_tx_ = false;
  bool in_tx_ = false;
  std::uint64_t fence_epoch_ = 0;  // 0 = not fenced (no leadership, or a read-only store)
  std::string fence_holder_;
};

}  // namespace flotilla::coordinator
