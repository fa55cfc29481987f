#pragma once
// EventLog: what happens to rollouts, as events. An event gets the wall-clock
// time, is appended to the store (which numbers it), goes to the log (rollout
// events at info, per-host ones at debug: those are the bulk at fleet scale)
// and, numbered, to `publish` (the rollout's watchers).
//
// Holds no events itself; the store is the record. Reactor thread only.

#include <functional>
#include <string>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {

class EventLog {
 public:
  // Appends to the store; returns the event's sequence number.
  using Append = std::function<Result<std::int64_t>(const EventRecord&)>;
  using Publish = std::function<void(const EventRecord&)>;

  EventLog(const common::Clock& clock, Append append, Publish publish)
      : clock_(clock), append_(std::move(append)), publish_(std::move(publish)) {}

  // `agent` "" and `wave` -1 for a rollout-level event; `actor` "" when the
  // engine decided. A store error comes back and nothing is published.
  Status record(const std::string& rollout_id, const std::string& kind, const std::string& agent, int wave,
                const std::string& message, const std::string& actor = "");

 private:
  const common::Clock& clock_;
  Append append_;
  Publish publish_;
};

}  // namespace flotilla::coordinator
