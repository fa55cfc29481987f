#pragma once
// The coordinator's durable record, in the coordinator's own terms: agents,
// releases, rollouts with their hosts and events, each app's current release
// and order sequence, join tokens. `Store` is the interface every part above
// it uses; SqliteStore (sqlite_store.h) is the embedded default and PgStore
// (pg_store.h) keeps it in PostgreSQL, both behind openStore().
//
// The contract every implementation keeps, checked for each of them by
// tests/unit/coordinator/store_contract.h:
// - Units of work. begin() starts one; the writes made until commit() become
//   durable together at commit(), or not at all. The reactor wraps each burst
//   of work in one unit, so many writes share one flush: writes are batched by
//   construction, never one transaction per message. commit() after no write
//   succeeds and costs nothing; begin() inside a unit and commit() outside one
//   do nothing. A write outside any unit is durable when it returns. Reads
//   see the writes of the open unit.
// - A failed commit() loses every write of its unit and says so: the caller
//   must assume none of them stayed.
// - A lookup of an unknown id is not an error: it gives nullopt, an empty list,
//   or (useToken) false; updateRollout of an unknown id writes nothing.
//   Expected failures are values: kIo for the medium, kAlreadyExists for an id
//   that is taken, kPermission for a write to a read-only store, kNotFound for
//   a read-only open of a store that does not exist, kConflict for a store
//   whose schema version this code does not read.
// - Order sequences only go forward: a sequence handed out by a committed unit
//   is never handed out again, for the life of the store.
// - A Store object is used by one thread at a time. Several objects may open
//   the same store at once, from threads or processes: one that writes (the
//   reactor's) and any number opened read-only, which see committed work only.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/result.h"

namespace flotilla::coordinator {

struct AgentRecord {
  std::string id;
  std::string curve_key;  // hex X25519 public key the agent authenticated with
  std::string state;      // "accepted" | "pending" | "rejected" | "revoked"
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> releases;
  std::int64_t first_seen_ms = 0;
  std::int64_t last_seen_ms = 0;
};

struct ReleaseRecord {
  std::string app;
  std::string version;
  std::string artifact_digest;
  std::uint64_t artifact_size = 0;
  std::string spec;               // msgpack OrderSpec executed for this release
  std::string plan_text;          // the plan it was submitted with
  std::string release_signature;  // hex, from `flotilla sign`; "" = unsigned
};

struct RolloutRecord {
  std::string id;
  std::string app;
  std::string version;
  std::string state;
  std::string plan_name;
  std::string artifact_digest;
  std::string submitted_by;
  std::int64_t submitted_at_ms = 0;
  std::int64_t started_at_ms = 0;
  std::int64_t finished_at_ms = 0;  // 0 while running
  std::string commit;
  std::optional<std::int64_t> committed_at_ms;
  std::string message;
  std::string snapshot;   // JSON status document (see docs/protocol.md)
  std::string engine;     // JSON engine state of a rollout that has not finished (resumed after a restart)
  std::string plan_text;  // the plan as submitted (written once, with the rollout)
  // A deployment to fix a production problem: the plan's [change] unplanned,
  // or a rollback to an earlier release (DORA rework rate; written once).
  bool unplanned = false;
};

// One host of one rollout, as the rollout engine last left it. Written in the
// same transaction as the events that changed it, so a restarted coordinator
// resumes every host exactly where it was.
struct RolloutHostRecord {
  std::size_t idx = 0;  // position in the rollout's host order
  std::string agent_id;
  int wave = 0;
  std::string state;  // toString(HostState)
  std::string phase;
  std::string previous_version;
  std::string message;
  bool moved = false;
  bool reverted_itself = false;
  std::string order_id;  // the order in hand ("" = none)
  std::uint64_t sequence = 0;
};

// An app's current release: the last rollout that succeeded, and the labels it
// targeted (hosts that match and join later converge to it).
struct AppRecord {
  std::string app;
  std::string current_version;
  std::string current_rollout;
  std::map<std::string, std::string> target;
};

struct EventRecord {
  std::int64_t seq = 0;
  std::string rollout_id;
  std::int64_t at_ms = 0;
  std::string kind;
  std::string agent_id;
  int wave = -1;
  std::string message;
  std::string actor;
};

struct TokenRecord {
  std::string token_hash;
  std::int64_t expires_at_ms = 0;
  std::int64_t uses_left = -1;  // -1 = unlimited while valid
};

// One analysis sample a host sent for a rollout's wave (docs/analysis.md).
struct SampleRecord {
  std::string rollout_id;
  int wave = 0;
  std::string agent_id;
  std::string role;  // "canary" | "baseline"
  std::string metric;
  std::int64_t at_ms = 0;
  double value = 0, num = 0, den = 0;
};

// The judge's verdict on one wave of a rollout.
struct VerdictRecord {
  std::string rollout_id;
  int wave = 0;
  std::int64_t at_ms = 0;
  std::string outcome;  // "pass" | "marginal" | "fail"
  double score = 0;
  std::string json;  // the whole verdict (toJson(Verdict))
};

struct StoreOptions {
  std::filesystem::path file = {};  // the SQLite database file, when url is empty
  // A PostgreSQL store instead (pg_store.h): postgresql://USER@HOST:PORT/DB,
  // without a password. The password comes from password_file (its first
  // line) or, when that is empty, libpq's PGPASSWORD or ~/.pgpass.
  std::string url = {};
  std::filesystem::path password_file = {};
  // Read-only: no schema or migration work and no write; a store that does not
  // exist, or is not at the schema version this code writes, is refused.
  bool read_only = false;
  // PostgreSQL only: fence every unit of work on the leadership lease held in
  // this epoch by this holder (PgStore::fence, docs/ha.md); 0 = no fencing.
  std::uint64_t fence_epoch = 0;
  std::string fence_holder = {};
};

class Store {
 public:
  virtual ~Store() = default;

