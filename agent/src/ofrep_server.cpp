#include "flotilla/agent/ofrep_server.h"

#include <httplib.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

namespace flotilla::agent {

namespace {

// A connection holds a thread until it closes or idles past the keep-alive
// timeout: enough for the processes of a few apps on one host.
constexpr std::size_t kServerThreads = 8;
// Accepted connections waiting for a thread; past this the listener waits
// too, and further clients wait in the kernel's backlog.
constexpr std::size_t kMaxQueuedConnections = 16;
constexpr time_t kKeepAliveSeconds = 1;
// How long a request at the agent's start waits for the worker to publish the
// flag sets on disk: answered from an empty store, a bulk evaluation would
// leave a client caching "no flags" until its next poll.
constexpr common::Millis kLoadWait{5000};

// httplib's ThreadPool queues every accepted connection without bound: any
// local process could open thousands of idle ones and leave the agent without
// file descriptors for its journal and its coordinator link. This pool makes
// the listener wait (stop accepting) while the queue is full.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(std::size_t threads, std::size_t max_queued) : max_queued_(max_queued) {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  ~BoundedPool() override = default;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    room_.wait(lock, [this] { return jobs_.size() < max_queued_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    ready_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    while (true) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        ready_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      room_.notify_one();
      fn();
    }
  }

  const std::size_t max_queued_;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool shutdown_ = false;                   // guarded by mu_
  std::vector<std::thread> threads_;
};

std::int64_t secondsOf(common::Millis d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }

std::string labelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void reply(httplib::Response& res, const OfrepReply& r) {
  res.status = r.status;
  if (!r.etag.empty()) res.set_header("ETag", r.etag);
  if (!r.body.empty()) res.set_content(r.body, "application/json");
}

}  // namespace

OfrepServer::OfrepServer(FlagStore& store, OfrepHost host, const common::Clock& clock)
    : store_(store), host_(std::move(host)), clock_(clock) {}

OfrepServer::~OfrepServer() { stop(); }

OfrepNow OfrepServer::nowFor(const LiveFlagSet* set) const {
  OfrepNow now;
  const auto sys = clock_.systemNow();
  now.unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(sys.time_since_epoch()).count();
  if (set)
    now.set_age_seconds =
        std::max<std::int64_t>(0, secondsOf(std::chrono::duration_cast<common::Millis>(sys - set->applied_at)));
  now.coordinator_silent_s = secondsOf(store_.coordinatorSilence(clock_.steadyNow()));
  return now;
}

Status OfrepServer::start(const std::string& host, int port) {
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new BoundedPool(kServerThreads, kMaxQueuedConnections); };
  server_->set_payload_max_length(kMaxOfrepBody);
  server_->set_keep_alive_timeout(kKeepAliveSeconds);
  server_->set_tcp_nodelay(true);  // a small answer per request: no waiting for delayed ACKs
  server_->Post(R"(/apps/([^/]+)/ofrep/v1/evaluate/flags/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  const std::string app = req.matches[1];
                  const std::string key = req.matches[2];
                  store_.waitLoaded(kLoadWait);
                  auto set = store_.find(app);
                  auto r = evaluateOne(set.get(), app, key, req.body, host_, nowFor(set.get()));
                  store_.countEvaluations(r.evaluations);
                  reply(res, r);
                });
  server_->Post(
      R"(/apps/([^/]+)/ofrep/v1/evaluate/flags)", [this](const httplib::Request& req, httplib::Response& res) {
        const std::string app = req.matches[1];
        store_.waitLoaded(kLoadWait);
        auto set = store_.find(app);
        auto r = evaluateAll(set.get(), app, req.body, req.get_header_value("If-None-Match"), host_, nowFor(set.get()));
        store_.countEvaluations(r.evaluations);
        reply(res, r);
      });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(renderMetrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0) {
    server_.reset();
    return Error(Errc::kUnavailable,
                 "cannot listen on " + host + ":" + std::to_string(port) + ": " + std::strerror(errno));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  spdlog::info("flags: OFREP on http://{}:{}/apps/APP, metrics on /metrics", host, port_);
  return {};
}

void OfrepServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

std::string OfrepServer::renderMetrics() const {
  auto sets = store_.snapshot();
  const auto sys = clock_.systemNow();
  std::string out;
  out += "# HELP flotilla_agent_flag_set_age_seconds Seconds since the app's live flag set was applied on this host.\n";
  out += "# TYPE flotilla_agent_flag_set_age_seconds gauge\n";
  for (const auto& [app, set] : *sets) {
    const auto age = std::chrono::duration_cast<common::Millis>(sys - set->applied_at);
    out += "flotilla_agent_flag_set_age_seconds{app=\"" + labelValue(app) + "\"} " +
           std::to_string(std::max<std::int64_t>(0, secondsOf(age))) + "\n";
  }
  out +=
      "# HELP flotilla_agent_coordinator_silent_seconds Seconds since the agent lost its session with the "
      "coordinator; 0 while it has one.\n";
  out += "# TYPE flotilla_agent_coordinator_silent_seconds gauge\n";
  out += "flotilla_agent_coordinator_silent_seconds " +
         std::to_string(secondsOf(store_.coordinatorSilence(clock_.steadyNow()))) + "\n";
  out += "# HELP flotilla_agent_flag_sets_refused_total Flag sets refused as malformed.\n";
  out += "# TYPE flotilla_agent_flag_sets_refused_total counter\n";
  out += "flotilla_agent_flag_sets_refused_total " + std::to_string(store_.refused()) + "\n";
  out += "# HELP flotilla_agent_ofrep_evaluations_total Flags evaluated over OFREP.\n";
  out += "# TYPE flotilla_agent_ofrep_evaluations_total counter\n";
  out += "flotilla_agent_ofrep_evaluations_total " + std::to_string(store_.evaluations()) + "\n";
  return out;
}

}  // namespace flotilla::agent
