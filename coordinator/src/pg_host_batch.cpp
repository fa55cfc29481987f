#include "pg_host_batch.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <vector>

#include "pg_connection.h"

namespace flotilla::coordinator::pg {
namespace {

constexpr const char* kColumns =
    "INSERT INTO rollout_hosts (rollout_id, idx, agent_id, wave, state, phase, previous_version, message, moved, "
    "reverted_itself, order_id, sequence) VALUES ";
constexpr const char* kOnConflict =
    " ON CONFLICT (rollout_id, idx) DO UPDATE SET agent_id = excluded.agent_id, wave = excluded.wave, "
    "state = excluded.state, phase = excluded.phase, previous_version = excluded.previous_version, "
    "message = excluded.message, moved = excluded.moved, reverted_itself = excluded.reverted_itself, "
    "order_id = excluded.order_id, sequence = excluded.sequence";
constexpr std::size_t kParamsPerRow = 12;

}  // namespace

void HostBatch::add(const std::string& rollout_id, const RolloutHostRecord& h) { rows_[{rollout_id, h.idx}] = h; }

Status HostBatch::flush(Connection& c) {
  auto rows = std::move(rows_);
  rows_.clear();
  auto it = rows.begin();
  while (it != rows.end()) {
    std::string sql = kColumns;
    std::vector<Param> params;
    params.reserve(kParamsPerRow * std::min(rows.size(), kRowsPerStatement));
    std::size_t n = 0;
    for (; it != rows.end() && n < kRowsPerStatement; ++it, ++n) {
      const auto& [key, h] = *it;
      sql += n == 0 ? "(" : ", (";
      for (std::size_t k = 1; k <= kParamsPerRow; ++k) {
        sql += "$" + std::to_string(params.size() + k);
        sql += k < kParamsPerRow ? ", " : ")";
      }
      params.insert(params.end(), {key.first, static_cast<std::int64_t>(h.idx), h.agent_id, h.wave, h.state, h.phase,
                                   h.previous_version, h.message, Param::flag(h.moved), Param::flag(h.reverted_itself),
                                   h.order_id, static_cast<std::int64_t>(h.sequence)});
    }
    sql += kOnConflict;
    const std::string what =
        n == 1 ? "saving host " + std::prev(it)->second.agent_id + " of rollout " + std::prev(it)->first.first
               : "saving " + std::to_string(n) + " rollout hosts";
    if (auto r = c.exec(what, sql.c_str(), params); !r) return r.error();
  }
  return {};
}

}  // namespace flotilla::coordinator::pg
