// What ControlApi asks of the daemon (ControlContext) beyond what the header
// forwards to the rollout driver. The commands themselves are in control_api.cpp.
#include "flotilla/common/duration.h"
#include "flotilla/coordinator/server.h"

namespace flotilla::coordinator {

std::int64_t Server::nowMs() const { return common::toUnixMillis(clock_.systemNow()); }

Result<std::string> Server::startRollout(RolloutStart start) {
  if (!store_error_.empty())
    return Error(Errc::kUnavailable, "the coordinator's store is failing (" + store_error_ +
                                         "); no new rollout starts until it is writable again");
  return rollouts_->start(std::move(start));
}

}  // namespace flotilla::coordinator
