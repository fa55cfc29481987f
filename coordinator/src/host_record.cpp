#include "flotilla/coordinator/host_record.h"

namespace flotilla::coordinator {

RolloutHostRecord toHostRecord(std::size_t idx, const HostSlot& h) {
  return RolloutHostRecord{
      idx,       h.agent_id, static_cast<int>(h.wave), toString(h.state), h.phase,   h.previous_version,
      h.message, h.moved,    h.reverted_itself,        h.order_id,        h.sequence};
}

std::optional<HostSlot> fromHostRecord(RolloutHostRecord row) {
  auto state = hostStateFromString(row.state);
  if (!state) return std::nullopt;
  HostSlot h;
  h.agent_id = std::move(row.agent_id);
  h.wave = static_cast<std::size_t>(row.wave);
  h.state = *state;
  h.phase = std::move(row.phase);
  h.previous_version = std::move(row.previous_version);
  h.message = std::move(row.message);
  h.moved = row.moved;
  h.reverted_itself = row.reverted_itself;
  h.order_id = std::move(row.order_id);
  h.sequence = row.sequence;
  return h;
}

}  // namespace flotilla::coordinator
