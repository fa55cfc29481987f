#pragma once
// Watchers: which control connections follow which rollout (the console's
// `watch`), and the push of status, event and end messages to them.
//
// A watcher lasts until its rollout ends or a push to it fails: the control
// ROUTER is ROUTER_MANDATORY, so a send to a console that went away fails
// (EHOSTUNREACH), as does one to a console that stopped reading (EAGAIN on a
// full queue). Either way it stops being a watcher, so a departed console
// costs nothing for the rest of the rollout.
//
// Pure bookkeeping; the caller supplies the send. Reactor thread only.

#include <cstddef>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace flotilla::coordinator {

class Watchers {
 public:
  // Sends `text` to the control connection `routing_id`; false when it could not.
  using Send = std::function<bool(const std::string& routing_id, const std::string& text)>;

  // Idempotent: a console re-sends `watch` after a silence.
  void add(const std::string& rollout_id, const std::string& routing_id);
  bool any(const std::string& rollout_id) const { return by_rollout_.count(rollout_id) > 0; }
  // Watch registrations over all rollouts (the flotilla_watchers gauge).
  std::size_t count() const { return count_; }

  // Sends `text` to every watcher of the rollout; those it fails for are dropped.
  // Returns how many were dropped.
  std::size_t push(const std::string& rollout_id, const std::string& text, const Send& send);
  // Forgets a connection entirely (every rollout it followed).
  void drop(const std::string& routing_id);
  // The rollout ended: its watchers are done.
  void endRollout(const std::string& rollout_id);

 private:
  std::unordered_map<std::string, std::unordered_set<std::string>> by_rollout_;
  std::unordered_map<std::string, std::unordered_set<std::string>> by_connection_;
  std::size_t count_ = 0;
};

}  // namespace flotilla::coordinator
