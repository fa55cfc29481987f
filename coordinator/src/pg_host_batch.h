#pragma once
// Rollout host rows written during one unit of work of the PostgreSQL store,
// held until the unit commits (or something reads rollout_hosts) and then
// written with a few multi-row upserts instead of one statement, so one round
// trip, per row. A wave of 10,000 hosts writes each host two or three times
// (dispatched, accepted, healthy), each in the reactor's unit of work of the
// moment: on loopback that was ~30,000 round trips for one wave.
//
// Only the last write of a (rollout, idx) row is kept: an upsert of the same
// row replaces it anyway, and PostgreSQL refuses an INSERT ... ON CONFLICT DO
// UPDATE that touches one row twice. Rows go out in (rollout, idx) order.
//
// Private to the coordinator library. Used by PgStore's thread only.

#include <cstddef>
#include <map>
#include <string>
#include <utility>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator::pg {

class Connection;

class HostBatch {
 public:
  // Rows per statement: 12 parameters each, well under PostgreSQL's 65,535.
  static constexpr std::size_t kRowsPerStatement = 1000;

  void add(const std::string& rollout_id, const RolloutHostRecord& h);
  bool empty() const { return rows_.empty(); }
  std::size_t size() const { return rows_.size(); }
  // Writes every held row and forgets them, whether it succeeds or not (a
  // failed statement fails the unit of work, whose writes are then lost).
  Status flush(Connection& c);
  void clear() { rows_.clear(); }

 private:
  std::map<std::pair<std::string, std::size_t>, RolloutHostRecord> rows_;
};

}  // namespace flotilla::coordinator::pg