  // Units of work (see the contract above).
  virtual Status begin() = 0;
  virtual Status commit() = 0;

  // Inserts or updates by id; an update keeps first_seen_ms.
  virtual Status upsertAgent(const AgentRecord& a) = 0;
  // Every agent, ordered by id.
  virtual Result<std::vector<AgentRecord>> loadAgents() = 0;

  // Inserts or replaces (app, version).
  virtual Status putRelease(const ReleaseRecord& r) = 0;
  virtual Result<std::optional<ReleaseRecord>> release(const std::string& app, const std::string& version) = 0;

  // kAlreadyExists when the id is taken.
  virtual Status insertRollout(const RolloutRecord& r) = 0;
  // Writes what changes while a rollout runs: state, started/finished, message,
  // snapshot, engine. The rest is written once, by insertRollout.
  virtual Status updateRollout(const RolloutRecord& r) = 0;
  virtual Result<std::optional<RolloutRecord>> rollout(const std::string& id) = 0;
  // Newest submission first (ties: the later insert first); empty app = every app.
  virtual Result<std::vector<RolloutRecord>> rollouts(const std::string& app, std::size_t limit) = 0;
  virtual Result<std::int64_t> countRollouts(const std::string& app) = 0;
  // Rollouts not finished (finished_at_ms = 0), oldest first: what a restarted coordinator resumes.
  virtual Result<std::vector<RolloutRecord>> unfinishedRollouts() = 0;

  // (rollout, wave, seconds) for every wave that started and ended, oldest first.
  struct WaveDuration {
    std::string rollout_id;
    int wave = 0;
    double seconds = 0;
    bool succeeded = false;
  };
  // From the wave_started / wave_succeeded / wave_failed events.
  virtual Result<std::vector<WaveDuration>> waveDurations() = 0;

  // Returns the event's seq, greater than every seq before it (in any rollout).
  virtual Result<std::int64_t> appendEvent(const EventRecord& e) = 0;
  // The events of one rollout with seq > after_seq, in seq order.
  virtual Result<std::vector<EventRecord>> events(const std::string& rollout_id, std::int64_t after_seq) = 0;
  // The events of every rollout with seq > after_seq, in seq order, at most `limit`
  // (webhook notifications read the log this way, notify_worker.h).
  virtual Result<std::vector<EventRecord>> eventsAfter(std::int64_t after_seq, std::size_t limit) = 0;
  // The seq of the last event appended (0 when there is none).
  virtual Result<std::int64_t> lastEventSeq() = 0;

  // Per-app order sequence, starting at 1: returns the next value and records it.
  virtual Result<std::uint64_t> nextSequence(const std::string& app) = 0;
  // Reserves `n` sequences at once; returns the last (the first is last - n + 1).
  virtual Result<std::uint64_t> reserveSequences(const std::string& app, std::uint64_t n) = 0;
  // Sets an app's current release; its sequence is left as it is.
  virtual Status setCurrentRelease(const AppRecord& a) = 0;
  // Apps that have a current release, ordered by name.
  virtual Result<std::vector<AppRecord>> apps() = 0;
  // app -> current version, for the apps that have one.
  virtual Result<std::map<std::string, std::string>> currentReleases() = 0;

  // Inserts or replaces host h.idx of a rollout.
  virtual Status putRolloutHost(const std::string& rollout_id, const RolloutHostRecord& h) = 0;
  // Ordered by idx.
  virtual Result<std::vector<RolloutHostRecord>> rolloutHosts(const std::string& rollout_id) = 0;
  // The state of `agent_id` in `rollout_id` (nullopt when it was not part of it).
  virtual Result<std::optional<std::string>> hostState(const std::string& rollout_id, const std::string& agent_id) = 0;

  // Inserts or replaces a join token by its hash.
  virtual Status putToken(const TokenRecord& t) = 0;
  // Consumes one use of a valid token; false when unknown, expired (now_ms >=
  // expires_at_ms) or used up.
  virtual Result<bool> useToken(const std::string& token_hash, std::int64_t now_ms) = 0;

  // Analysis samples, appended in batches.
  virtual Status appendSamples(const std::vector<SampleRecord>& samples) = 0;
  // The samples of one wave of one rollout, in the order they were appended.
  virtual Result<std::vector<SampleRecord>> samples(const std::string& rollout_id, int wave) = 0;
  // Inserts or replaces the verdict of (rollout, wave).
  virtual Status putVerdict(const VerdictRecord& v) = 0;
  // The verdicts of one rollout, by wave.
  virtual Result<std::vector<VerdictRecord>> verdicts(const std::string& rollout_id) = 0;

 protected:
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
};

// The same store, opened read-only (the HTTP endpoint, dashboard, metrics and
// notify workers read the store that way, beside the reactor's writer).
inline StoreOptions asReadOnly(StoreOptions options) {
  options.read_only = true;
  return options;
}

// The PostgreSQL password: the first line of options.password_file, or ""
// (libpq then reads PGPASSWORD or ~/.pgpass) when there is none.
Result<std::string> storePassword(const StoreOptions& options);

// Checks the form of a store URL, postgresql://USER@HOST[:PORT]/DB (or
// postgres://), and that it carries no password; the error says what is wrong.
Status checkStoreUrl(const std::string& url);

// Opens the store `options` names, creating it and bringing its schema up to
// date unless it is read-only. The one place that knows the implementations.
Result<std::unique_ptr<Store>> openStore(const StoreOptions& options);

}  // namespace flotilla::coordinator
