#include "flotilla/coordinator/artifact_worker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "flotilla/coordinator/shared_artifacts.h"
#include "flotilla/protocol/control.h"

namespace flotilla::coordinator {

using nlohmann::json;
namespace control = protocol::control;

namespace {

// The most chunks one fetch may ask for (agents ask for their window).
constexpr std::uint32_t kMaxFetchCredit = 64;
constexpr int kMaxDrain = 256;  // answers taken per reactor iteration

// Wraps an encoded message in a frame without copying it.
zmq::message_t ownedFrame(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  return zmq::message_t(
      owned->data(), owned->size(), [](void*, void* hint) { delete static_cast<std::string*>(hint); }, owned);
}

json errorBody(const Error& e) { return control::ErrorReply{errcName(e.code), e.message}; }

// The worker thread's state: the upload sessions, and the loop that serves the reactor.
class ArtifactLoop {
 public:
  ArtifactLoop(std::filesystem::path dir, UploadLimits limits, const common::Clock& clock, const StoreOptions& store)
      : dir_(dir), clock_(clock), uploads_(std::move(dir), limits, clock), shared_(openSharedArtifacts(store)) {}

  void run(WorkerPipe::WorkerEnd& pipe) {
    if (auto removed = uploads_.removeStale(); !removed)
      spdlog::warn("{}", removed.error().message);
    else if (*removed > 0)
      spdlog::info("removed {} unfinished uploads left by an earlier run", *removed);
    while (true) {
      std::optional<common::Millis> wait;
      if (auto d = uploads_.nextDeadline())
        wait = std::chrono::duration_cast<common::Millis>(*d - clock_.steadyNow()) + common::Millis(1);
      auto frames = pipe.receive(wait);
      for (const auto& id : uploads_.expire()) {
        spdlog::warn("upload {} dropped: no data for the upload timeout; its file is deleted", id);
        Frames gone;
        gone.push_back(frameOf("gone"));
        gone.push_back(frameOf(id));
        pipe.send(std::move(gone));
      }
      if (!frames) continue;
      if (frames->empty()) return;
      handle(pipe, *frames);
    }
  }

 private:
  void handle(WorkerPipe::WorkerEnd& pipe, Frames& frames) {
    const std::string op = textOf(frames[0]);
    const json args = frames.size() > 1 ? json::parse(frames[1].to_string_view(), nullptr, false) : json();
    if (!args.is_object()) return;
    if (op == "fetch" && frames.size() == 3) {
      fetch(pipe, textOf(frames[2]), args);
      return;
    }
    if (op == "abort") {
      uploads_.abort(args.value("upload_id", ""));
      return;
    }
    const std::uint64_t token = args.value("token", std::uint64_t{0});
    const std::string id = args.value("upload_id", "");
    json body;
    if (op == "begin") {
      auto grant = uploads_.begin(args.value("digest", ""), args.value("size", std::uint64_t{0}));
      if (!grant)
        body = errorBody(grant.error());
      else if (grant->already_stored)
        body = control::UploadBeginReply{true, "", 0, 0};
      else
        body = control::UploadBeginReply{false, grant->upload_id, grant->chunk_bytes, grant->credit};
    } else if (op == "chunk" && frames.size() == 3) {
      const auto* data = static_cast<const std::uint8_t*>(frames[2].data());
      auto received =
          uploads_.append(id, args.value("offset", std::uint64_t{0}), common::Bytes(data, frames[2].size()));
      body = received ? json(control::UploadChunkReply{*received}) : errorBody(received.error());
    } else if (op == "end") {
      auto stored = share(uploads_.finish(id));
      if (stored) spdlog::info("artifact {} stored ({} bytes)", stored->digest, stored->size);
      body = stored ? json(control::UploadEndReply{stored->digest, stored->size}) : errorBody(stored.error());
    } else {
      return;
    }
    if (!body.value("ok", false))
      spdlog::warn("upload{}{} refused: {}", id.empty() ? "" : " ", id, body["error"].value("message", ""));
    if (!body.value("ok", false) && !id.empty()) {
      Frames gone;
      gone.push_back(frameOf("gone"));
      gone.push_back(frameOf(id));
      pipe.send(std::move(gone));
    }
    Frames reply;
    reply.push_back(frameOf("reply"));
    reply.push_back(frameOf(std::to_string(token)));
    reply.push_back(frameOf(body.dump()));
    pipe.send(std::move(reply));
  }

  // Publishes a stored upload to the shared store; one that cannot be shared
  // is not kept here either, so that a retried upload shares it.
  Result<StoredArtifact> share(Result<StoredArtifact> stored) {
    if (!stored || !shared_) return stored;
    auto published = shared_->publish(stored->digest, dir_ / stored->digest);
    if (published.ok()) return stored;
    std::error_code ec;
    std::filesystem::remove(dir_ / stored->digest, ec);
    return published.error().context("artifact " + stored->digest + " could not be shared through the store");
  }

  // Opens artifact `digest` for reading, copying it from the shared store first when it is not here.
  int openArtifact(const std::string& digest) {
    int fd = ::open((dir_ / digest).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT || !shared_) return fd;
    if (auto copied = shared_->fetchInto(digest, dir_); !copied.ok()) {
      if (copied.error().code != Errc::kNotFound)
        spdlog::warn("fetching artifact {}: {}", digest, copied.error().message);
      return -1;
    }
    spdlog::info("artifact {} copied from the shared store", digest);
    return ::open((dir_ / digest).c_str(), O_RDONLY | O_CLOEXEC);
  }

