#include "flotilla/coordinator/prometheus_source.h"

#include <httplib.h>

#include <cmath>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "flotilla/common/duration.h"

namespace flotilla::coordinator {

using nlohmann::json;

namespace {

// A Prometheus reply is small; anything bigger is not one.
constexpr std::size_t kMaxReplyBytes = std::size_t{4} << 20;

json toJson(const PrometheusQuery& q) {
  return {{"rollout", q.rollout_id}, {"wave", q.wave},     {"agent", q.agent_id}, {"role", q.role},
          {"metric", q.metric},      {"server", q.server}, {"query", q.query}};
}
PrometheusQuery queryOf(const json& j) {
  return {j.at("rollout").get<std::string>(), j.at("wave").get<int>(),           j.at("agent").get<std::string>(),
          j.at("role").get<std::string>(),    j.at("metric").get<std::string>(), j.at("server").get<std::string>(),
          j.at("query").get<std::string>()};
}

// "http://host:9090/prefix" -> origin "http://host:9090", prefix "/prefix".
std::pair<std::string, std::string> splitServer(const std::string& server) {
  const auto sep = server.find("://");
  const auto path = sep == std::string::npos ? std::string::npos : server.find('/', sep + 3);
  if (path == std::string::npos) return {server, ""};
  std::string prefix = server.substr(path);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return {server.substr(0, path), prefix};
}

PrometheusResult run(const PrometheusQuery& q, common::Millis timeout) {
  PrometheusResult r;
  r.query = q;
  r.at_ms = common::toUnixMillis(std::chrono::system_clock::now());
  auto [origin, prefix] = splitServer(q.server);
  httplib::Client client(origin);
  if (!client.is_valid()) {
    r.error = "bad prometheus URL " + q.server;
    return r;
  }
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
  client.set_connection_timeout(secs.count(), usecs.count());
  client.set_read_timeout(secs.count(), usecs.count());
  client.set_write_timeout(secs.count(), usecs.count());
  std::string body;
  bool too_big = false;
  auto res = client.Get(prefix + "/api/v1/query", httplib::Params{{"query", q.query}},
                        httplib::Headers{{"User-Agent", "flotilla"}}, [&](const char* data, std::size_t len) {
                          if (body.size() + len > kMaxReplyBytes) {
                            too_big = true;
                            return false;
                          }
                          body.append(data, len);
                          return true;
                        });
  if (too_big) {
    r.error = "reply over " + std::to_string(kMaxReplyBytes) + " bytes";
  } else if (!res) {
    r.error = httplib::to_string(res.error());
  } else if (res->status < 200 || res->status >= 300) {
    r.error = "HTTP " + std::to_string(res->status) + ": " + body.substr(0, 200);
  } else if (auto v = parseQueryReply(body); !v) {
    r.error = v.error().message;
  } else {
    r.ok = true;
    r.value = *v;
  }
  return r;
}

void workerBody(WorkerPipe::WorkerEnd& end, common::Millis timeout) {
  while (auto frames = end.receive(std::nullopt)) {
    if (frames->empty()) return;
    json batch = json::parse(textOf((*frames)[0]));
    const auto due_by = std::chrono::steady_clock::now() + common::Millis(batch.at("budget_ms").get<std::int64_t>());
    json out = json::array();
    for (const auto& jq : batch.at("queries")) {
      PrometheusQuery q = queryOf(jq);
      PrometheusResult r;
      if (std::chrono::steady_clock::now() >= due_by) {
        r.query = q;
        r.error = "skipped: the next interval was due (Prometheus too slow)";
      } else {
        r = run(q, timeout);
      }
      out.push_back({{"q", toJson(r.query)},
                     {"ok", r.ok},
                     {"value", r.ok ? r.value : 0.0},
                     {"at_ms", r.at_ms},
                     {"error", r.error}});
    }
    Frames reply;
    reply.push_back(frameOf(out.dump()));
    if (!end.send(std::move(reply))) return;
  }
}

}  // namespace

std::string expandHost(std::string query, const std::string& agent_id) {
  static constexpr std::string_view kHost = "${HOST}";
  for (auto at = query.find(kHost); at != std::string::npos; at = query.find(kHost, at + agent_id.size()))
    query.replace(at, kHost.size(), agent_id);
  return query;
}

Result<double> parseQueryReply(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(Errc::kCorrupt, "not a Prometheus API reply (not JSON)");
  if (j.value("status", "") != "success")
    return Error(Errc::kCorrupt, "Prometheus: " + j.value("error", std::string("status is not success")));
  const json& data = j.contains("data") ? j["data"] : json();
  const std::string type = data.is_object() ? data.value("resultType", "") : "";
  auto number = [](const json& pair) -> std::optional<double> {
    if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) return std::nullopt;
    try {
      return std::stod(pair[1].get<std::string>());
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  if (type == "scalar") {
    auto v = number(data["result"]);
    if (!v) return Error(Errc::kCorrupt, "Prometheus: malformed scalar");
    return *v;
  }
  if (type != "vector") return Error(Errc::kCorrupt, "Prometheus: result type '" + type + "' (expected a vector)");
  const json& result = data["result"];
  if (!result.is_array()) return Error(Errc::kCorrupt, "Prometheus: malformed vector");
  if (result.empty()) return Error(Errc::kNotFound, "the query returned no series");
  double sum = 0;
  for (const auto& s : result) {
    auto v = s.is_object() && s.contains("value") ? number(s["value"]) : std::nullopt;
    if (!v) return Error(Errc::kCorrupt, "Prometheus: malformed sample");
    sum += *v;
  }
  return sum;
}

PrometheusSource::PrometheusSource(zmq::context_t& ctx, common::Millis timeout)
    : pipe_(std::make_unique<WorkerPipe>(ctx, "prometheus-source",
                                         [timeout](WorkerPipe::WorkerEnd& end) { workerBody(end, timeout); })) {}

void PrometheusSource::submit(std::vector<PrometheusQuery> batch, common::Millis budget) {
  json queries = json::array();
  for (const auto& q : batch) queries.push_back(toJson(q));
  json doc = {{"budget_ms", budget.count()}, {"queries", std::move(queries)}};
  Frames frames;
  frames.push_back(frameOf(doc.dump()));
  pipe_->send(std::move(frames));
}

void PrometheusSource::drain(const std::function<void(const PrometheusResult&)>& each) {
  while (auto frames = pipe_->receive()) {
    if (frames->empty()) continue;
    json results = json::parse(textOf((*frames)[0]), nullptr, false);
    if (!results.is_array()) continue;
    for (const auto& j : results) {
      PrometheusResult r;
      r.query = queryOf(j.at("q"));
      r.ok = j.at("ok").get<bool>();
      r.value = j.at("value").get<double>();
      r.at_ms = j.at("at_ms").get<std::int64_t>();
      r.error = j.at("error").get<std::string>();
      each(r);
    }
  }
}

}  // namespace flotilla::coordinator
