#pragma once
// The coordinator's durable record, in SQLite (WAL, synchronous=NORMAL inside
// explicit transactions). The reactor wraps each burst of work in
// begin()/commit(), so many writes share one fsync: writes are batched by
// construction, never one transaction per message.
//
// Owned and used by the reactor thread only.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/result.h"

struct sqlite3;
struct sqlite3_stmt;

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

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& file);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // begin() arms a transaction that the first write opens; commit() ends it
  // (nothing to do when nothing was written).
  Status begin();
  Status commit();
  bool inTransaction() const { return in_tx_; }

  Status upsertAgent(const AgentRecord& a);
  Result<std::vector<AgentRecord>> loadAgents();

  Status putRelease(const ReleaseRecord& r);
  Result<std::optional<ReleaseRecord>> release(const std::string& app, const std::string& version);

  Status insertRollout(const RolloutRecord& r);
  Status updateRollout(const RolloutRecord& r);
  Result<std::optional<RolloutRecord>> rollout(const std::string& id);
  // Newest first; empty app = every app.
  Result<std::vector<RolloutRecord>> rollouts(const std::string& app, std::size_t limit);

  Result<std::int64_t> countRollouts(const std::string& app);
  // Rollouts not finished (finished_at_ms = 0), oldest first: what a restarted coordinator resumes.
  Result<std::vector<RolloutRecord>> unfinishedRollouts();

  // (rollout, wave, seconds) for every wave that started and ended, oldest first.
  struct WaveDuration {
    std::string rollout_id;
    int wave = 0;
    double seconds = 0;
    bool succeeded = false;
  };
  Result<std::vector<WaveDuration>> waveDurations();

  Result<std::int64_t> appendEvent(const EventRecord& e);
  Result<std::vector<EventRecord>> events(const std::string& rollout_id, std::int64_t after_seq);

  // Per-app order sequence: returns the next value and records it.
  Result<std::uint64_t> nextSequence(const std::string& app);
  // Reserves `n` sequences at once; returns the last (the first is last - n + 1).
  Result<std::uint64_t> reserveSequences(const std::string& app, std::uint64_t n);
  Status setCurrentRelease(const AppRecord& a);
  Result<std::vector<AppRecord>> apps();
  Result<std::map<std::string, std::string>> currentReleases();

  Status putRolloutHost(const std::string& rollout_id, const RolloutHostRecord& h);
  Result<std::vector<RolloutHostRecord>> rolloutHosts(const std::string& rollout_id);
  // The state of `agent_id` in `rollout_id` (nullopt when it was not part of it).
  Result<std::optional<std::string>> hostState(const std::string& rollout_id, const std::string& agent_id);

  Status putToken(const TokenRecord& t);
  // Consumes one use of a valid token; false when unknown, expired or used up.
  Result<bool> useToken(const std::string& token_hash, std::int64_t now_ms);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status exec(const char* sql);
  Status migrate();
  Status write();  // opens the armed transaction before a write
  Result<sqlite3_stmt*> prepare(const char* sql);
  Error sqlError(const std::string& what) const;

  sqlite3* db_;
  bool in_tx_ = false;
  bool want_tx_ = false;
  std::map<const char*, sqlite3_stmt*> stmts_;
};

}  // namespace flotilla::coordinator