  void toAgent(WorkerPipe::WorkerEnd& pipe, const std::string& rid, std::string payload) {
    Frames out;
    out.push_back(frameOf("agent"));
    out.push_back(frameOf(rid));
    out.push_back(ownedFrame(std::move(payload)));
    pipe.send(std::move(out));
  }

  void fetch(WorkerPipe::WorkerEnd& pipe, const std::string& rid, const json& args) {
    const std::string digest = args.value("digest", "");
    if (digest.size() != 64 || digest.find_first_not_of("0123456789abcdef") != std::string::npos) {
      toAgent(pipe, rid, protocol::encode(protocol::Refusal{protocol::RefusalCode::kFetchBadDigest, "bad digest"}));
      return;
    }
    int fd = openArtifact(digest);
    if (fd < 0) {
      toAgent(pipe, rid,
              protocol::encode(protocol::Refusal{protocol::RefusalCode::kFetchNoArtifact, "no artifact " + digest}));
      return;
    }
    struct stat st {};
    ::fstat(fd, &st);
    const auto total = static_cast<std::uint64_t>(st.st_size);
    const std::uint64_t start = args.value("offset", std::uint64_t{0});
    const std::uint32_t credit = std::min(args.value("credit", std::uint32_t{1}), kMaxFetchCredit);
    std::uint64_t offset = start;
    for (std::uint32_t i = 0; i < credit && offset < total; ++i) {
      protocol::Chunk c{digest, offset, total, {}};
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(protocol::kChunkBytes, total - offset));
      c.data.resize(want);
      ssize_t n = ::pread(fd, c.data.data(), want, static_cast<off_t>(offset));
      if (n <= 0) break;
      c.data.resize(static_cast<std::size_t>(n));
      offset += static_cast<std::uint64_t>(n);
      toAgent(pipe, rid, protocol::encode(c));
    }
    // An empty artifact, or a fetch from its end: say where the end is.
    if (total == 0 || start >= total) toAgent(pipe, rid, protocol::encode(protocol::Chunk{digest, total, total, {}}));
    ::close(fd);
  }

  std::filesystem::path dir_;
  const common::Clock& clock_;
  UploadSessions uploads_;
  std::unique_ptr<SharedArtifacts> shared_;  // nullptr: artifacts are not shared (SQLite)
};

}  // namespace

ArtifactWorker::ArtifactWorker(zmq::context_t& ctx, std::filesystem::path artifacts_dir, UploadLimits limits,
                               const common::Clock& clock, StoreOptions store) {
  pipe_ = std::make_unique<WorkerPipe>(
      ctx, "artifacts",
      [dir = std::move(artifacts_dir), limits, &clock, store = std::move(store)](WorkerPipe::WorkerEnd& end) {
        ArtifactLoop loop(dir, limits, clock, store);
        loop.run(end);
      });
}

ArtifactWorker::~ArtifactWorker() = default;

namespace {

Frames request(const char* op, const json& args) {
  Frames f;
  f.push_back(frameOf(op));
  f.push_back(frameOf(args.dump()));
  return f;
}

}  // namespace

void ArtifactWorker::fetch(const std::string& routing_id, const protocol::Fetch& m) {
  Frames f = request("fetch", {{"digest", m.digest}, {"offset", m.offset}, {"credit", m.credit}});
  f.push_back(frameOf(routing_id));
  pipe_->send(std::move(f));
}

void ArtifactWorker::begin(std::uint64_t token, const std::string& digest, std::uint64_t size) {
  pipe_->send(request("begin", {{"token", token}, {"digest", digest}, {"size", size}}));
}

void ArtifactWorker::append(std::uint64_t token, const std::string& upload_id, std::uint64_t offset,
                            zmq::message_t data) {
  Frames f = request("chunk", {{"token", token}, {"upload_id", upload_id}, {"offset", offset}});
  f.push_back(std::move(data));
  pipe_->send(std::move(f));
}

void ArtifactWorker::finish(std::uint64_t token, const std::string& upload_id) {
  pipe_->send(request("end", {{"token", token}, {"upload_id", upload_id}}));
}

void ArtifactWorker::abort(const std::string& upload_id) { pipe_->send(request("abort", {{"upload_id", upload_id}})); }

void ArtifactWorker::drain(const Sinks& sinks) {
  // Bounded, so a busy worker does not keep the reactor from its sockets.
  for (int i = 0; i < kMaxDrain; ++i) {
    auto frames = pipe_->receive();
    if (!frames) break;
    const std::string kind = frames->empty() ? "" : textOf((*frames)[0]);
    if (kind == "agent" && frames->size() == 3) {
      sinks.to_agent(textOf((*frames)[1]), std::move((*frames)[2]));
    } else if (kind == "reply" && frames->size() == 3) {
      json body = json::parse((*frames)[2].to_string_view(), nullptr, false);
      sinks.reply(std::stoull(textOf((*frames)[1])), std::move(body));
    } else if (kind == "gone" && frames->size() == 2) {
      sinks.upload_gone(textOf((*frames)[1]));
    }
  }
}

}  // namespace flotilla::coordinator
