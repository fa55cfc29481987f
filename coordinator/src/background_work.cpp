#include "flotilla/coordinator/background_work.h"

#include <sys/stat.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "flotilla/common/duration.h"
#include "flotilla/protocol/control.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

using nlohmann::json;
namespace control = protocol::control;

namespace {

json errorBody(Errc code, const std::string& message) { return control::ErrorReply{errcName(code), message}; }

bool isDigest(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

UploadLimits limitsFrom(const CoordinatorConfig& config) {
  UploadLimits limits;
  limits.timeout = config.upload_timeout;
  // A chunk and its request must fit in one control frame.
  limits.chunk_bytes = std::min<std::size_t>(limits.chunk_bytes, kMaxControlFrameBytes / 2);
  return limits;
}

}  // namespace

BackgroundWork::BackgroundWork(zmq::context_t& ctx, const CoordinatorConfig& config, const common::Clock& clock,
                               ToAgent to_agent, ToConsole to_console)
    : artifacts_dir_(config.artifacts_dir),
      clock_(clock),
      to_agent_(std::move(to_agent)),
      to_console_(std::move(to_console)),
      artifacts_(ctx, config.artifacts_dir, limitsFrom(config), clock, storeOptions(config)),
      metrics_(ctx, storeOptions(config)) {}

BackgroundWork::~BackgroundWork() = default;

bool BackgroundWork::takeControl(const std::string& routing_id, const json& req, std::vector<zmq::message_t>& frames) {
  auto cmd_it = req.find("cmd");
  if (cmd_it == req.end() || !cmd_it->is_string()) return false;
  const std::string cmd = cmd_it->get<std::string>();
  if (cmd != control::kUploadBegin && cmd != control::kUploadChunk && cmd != control::kUploadEnd &&
      cmd != control::kMetrics)
    return false;
  try {
    if (cmd == control::kMetrics)
      takeMetrics(routing_id, req);
    else
      takeUpload(cmd, routing_id, req, frames);
  } catch (const json::exception& e) {
    replyNow(routing_id, req, errorBody(Errc::kInvalidArgument, std::string("bad request: ") + e.what()));
  }
  return true;
}

void BackgroundWork::takeUpload(const std::string& cmd, const std::string& routing_id, const json& req,
                                std::vector<zmq::message_t>& frames) {
  if (cmd == control::kUploadBegin) {
    const auto begin = req.get<control::UploadBeginRequest>();
    if (!isDigest(begin.digest) || !req.contains("size") || !req["size"].is_number_unsigned())
      return replyNow(routing_id, req,
                      errorBody(Errc::kInvalidArgument,
                                "upload_begin needs \"digest\" (64 hex, BLAKE2b-256) and \"size\" (bytes)"));
    artifacts_.begin(park(routing_id, req), begin.digest, begin.size);
    return;
  }
  const std::string id = cmd == control::kUploadEnd ? req.get<control::UploadEndRequest>().upload_id
                                                    : req.get<control::UploadChunkRequest>().upload_id;
  auto it = uploads_.find(id);
  if (it == uploads_.end())
    return replyNow(routing_id, req,
                    errorBody(Errc::kNotFound, "no upload '" + id + "' (it ended, failed or timed out)"));
  if (cmd == control::kUploadEnd) {
    uploads_.erase(it);
    artifacts_.finish(park(routing_id, req), id);
    return;
  }
  if (frames.size() != 3 || !req.contains("offset") || !req["offset"].is_number_unsigned())
    return replyNow(routing_id, req,
                    errorBody(Errc::kInvalidArgument, "upload_chunk needs \"offset\" and the chunk as a second frame"));
  if (it->second.in_flight >= it->second.granted) {
    const auto granted = it->second.granted;
    uploads_.erase(it);
    artifacts_.abort(id);
    return replyNow(routing_id, req,
                    errorBody(Errc::kInvalidArgument, "upload " + id + " ended: more than " + std::to_string(granted) +
                                                          " chunks in flight (the credit granted)"));
  }
  ++it->second.in_flight;
  artifacts_.append(park(routing_id, req, id), id, req.get<control::UploadChunkRequest>().offset, std::move(frames[2]));
}

void BackgroundWork::takeMetrics(const std::string& routing_id, const json& req) {
  const auto r = req.get<control::MetricsRequest>();
  MetricsQuery q;
  q.app = r.app;
  q.days = static_cast<int>(std::clamp<std::int64_t>(r.days, INT32_MIN, INT32_MAX));
  q.now_ms = common::toUnixMillis(clock_.systemNow());
  if (!q.app.empty() && !protocol::validAppName(q.app))
    return replyNow(routing_id, req, errorBody(Errc::kInvalidArgument, "invalid app name '" + q.app + "'"));
  metrics_.query(park(routing_id, req), q);
}

void BackgroundWork::fetch(const std::string& routing_id, const protocol::Fetch& m) { artifacts_.fetch(routing_id, m); }

std::uint64_t BackgroundWork::park(const std::string& routing_id, const json& req, std::string upload_id) {
  const std::uint64_t token = next_token_++;
  waiting_[token] = Waiting{routing_id, req.contains("req") ? req["req"] : json(), std::move(upload_id)};
  return token;
}

void BackgroundWork::replyNow(const std::string& routing_id, const json& req, json body) {
  if (req.contains("req")) body["req"] = req["req"];
  body["type"] = control::kTypeResponse;
  to_console_(routing_id, body);
}

void BackgroundWork::answer(std::uint64_t token, json body) {
  auto it = waiting_.find(token);
  if (it == waiting_.end()) return;
  Waiting w = std::move(it->second);
  waiting_.erase(it);
  if (!body.is_object()) body = errorBody(Errc::kInternal, "a worker gave a malformed answer");
  if (!w.upload_id.empty())
    if (auto u = uploads_.find(w.upload_id); u != uploads_.end() && u->second.in_flight > 0) --u->second.in_flight;
  if (body.value("ok", false) && body.contains("upload_id") && body["upload_id"].is_string())
    uploads_[body["upload_id"].get<std::string>()] = Credit{body.value("credit", std::uint32_t{1}), 0};
  if (!w.req_id.is_null()) body["req"] = w.req_id;
  body["type"] = control::kTypeResponse;
  to_console_(w.routing_id, body);
}

void BackgroundWork::drain() {
  ArtifactWorker::Sinks sinks;
  sinks.to_agent = to_agent_;
  sinks.reply = [this](std::uint64_t token, json body) { answer(token, std::move(body)); };
  sinks.upload_gone = [this](const std::string& id) { uploads_.erase(id); };
  artifacts_.drain(sinks);
  metrics_.drain([this](std::uint64_t token, json body) { answer(token, std::move(body)); });
}

Result<std::uint64_t> BackgroundWork::storedArtifact(const std::string& digest) const {
  if (!isDigest(digest))
    return Error(Errc::kInvalidArgument, "artifact_digest: expected 64 hex characters (BLAKE2b-256)");
  struct stat st {};
  if (::stat((artifacts_dir_ / digest).c_str(), &st) != 0)
    return Error(Errc::kNotFound, "artifact " + digest + " is not stored on the coordinator: upload it first");
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace flotilla::coordinator
