#pragma once
// The leadership lease in the PostgreSQL store (docs/ha.md): one row,
// leadership_lease, saying which coordinator leads, in which epoch, until when,
// and where agents and consoles reach it. Not an advisory lock: the lease
// outlives any connection, so a leader whose backend dies still leads until
// the row expires, and a standby takes over only then.
//
//   take over  UPDATE ... SET epoch = epoch + 1, holder = me, expires_at = now() + ttl
//              WHERE expires_at < now() RETURNING epoch      (one atomic statement)
//   renew      UPDATE ... SET expires_at = now() + ttl WHERE epoch = mine AND holder = me
//   release    UPDATE ... SET expires_at = '-infinity' WHERE epoch = mine AND holder = me
//   fence      SELECT ... WHERE epoch = mine AND holder = me FOR SHARE, inside every
//              unit of work, just before COMMIT (PgStore::fence)
//
// Every time is the database's (now()), so the coordinators' clocks do not
// matter; a leader keeps its own steady-clock deadline (lease_keeper.h). Two
// standbys racing for an expired lease are serialised by the row lock: the
// second re-reads the row, finds it no longer expired, and changes nothing.
//
// Owns one connection of its own (never the store's), so a busy reactor cannot
// delay a renewal. Used by one thread at a time.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"

namespace flotilla::coordinator {

namespace pg {
class Connection;
}

// Who holds (or asks for) the lease, and where it is reached.
struct LeaseHolder {
  std::string id;                // unique per coordinator process (leaseHolderId())
  std::string agents_endpoint;   // what a standby tells agents
  std::string control_endpoint;  // what a standby tells consoles
};

// The lease row as read.
struct LeaseView {
  std::uint64_t epoch = 0;  // 0: never held
  LeaseHolder holder;
  bool expired = true;  // by the database's clock
};

class LeadershipLease {
 public:
  // Connects to `url` (the schema must exist: PgStore::open creates it).
  static Result<std::unique_ptr<LeadershipLease>> open(const std::string& url, const std::string& password);
  ~LeadershipLease();

  Result<LeaseView> read();
  // The new epoch when the lease had expired and is now `me`'s for `ttl`;
  // nullopt when another holds it.
  Result<std::optional<std::uint64_t>> takeOver(const LeaseHolder& me, common::Millis ttl);
  // True when `me` still held the lease in `epoch` and now holds it for `ttl`
  // more; false when it does not (taken over).
  Result<bool> renew(std::uint64_t epoch, const std::string& me, common::Millis ttl);
  // Lets the lease expire now, when `me` holds it in `epoch` (a clean stop, or
  // leadership given up): a standby takes over at its next poll.
  Status release(std::uint64_t epoch, const std::string& me);

 private:
  explicit LeadershipLease(std::unique_ptr<pg::Connection> c);
  std::unique_ptr<pg::Connection> conn_;
};

// A holder id unique to this process run: host name, pid and a random part.
std::string leaseHolderId();

}  // namespace flotilla::coordinator
