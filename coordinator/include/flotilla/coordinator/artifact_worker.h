#pragma once
// ArtifactWorker: every read and write of artifact bytes, on its own thread,
// so the reactor never waits on the disk for them. It owns no network socket:
// the reactor hands it work over a WorkerPipe and sends what it answers.
//
// - Agents' fetches: (routing id, digest, offset, credit) in; up to `credit`
//   encoded protocol::Chunk messages (or a "fetch: ..." Refusal) out, each
//   addressed to that routing id, for the reactor to forward as they are.
// - Console uploads (UploadSessions): begin / append / finish, each answered
//   with a control reply body ({"ok": true, ...} or {"ok": false, "error"})
//   under the token the reactor gave. Sessions silent for the upload timeout
//   are dropped and their files deleted; stale temporary files from a killed
//   coordinator are deleted when the worker starts.
//
// Constructed, called and destroyed on the reactor thread; the work itself
// runs on the worker thread. The zmq context outlives the worker.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/coordinator/upload_sessions.h"
#include "flotilla/coordinator/worker_pipe.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::coordinator {

class ArtifactWorker {
 public:
  // What the worker sends back; drain() calls one of these per message.
  struct Sinks {
    std::function<void(const std::string& routing_id, zmq::message_t payload)> to_agent;
    std::function<void(std::uint64_t token, nlohmann::json body)> reply;
    std::function<void(const std::string& upload_id)> upload_gone;  // expired or failed: forget its credit
  };

  // `store` says where artifacts are shared with other coordinators
  // (shared_artifacts.h): uploads are published there once stored, and a
  // fetch of an artifact missing from artifacts_dir is served from there.
  ArtifactWorker(zmq::context_t& ctx, std::filesystem::path artifacts_dir, UploadLimits limits,
                 const common::Clock& clock, StoreOptions store = {});
  ~ArtifactWorker();

  void fetch(const std::string& routing_id, const protocol::Fetch& m);
  // Replies: {"ok", "upload_id", "chunk_bytes", "credit"} or {"ok", "stored": true}.
  void begin(std::uint64_t token, const std::string& digest, std::uint64_t size);
  // Replies {"ok", "received"} once the chunk is on disk.
  void append(std::uint64_t token, const std::string& upload_id, std::uint64_t offset, zmq::message_t data);
  // Replies {"ok", "digest", "size"} once the artifact is stored.
  void finish(std::uint64_t token, const std::string& upload_id);
  void abort(const std::string& upload_id);

  zmq::socket_t& socket() { return pipe_->socket(); }  // poll for ZMQ_POLLIN, then drain()
  void drain(const Sinks& sinks);

 private:
  std::unique_ptr<WorkerPipe> pipe_;
};

}  // namespace flotilla::coordinator
