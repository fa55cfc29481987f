#include "flotilla/coordinator/metrics_worker.h"

#include <spdlog/spdlog.h>

#include "flotilla/protocol/flag_app.h"

namespace flotilla::coordinator {

using nlohmann::json;

namespace {

// Rollouts a metrics query reads at most.
constexpr std::size_t kMaxRollouts = 1000000;

json errorBody(const Error& e) {
  return {{"ok", false}, {"error", {{"code", errcName(e.code)}, {"message", e.message}}}};
}

}  // namespace

json metricsReply(Store& store, const MetricsQuery& q) {
  auto records = store.rollouts(q.app, kMaxRollouts);
  if (!records) return errorBody(records.error());
  // An app's flag rollouts are deployments of the app (docs/metrics.md).
  if (!q.app.empty()) {
    auto flag_records = store.rollouts(protocol::flagAppOf(q.app), kMaxRollouts);
    if (!flag_records) return errorBody(flag_records.error());
    records->insert(records->end(), flag_records->begin(), flag_records->end());
  }
  auto report = computeDora(*records, q);
  if (!report) return errorBody(report.error());
  json j = toJson(*report);
  j["ok"] = true;
  return j;
}

MetricsWorker::MetricsWorker(zmq::context_t& ctx, StoreOptions store) {
  pipe_ = std::make_unique<WorkerPipe>(ctx, "metrics", [options = std::move(store)](WorkerPipe::WorkerEnd& end) {
    auto store = openStore(asReadOnly(options));
    if (!store) spdlog::error("metrics: cannot open the store: {}", store.error().message);
    while (true) {
      auto frames = end.receive(std::nullopt);
      if (!frames) continue;
      if (frames->empty()) return;
      if (frames->size() != 2) continue;
      const json args = json::parse((*frames)[1].to_string_view(), nullptr, false);
      if (!args.is_object()) continue;
      MetricsQuery q;
      q.app = args.value("app", "");
      q.days = args.value("days", 30);
      q.now_ms = args.value("now_ms", std::int64_t{0});
      json body = store ? metricsReply(**store, q) : errorBody(store.error());
      Frames reply;
      reply.push_back(std::move((*frames)[0]));
      reply.push_back(frameOf(body.dump()));
      end.send(std::move(reply));
    }
  });
}

MetricsWorker::~MetricsWorker() = default;

void MetricsWorker::query(std::uint64_t token, const MetricsQuery& q) {
  Frames f;
  f.push_back(frameOf(std::to_string(token)));
  f.push_back(frameOf(json{{"app", q.app}, {"days", q.days}, {"now_ms", q.now_ms}}.dump()));
  pipe_->send(std::move(f));
}

void MetricsWorker::drain(const std::function<void(std::uint64_t token, json body)>& reply) {
  while (auto frames = pipe_->receive()) {
    if (frames->size() != 2) continue;
    reply(std::stoull(textOf((*frames)[0])), json::parse((*frames)[1].to_string_view(), nullptr, false));
  }
}

}  // namespace flotilla::coordinator
