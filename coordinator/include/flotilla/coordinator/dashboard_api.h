#pragma once
// DashboardApi: the JSON documents behind the dashboard's /api/ paths
// (docs/dashboard.md "API"). Each is made of the control protocol's documents
// (protocol/control.h, control_docs.h), the same the console's --json prints:
// live ones from the reactor's DashboardFeed, recorded ones from the store,
// opened read-only (no schema work, nothing written) at the first request.
//
// Threads: any HTTP thread; one request at a time reads the store (the
// connection is not shared), documents from the feed need no lock here.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/common/result.h"
#include "flotilla/coordinator/dashboard_feed.h"
#include "flotilla/coordinator/store.h"

namespace flotilla::coordinator {

class DashboardApi {
 public:
  // `store` (storeOptions(config)) is only ever opened read-only.
  DashboardApi(StoreOptions store, std::shared_ptr<const DashboardFeed> feed);

  // {"version", "rollouts": [RolloutStatus of each active one, without hosts],
  //  "finished": [RolloutStatus of each finished one listed, without hosts], "history": [HistoryEntry]}
  Result<nlohmann::json> rollouts();
  // {"version", "rollout": RolloutStatus with hosts, "events": [EventDoc], "events_total", "analysis":
  //  AnalysisReply | null}: the events are every one of the rollout itself, the first of each kind
  //  about a host and the newest 500 about hosts; events_total counts them all.
  Result<nlohmann::json> rollout(const std::string& id);
  // {"version", "agents": [AgentDoc], "self_reverts": {agent: n}, "current": {app: version}}
  Result<nlohmann::json> fleet();
  // {"app", "current": version | null, "history": [HistoryEntry]}
  Result<nlohmann::json> app(const std::string& name);
  // {"metrics": MetricsReply, "days": [{"day", "deployments", "lead_time_seconds", "change_failure_rate",
  //  "recovery_seconds", "rework_rate"}]}: the keys over the window and each day's figures.
  Result<nlohmann::json> delivery(int days, std::int64_t now_ms);

 private:
  Result<Store*> store();  // with mu_ held
  // A store failure closes the connection; the next request opens it afresh.
  template <typename T>
  Result<T> checked(Result<T> r) {
    if (!r) store_.reset();
    return r;
  }

  StoreOptions store_options_;
  std::shared_ptr<const DashboardFeed> feed_;
  std::mutex mu_;                 // one store read at a time; guards store_
  std::unique_ptr<Store> store_;  // read-only; null until a request opens it
  // Self-reverts on the finished rollouts `reverts_of_` (fleet()); guarded by mu_.
  std::vector<std::string> reverts_of_;
  std::map<std::string, int> finished_reverts_;
};

}  // namespace flotilla::coordinator
