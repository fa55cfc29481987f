#pragma once
// PrometheusSource: analysis samples read from a Prometheus server instead of
// from the hosts (a metric with `prometheus = "http://HOST:9090"` and `query`,
// docs/analysis.md). Once per interval the reactor hands it the queries of
// every host that samples (the query with ${HOST} replaced by the host's agent
// id); a worker thread asks Prometheus's HTTP API (/api/v1/query, instant
// queries, no proxy) and answers with one sample per query that returned a
// number: the sum of the result vector, or the scalar. An empty result, an
// error, a timeout or a body that is not Prometheus's JSON is a missing sample
// and counted. Queries of a batch the worker reaches after the next batch was
// due are skipped (counted): a slow Prometheus never builds a backlog.
//
// Constructed, called and destroyed on the reactor thread; the zmq context
// outlives it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/worker_pipe.h"

namespace flotilla::coordinator {

struct PrometheusQuery {
  std::string rollout_id;
  int wave = 0;
  std::string agent_id;
  std::string role;  // canary | baseline
  std::string metric;
  std::string server;  // "http://127.0.0.1:9090"
  std::string query;   // PromQL, ${HOST} already replaced
};

struct PrometheusResult {
  PrometheusQuery query;
  bool ok = false;
  double value = 0;
  std::int64_t at_ms = 0;  // unix ms, the coordinator's clock
  std::string error;       // when !ok
};

// "${HOST}" in `query` replaced by `agent_id` (every occurrence).
std::string expandHost(std::string query, const std::string& agent_id);

// The value of a /api/v1/query reply body: the sum of a vector's samples, or a
// scalar; an error naming what is wrong otherwise (an empty vector is kNotFound).
Result<double> parseQueryReply(const std::string& body);

class PrometheusSource {
 public:
  PrometheusSource(zmq::context_t& ctx, common::Millis timeout);

  // A batch of queries, run in order; those the worker has not reached within
  // `budget` of taking the batch (the next batch is due) are skipped.
  void submit(std::vector<PrometheusQuery> batch, common::Millis budget);
  zmq::socket_t& socket() { return pipe_->socket(); }  // poll for ZMQ_POLLIN, then drain()
  void drain(const std::function<void(const PrometheusResult&)>& each);

 private:
  std::unique_ptr<WorkerPipe> pipe_;
};

}  // namespace flotilla::coordinator
