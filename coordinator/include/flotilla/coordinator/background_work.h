#pragma once
// BackgroundWork: the reactor's side of the coordinator's worker threads.
// Work that reads or writes much is handed to a worker and answered when the
// worker is done, so the reactor never waits on it:
// - agents' fetches -> ArtifactWorker (chunks go straight back to the agent);
// - the control commands upload_begin, upload_chunk, upload_end ->
//   ArtifactWorker, and metrics -> MetricsWorker (docs/protocol.md).
// A control reply carries the console's routing id and, like every reply of
// Server::handleControlMessage, the request's "req" and "type": "response".
//
// Uploads are credit-based: a console may have at most the `credit` the
// coordinator granted of chunks unanswered; each answer (sent once the chunk
// is on disk) gives one back. A console that sends more is refused and its
// upload ended.
//
// Reactor thread only (construct, call, destroy); the zmq context outlives it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/artifact_worker.h"
#include "flotilla/coordinator/config.h"
#include "flotilla/coordinator/metrics_worker.h"

namespace flotilla::coordinator {

// The largest control frame the coordinator takes: a request, or one upload chunk.
inline constexpr std::int64_t kMaxControlFrameBytes = std::int64_t{4} << 20;

class BackgroundWork {
 public:
  using ToAgent = std::function<void(const std::string& routing_id, zmq::message_t payload)>;
  using ToConsole = std::function<void(const std::string& routing_id, const nlohmann::json& doc)>;

  BackgroundWork(zmq::context_t& ctx, const CoordinatorConfig& config, const common::Clock& clock, ToAgent to_agent,
                 ToConsole to_console);
  ~BackgroundWork();

  // Takes a control request a worker answers (frames: routing id, JSON, and
  // for upload_chunk the chunk's bytes, moved to the worker). Returns false
  // for any other command, which the caller handles.
  bool takeControl(const std::string& routing_id, const nlohmann::json& req, std::vector<zmq::message_t>& frames);
  void fetch(const std::string& routing_id, const protocol::Fetch& m);
  // Sends what the workers answered. Call after polling the sockets below.
  void drain();
  zmq::socket_t& artifactSocket() { return artifacts_.socket(); }
  zmq::socket_t& metricsSocket() { return metrics_.socket(); }

  // The size of the stored artifact `digest` (one stat(2)), or an error
  // telling the operator to upload it first.
  Result<std::uint64_t> storedArtifact(const std::string& digest) const;

 private:
  struct Waiting {
    std::string routing_id;
    nlohmann::json req_id;  // the request's "req", echoed in the reply (null when absent)
    std::string upload_id;  // for upload_chunk: whose credit the answer returns
  };
  struct Credit {
    std::uint32_t granted = 0;
    std::uint32_t in_flight = 0;
  };

  std::uint64_t park(const std::string& routing_id, const nlohmann::json& req, std::string upload_id = {});
  void answer(std::uint64_t token, nlohmann::json body);
  void replyNow(const std::string& routing_id, const nlohmann::json& req, nlohmann::json body);
  void takeUpload(const std::string& cmd, const std::string& routing_id, const nlohmann::json& req,
                  std::vector<zmq::message_t>& frames);
  void takeMetrics(const std::string& routing_id, const nlohmann::json& req);

  std::filesystem::path artifacts_dir_;
  const common::Clock& clock_;
  ToAgent to_agent_;
  ToConsole to_console_;
  ArtifactWorker artifacts_;
  MetricsWorker metrics_;
  std::unordered_map<std::uint64_t, Waiting> waiting_;  // by token
  std::unordered_map<std::string, Credit> uploads_;     // open uploads by id
  std::uint64_t next_token_ = 1;
};

}  // namespace flotilla::coordinator
