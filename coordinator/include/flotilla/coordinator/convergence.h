#pragma once
// Convergence: bringing a host to its apps' current releases outside any
// rollout (it joined later, or was away when the release rolled out).
//
// Holds each app's current release (the last rollout that succeeded and the
// labels it targeted) and which (agent, app, version) were tried in this run:
// a host is tried once per release per coordinator run, never behind the
// operator's back again. An app's flag set ("flags:web", protocol/flag_app.h)
// waits until the host runs the app: the flag set's health checks are the
// app's, run where it lives. Decides without I/O; the caller checks the store for
// the host's state in the release's rollout (mayConverge), opens the order
// and records the event. Reactor thread only.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "flotilla/coordinator/agent_registry.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {

class Convergence {
 public:
  struct Candidate {
    const AppRecord* app;
    std::optional<std::string> live;  // the release the agent runs now, if any
  };

  void load(std::vector<AppRecord> apps);
  void setCurrent(AppRecord app);
  const std::map<std::string, AppRecord>& current() const { return current_; }

  // Apps an online, accepted agent should converge on: their labels match,
  // the agent runs another release, it was not tried this run, and `busy(app)`
  // is false (an active rollout of the app, or an open order for it).
  std::vector<Candidate> candidates(const Agent& a, const std::function<bool(const std::string& app)>& busy) const;
  // `host_state` is the host's state in the current release's rollout
  // (nullopt: it was not part of it). Hosts that rollout reached keep what they
  // have: a host that failed on it is not retried behind the operator's back.
  static bool mayConverge(const std::optional<std::string>& host_state);
  void markTried(const std::string& agent_id, const AppRecord& app);
  // "no release, converging to 2 (sequence 9)" / "live 1, converging to 2 (sequence 9)".
  static std::string eventMessage(const Candidate& c, std::uint64_t sequence);

 private:
  static std::string key(const std::string& agent_id, const AppRecord& app);

  std::map<std::string, AppRecord> current_;  // app -> its current release
  std::set<std::string> tried_;               // "agent\napp\nversion"
};

}  // namespace flotilla::coordinator
