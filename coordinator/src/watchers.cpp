#include "flotilla/coordinator/watchers.h"

#include <vector>

namespace flotilla::coordinator {

void Watchers::add(const std::string& rollout_id, const std::string& routing_id) {
  if (!by_rollout_[rollout_id].insert(routing_id).second) return;
  by_connection_[routing_id].insert(rollout_id);
  ++count_;
}

std::size_t Watchers::push(const std::string& rollout_id, const std::string& text, const Send& send) {
  auto it = by_rollout_.find(rollout_id);
  if (it == by_rollout_.end()) return 0;
  std::vector<std::string> gone;
  for (const auto& rid : it->second)
    if (!send(rid, text)) gone.push_back(rid);
  for (const auto& rid : gone) drop(rid);
  return gone.size();
}

void Watchers::drop(const std::string& routing_id) {
  auto conn = by_connection_.find(routing_id);
  if (conn == by_connection_.end()) return;
  for (const auto& rollout_id : conn->second) {
    auto r = by_rollout_.find(rollout_id);
    if (r == by_rollout_.end()) continue;
    count_ -= r->second.erase(routing_id);
    if (r->second.empty()) by_rollout_.erase(r);
  }
  by_connection_.erase(conn);
}

void Watchers::endRollout(const std::string& rollout_id) {
  auto r = by_rollout_.find(rollout_id);
  if (r == by_rollout_.end()) return;
  for (const auto& rid : r->second) {
    auto conn = by_connection_.find(rid);
    if (conn == by_connection_.end()) continue;
    conn->second.erase(rollout_id);
    if (conn->second.empty()) by_connection_.erase(conn);
  }
  count_ -= r->second.size();
  by_rollout_.erase(r);
}

}  // namespace flotilla::coordinator
