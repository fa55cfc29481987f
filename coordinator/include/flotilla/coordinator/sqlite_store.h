#pragma once
// The Store (store.h) in one SQLite file: WAL, synchronous=NORMAL, explicit
// transactions. A unit of work is lazy: begin() arms a transaction that the
// first write opens (BEGIN IMMEDIATE), so a reactor iteration that writes
// nothing takes no lock and costs no commit.
//
// The schema carries its version in PRAGMA user_version and is brought up to
// date by an ordered list of migrations (sqlite_migrations.h), each applied
// once in its own transaction when the store is opened for writing. A file
// whose version is newer than kSchemaVersion is refused, never touched.
//
// A read-only store (openReadOnly) opens the file with SQLITE_OPEN_READONLY,
// runs no schema work, and refuses a missing file or one whose version is not
// kSchemaVersion. With WAL it reads the last committed state while another
// connection writes.
//
// Used by one thread at a time (not internally locked).

#include <filesystem>
#include <map>
#include <memory>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace flotilla::coordinator {

class SqliteStore final : public Store {
 public:
  // The schema version this code writes and reads (the last migration's).
  static constexpr int kSchemaVersion = 4;

  // Opens or creates `file` and migrates it to kSchemaVersion.
  static Result<std::unique_ptr<SqliteStore>> open(const std::filesystem::path& file);
  static Result<std::unique_ptr<SqliteStore>> openReadOnly(const std::filesystem::path& file);
  ~SqliteStore() override;

  // True once a write has opened the armed transaction, until commit().
  bool inTransaction() const { return in_tx_; }

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

 private:
  SqliteStore(sqlite3* db, std::filesystem::path file, bool read_only)
      : db_(db), file_(std::move(file)), read_only_(read_only) {}
  Status exec(const char* sql);
  Status write();  // refuses on a read-only store; opens the armed transaction
  Result<sqlite3_stmt*> prepare(const char* sql);
  Error sqlError(const std::string& what) const;

  sqlite3* db_;
  std::filesystem::path file_;
  bool read_only_;
  bool in_tx_ = false;
  bool want_tx_ = false;
  std::map<const char*, sqlite3_stmt*> stmts_;  // prepared once, keyed by the SQL text's address
};

}  // namespace flotilla::coordinator
