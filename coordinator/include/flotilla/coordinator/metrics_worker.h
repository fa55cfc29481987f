#pragma once
// MetricsWorker: answers the control `metrics` command (DORA over up to a
// million rollouts) on its own thread with its own read-only store connection, so the
// reactor never waits for the query. The reactor hands it a MetricsQuery and a
// token; drain() gives back the reply body ({"ok": true, ...report} or
// {"ok": false, "error"}) under that token.
//
// The store is opened read-only on the worker thread when it starts (a failure
// to open is answered to every query). Constructed, called and destroyed on the
// reactor thread; the zmq context outlives the worker.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "flotilla/coordinator/metrics.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/coordinator/worker_pipe.h"

namespace flotilla::coordinator {

class MetricsWorker {
 public:
  // `store` (storeOptions(config)) is only ever opened read-only.
  MetricsWorker(zmq::context_t& ctx, StoreOptions store);
  ~MetricsWorker();

  void query(std::uint64_t token, const MetricsQuery& q);
  zmq::socket_t& socket() { return pipe_->socket(); }  // poll for ZMQ_POLLIN, then drain()
  void drain(const std::function<void(std::uint64_t token, nlohmann::json body)>& reply);

 private:
  std::unique_ptr<WorkerPipe> pipe_;
};

// The reply body of `metrics` for `q`, read from `store` (worker thread).
nlohmann::json metricsReply(Store& store, const MetricsQuery& q);

}  // namespace flotilla::coordinator
