#include "flotilla/agent/agent.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <map>
#include <utility>
#include <variant>

#include <spdlog/spdlog.h>

#include "flotilla/agent/deployer.h"
#include "flotilla/agent/ofrep_server.h"
#include "flotilla/agent/real_host_os.h"
#include "flotilla/agent/url_fetch.h"
#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/protocol/order.h"

#ifdef FLOTILLA_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace flotilla::agent {

using common::SteadyTime;

namespace {

constexpr const char* kWorkerPipe = "inproc://flotilla-agent-worker";
constexpr const char* kSamplerPipe = "inproc://flotilla-agent-sampler";
constexpr const char* kAgentVersion = "0.1.0";

// Messages between the reactor and the worker. Passed by pointer through the
// inproc pipe: the receiver takes ownership.
struct ExecuteOrder {
  protocol::VerifiedOrder order;
};
struct FetchRequest {
  std::string digest;
  std::uint64_t size;
  std::filesystem::path dest;
};
struct FetchDone {
  Status result;
};
struct ReportOut {
  protocol::Report report;
};
struct StateUpdate {
  std::map<std::string, std::string> releases;
  protocol::HealthMap health;
  std::string busy;
};
struct Stop {};
struct Stopped {};
// The worker handed the order over to a new agent binary (self_upgrade.h).
struct HandoverOut {
  std::filesystem::path binary;
  std::string order_id;
  common::Millis deadline;
};
// The coordinator accepted a session (the worker may be waiting for one).
struct SessionUp {};
using Internal =
    std::variant<ExecuteOrder, FetchRequest, FetchDone, ReportOut, StateUpdate, Stop, Stopped, HandoverOut, SessionUp>;

void sendInternal(zmq::socket_t& s, Internal msg) {
  auto* p = new Internal(std::move(msg));
  s.send(zmq::buffer(&p, sizeof p), zmq::send_flags::none);
}

std::unique_ptr<Internal> recvInternal(zmq::socket_t& s, zmq::recv_flags flags) {
  zmq::message_t m;
  if (!s.recv(m, flags)) return nullptr;
  Internal* p = nullptr;
  std::memcpy(&p, m.data(), sizeof p);
  return std::unique_ptr<Internal>(p);
}

// The reactor wakes at least this often even with nothing due: a bound, not a schedule.
constexpr common::Millis kMaxPollWait{60000};

// The sampler's way out, made on its thread: each batch is encoded there and
// crosses the pipe as bytes. A full pipe (a reactor far behind) drops it.
Sampler::Sink samplerPipeSink(zmq::context_t& ctx) {
  auto pipe = std::make_shared<zmq::socket_t>(ctx, zmq::socket_type::pair);
  pipe->set(zmq::sockopt::linger, 0);
  pipe->connect(kSamplerPipe);
  return [pipe](protocol::Samples s) {
    try {
      if (pipe->send(zmq::buffer(protocol::encode(s)), zmq::send_flags::dontwait)) return;
    } catch (const zmq::error_t&) {
    }
    spdlog::debug("dropped {} samples of {}: the reactor is not keeping up", s.samples.size(), s.app);
  };
}

long millisUntil(SteadyTime t, SteadyTime now) {
  if (t <= now) return 0;
  return std::min<common::Millis>(std::chrono::duration_cast<common::Millis>(t - now), kMaxPollWait).count();
}

}  // namespace

Agent::Agent(AgentConfig config, const common::Clock& clock)
    : config_(std::move(config)),
      clock_(clock),
      ctx_(1),
      sampler_(config_.vars, clock),
      flags_(clock.steadyNow(), false),
      failover_(config_.coordinator_endpoints, [this](common::Millis max) { return jitter(max); }) {}

Agent::~Agent() {
  if (ofrep_) ofrep_->stop();
  sampler_.stop();
  if (worker_.joinable()) {
    try {
      sendInternal(pipe_, Stop{});
    } catch (...) {
    }
    worker_.join();
  }
  if (fetch_fd_ >= 0) ::close(fetch_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

void Agent::requestStop() {
  std::uint64_t one = 1;
  if (stop_fd_ >= 0) [[maybe_unused]]
    auto n = ::write(stop_fd_, &one, sizeof one);
}

Status Agent::start() {
  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  if (ZMQ_MAKE_VERSION(major, minor, patch) < ZMQ_MAKE_VERSION(4, 3, 2))
    return Error(Errc::kUnavailable, "libzmq " + std::to_string(major) + "." + std::to_string(minor) + "." +
                                         std::to_string(patch) +
                                         " is too old: 4.3.2 or later is required (CVE-2019-13132)");
  auto journal = Journal::open(config_.state_dir);
  if (!journal) return journal.error();
  // A plan key reached through verified rotation statements overrides agent.toml's.
  if (std::filesystem::exists(config_.state_dir / "plan_key")) {
    auto raw = common::readKeyFile(config_.state_dir / "plan_key", 32, "a plan public key");
    if (!raw) return raw.error();
    std::memcpy(config_.plan_key.data(), raw->data(), 32);
  }
  journal_.emplace(std::move(*journal));
  auto epoch = EpochMark::open(config_.state_dir);
  if (!epoch) return epoch.error();
  epoch_.emplace(std::move(*epoch));
  if (config_.flags_listen) {
    ofrep_ = std::make_unique<OfrepServer>(flags_, OfrepHost{config_.id, config_.labels}, clock_);
    if (auto st = ofrep_->start(config_.flags_listen->host, config_.flags_listen->port); !st.ok())
      return st.error().context(config_.file.string() + ": flags.listen");
  }
  std::map<std::string, std::uint64_t> sequences;
  protocol::StringMap releases;
  for (const auto& [app, st] : journal_->state().apps) {
    sequences[app] = st.sequence;
    if (!st.current.empty()) releases[app] = st.current;
  }
  session_.restore(OrderLedger(journal_->state()), std::move(sequences), std::move(releases));
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);  // before the worker starts, so it inherits the mask
  signal_fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  try {
    pipe_ = zmq::socket_t(ctx_, zmq::socket_type::pair);
    pipe_.bind(kWorkerPipe);
    sampler_pipe_ = zmq::socket_t(ctx_, zmq::socket_type::pair);
    sampler_pipe_.bind(kSamplerPipe);
    coord_ = zmq::socket_t(ctx_, zmq::socket_type::dealer);
    coord_.set(zmq::sockopt::linger, 1000);
    coord_.set(zmq::sockopt::maxmsgsize, protocol::kMaxAgentFrameBytes);
    coord_.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(config_.coordinator_key.data(), 32));
    coord_.set(zmq::sockopt::curve_publickey, zmq::const_buffer(config_.curve_key.public_key.data(), 32));
    coord_.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(config_.curve_key.secret_key.data(), 32));
    // Reconnects back off exponentially from a randomised start, so a
    // coordinator restart under a large fleet is not a reconnect storm.
    std::random_device rd;
    coord_.set(zmq::sockopt::reconnect_ivl, 250 + static_cast<int>(rd() % 750));
    coord_.set(zmq::sockopt::reconnect_ivl_max, 30000);
    // ZMTP heartbeats notice a silent connection (a paused or partitioned
    // coordinator), so libzmq reconnects and the failover moves on; each PING
    // is a CURVE message the coordinator pays for, times the fleet (link_watch.h).
    const ZmtpHeartbeat beat = zmtpHeartbeat(config_.link_timeout, failover_.list().size());
    coord_.set(zmq::sockopt::heartbeat_ivl, beat.interval_ms);
    coord_.set(zmq::sockopt::heartbeat_timeout, beat.timeout_ms);
    coord_.set(zmq::sockopt::sndhwm, 10000);
    // Every new CURVE session (first connect, or a reconnect after the
    // coordinator restarted or dropped us) starts with a hello at once.
    if (zmq_socket_monitor(coord_.handle(), "inproc://flotilla-agent-monitor",
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
      return Error(Errc::kInternal, std::string("socket monitor: ") + zmq_strerror(zmq_errno()));
    monitor_ = zmq::socket_t(ctx_, zmq::socket_type::pair);
    monitor_.connect("inproc://flotilla-agent-monitor");
    coord_.connect(failover_.current());
  } catch (const zmq::error_t& e) {
    return Error(Errc::kUnavailable, "connecting to " + failover_.current() + ": " + e.what());
  }
  failover_.start(clock_.steadyNow());
  worker_ = std::thread([this] { workerMain(); });
  sampler_.start([this] { return samplerPipeSink(ctx_); });
  spdlog::info("agent {} connecting to {}{}", config_.id, failover_.current(),
               failover_.list().size() > 1 ? " (first of " + std::to_string(failover_.list().size()) + ")" : "");
  return {};
}

// ---------------------------------------------------------------- worker thread

namespace {

// The worker's end of the pipe and what has come through it: orders queue up
// behind the one in hand, a download's outcome waits for the fetch hook, Stop
// is remembered. Worker thread only.
struct WorkerInbox {
  explicit WorkerInbox(zmq::socket_t& p) : pipe(p) {}

  zmq::socket_t& pipe;
  std::deque<protocol::VerifiedOrder> queue;
  bool stopping = false;
  bool online = false;
  std::optional<Status> fetch_result;

  void handle(std::unique_ptr<Internal> msg) {
    if (!msg) return;
    if (auto* o = std::get_if<ExecuteOrder>(msg.get()))
      queue.push_back(std::move(o->order));
    else if (auto* f = std::get_if<FetchDone>(msg.get()))
      fetch_result = f->result;
    else if (std::holds_alternative<Stop>(*msg))
      stopping = true;
    else if (std::holds_alternative<SessionUp>(*msg))
      online = true;
  }
  // Waits up to `d` for messages, then takes all there are.
  void pollFor(common::Millis d) {
    zmq::pollitem_t item{pipe.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, d);
    while (auto m = recvInternal(pipe, zmq::recv_flags::dontwait)) handle(std::move(m));
  }
};

// The Deployer's way out: reports and download requests go to the reactor,
// waits end early when the agent stops.
// Downloads from an artifact URL run on the worker (blocking) and end early
// when the agent stops; the pipe is looked at every kStopPoll as bytes arrive.
constexpr common::Millis kStopPoll{100};

Status fetchFromUrl(WorkerInbox& inbox, const AgentConfig& config, const common::Clock& clock, const std::string& url,
                    std::uint64_t size, const std::filesystem::path& dest) {
  auto proxy = proxyFor(url, config.fetch_proxy, ProxyEnvironment::fromProcess());
  if (!proxy) return proxy.error();
  UrlFetchOptions options;
  options.expected_size = size;
  options.timeout = config.fetch_timeout;
  options.ca_file = config.fetch_ca_file;
  options.proxy = *proxy;
  auto next_poll = clock.steadyNow();
  options.cancelled = [&inbox, &clock, &next_poll] {
    if (clock.steadyNow() < next_poll) return inbox.stopping;
    next_poll = clock.steadyNow() + kStopPoll;
    inbox.pollFor(common::Millis(0));
    return inbox.stopping;
  };
  return fetchUrl(url, dest, options);
}

DeployerHooks workerHooks(WorkerInbox& inbox, const AgentConfig& config, const common::Clock& clock) {
  DeployerHooks hooks;
  hooks.report = [&inbox](const protocol::Report& r) { sendInternal(inbox.pipe, ReportOut{r}); };
  hooks.wait = [&inbox, &clock](common::Millis d) {
    auto until = clock.steadyNow() + d;
    inbox.pollFor(common::Millis(0));  // a stop that already arrived counts, even for a wait of 0
    while (!inbox.stopping) {
      auto now = clock.steadyNow();
      if (now >= until) return true;
      inbox.pollFor(std::chrono::duration_cast<common::Millis>(until - now));
    }
    return false;
  };
  hooks.handover = [&inbox](const std::filesystem::path& binary, const std::string& order_id, common::Millis deadline) {
    sendInternal(inbox.pipe, HandoverOut{binary, order_id, deadline});
    inbox.stopping = true;  // no further order: the new agent takes the next ones
  };
  hooks.superseded = [&inbox](const std::string& app) {
    return std::any_of(inbox.queue.begin(), inbox.queue.end(),
                       [&app](const protocol::VerifiedOrder& o) { return o.body.app == app; });
  };
  hooks.wait_online = [&inbox]() {
    while (!inbox.online && !inbox.stopping) inbox.pollFor(common::Millis(1000));
    return inbox.online;
  };
  hooks.fetch = [&inbox](const std::string& digest, std::uint64_t size, const std::filesystem::path& dest) -> Status {
    inbox.fetch_result.reset();
    sendInternal(inbox.pipe, FetchRequest{digest, size, dest});
    while (!inbox.fetch_result && !inbox.stopping) inbox.pollFor(common::Millis(1000));
    if (!inbox.fetch_result) return Error(Errc::kUnavailable, "agent stopping");
    return *inbox.fetch_result;
  };
  hooks.fetch_url = [&inbox, &config, &clock](const std::string& url, std::uint64_t size,
                                              const std::filesystem::path& dest) {
    return fetchFromUrl(inbox, config, clock, url, size, dest);
  };
  return hooks;
}

}  // namespace

void Agent::workerMain() {
  zmq::socket_t pipe(ctx_, zmq::socket_type::pair);
  pipe.connect(kWorkerPipe);
  Journal journal = std::move(*journal_);
  WorkerInbox inbox(pipe);
  RealHostOs host_os;
  Deployer deployer(config_, journal, workerHooks(inbox, config_, clock_), clock_, host_os, &flags_);
  protocol::HealthMap health;
  auto publish = [&](const std::string& busy) { sendInternal(pipe, StateUpdate{deployer.releases(), health, busy}); };

  deployer.recover();
  health = deployer.checkAll();
  publish("");
  auto next_check = clock_.steadyNow() + deployer.monitorInterval();
  while (!inbox.stopping) {
    if (!inbox.queue.empty()) {
      auto order = std::move(inbox.queue.front());
      inbox.queue.pop_front();
      publish(order.body.order_id);
      deployer.execute(order);
      health = deployer.checkAll();
      publish("");
      next_check = clock_.steadyNow() + deployer.monitorInterval();
      continue;
    }
    auto now = clock_.steadyNow();
    if (now >= next_check) {
      auto h = deployer.checkAll();
      if (h != health) {
        health = std::move(h);
        publish("");
      }
      next_check = clock_.steadyNow() + deployer.monitorInterval();
      continue;
    }
    inbox.pollFor(std::chrono::duration_cast<common::Millis>(next_check - now));
  }
  sendInternal(pipe, Stopped{});
}

// ---------------------------------------------------------------- reactor

void Agent::sendFrame(const std::string& payload) {
  try {
    coord_.send(zmq::buffer(payload), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::debug("send failed: {}", e.what());
  }
}

void Agent::send(protocol::MsgType, std::string frame) { sendFrame(frame); }

common::Millis Agent::jitter(common::Millis max) {
  return common::Millis(std::uniform_int_distribution<long>(0, max.count())(rng_));
}

void Agent::identify(protocol::Hello& h) {
  h.agent_id = config_.id;
  h.labels = config_.labels;
  h.join_token = config_.join_token;
  h.agent_version = kAgentVersion;
}

void Agent::online() {
  if (pipe_.handle() != nullptr) sendInternal(pipe_, SessionUp{});
}

void Agent::resent(const protocol::Report& r) {
  spdlog::info("re-sent the {} report of order {} ({} {}) to the coordinator", protocol::toString(r.phase), r.order_id,
               r.app, r.version);
}

Status Agent::run() {
#ifdef FLOTILLA_HAVE_SYSTEMD
  sd_notify(0, "READY=1");
#endif
  // The first hello goes out when the handshake completes (handleMonitor);
  // the session falls back to a hello of its own if that event never comes.
  session_.awaitConnection(clock_.steadyNow());
  SteadyTime stop_deadline{};
  while (!worker_done_) {
    zmq::pollitem_t items[] = {
        {coord_.handle(), 0, ZMQ_POLLIN, 0},   {pipe_.handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, stop_fd_, ZMQ_POLLIN, 0},    {nullptr, signal_fd_, ZMQ_POLLIN, 0},
        {monitor_.handle(), 0, ZMQ_POLLIN, 0}, {sampler_pipe_.handle(), 0, ZMQ_POLLIN, 0},
    };
    const auto now = clock_.steadyNow();
    SteadyTime next = std::min(session_.nextDeadline(), failover_.nextDeadline());
    if (stopping_) next = std::min(next, stop_deadline);
    try {
      zmq::poll(items, 6, std::chrono::milliseconds(millisUntil(next, now) + 1));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return Error(Errc::kIo, std::string("poll: ") + e.what());
    }
    if ((items[2].revents || items[3].revents) && !stopping_) {
      if (handover_)
        spdlog::info("handing over to the new agent {}", handover_->binary.string());
      else
        spdlog::info("stopping: letting the worker finish or revert the step in hand");
      stopping_ = true;
      stop_deadline = clock_.steadyNow() + config_.stop_grace;
      sendInternal(pipe_, Stop{});
      finishFetch(Error(Errc::kUnavailable, "agent stopping"));
      sampler_.stop();
    }
    for (int i = 0; i < 256 && (coord_.get(zmq::sockopt::events) & ZMQ_POLLIN); ++i) handleCoordinator();
    for (int i = 0; i < 256 && (pipe_.get(zmq::sockopt::events) & ZMQ_POLLIN); ++i) handleWorker();
    if (items[4].revents & ZMQ_POLLIN) handleMonitor();
    if (items[5].revents & ZMQ_POLLIN) handleSampler();
    const auto t = clock_.steadyNow();
    const auto due = session_.onTimer(t, *this);
    // A session lives on across a dropped connection until the next hello;
    // the coordinator is silent from the drop.
    flags_.sessionChanged(session_.online() && link_.up(), t);
    const std::string dialled = failover_.current();
    if (auto to = failover_.onTimer(t)) {
      spdlog::warn("no session with a leading coordinator at {}; dialling {}", dialled, *to);
      redial(dialled, *to);
    } else if (due.reconnect) {
      spdlog::warn("no new session with the coordinator since the connection dropped; reconnecting");
      redial(dialled, dialled);
    }
    if (due.fetch_expired) finishFetch(Error(Errc::kTimeout, "download did not finish within fetch_timeout"));
    if (stopping_ && t >= stop_deadline) break;
  }
  // Give the last reports a moment to leave (linger), then close.
#ifdef FLOTILLA_HAVE_SYSTEMD
  // A handover is not a stop: the same process goes on as the new agent, and
  // systemd must not start the stop timeout that would kill it.
  if (!handover_) sd_notify(0, "STOPPING=1");
#endif
  if (!worker_done_)
    return Error(Errc::kTimeout, "the worker did not stop within stop_grace (" +
                                     common::formatDuration(config_.stop_grace) +
                                     "); exiting anyway: the step in hand is journaled and is finished or reverted "
                                     "at the next start");
  worker_.join();
  return {};
}

void Agent::redial(const std::string& from, const std::string& to) {
  link_.redialled();
  try {
    coord_.disconnect(from);
  } catch (const zmq::error_t& e) {
    spdlog::debug("disconnecting from {}: {}", from, e.what());
  }
  try {
    coord_.connect(to);
  } catch (const zmq::error_t& e) {
    spdlog::error("connecting to {}: {}", to, e.what());
  }
}

void Agent::handleMonitor() {
  const auto now = clock_.steadyNow();
  LinkWatch::Outcome batch;
  while (true) {
    zmq::message_t event;
    if (!monitor_.recv(event, zmq::recv_flags::dontwait)) break;
    if (event.size() >= 2) {
      std::uint16_t id = 0;
      std::memcpy(&id, event.data(), sizeof id);
      link_.onEvent(id, failover_, now, batch);
    }
    zmq::message_t address;  // the second frame of every event
    (void)monitor_.recv(address, zmq::recv_flags::dontwait);
  }
  if (batch.dropped_first) session_.disconnected(now, *this);
  // The coordinator on the other end may not know this connection yet.
  if (batch.connected && !stopping_) session_.connected(now, *this);
  if (batch.dropped_after) session_.disconnected(now, *this);
}

void Agent::handleSampler() {
  zmq::message_t m;
  for (int i = 0; i < 256 && sampler_pipe_.recv(m, zmq::recv_flags::dontwait); ++i) {
    if (session_.online()) {
      sendFrame(m.to_string());
      continue;
    }
    ++samples_dropped_;
    spdlog::debug("dropped a batch of samples: not connected to the coordinator ({} so far)", samples_dropped_);
  }
}

void Agent::handleWorker() {
  auto msg = recvInternal(pipe_, zmq::recv_flags::dontwait);
  if (!msg) return;
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ReportOut>) {
          session_.report(m.report, *this);
        } else if constexpr (std::is_same_v<T, StateUpdate>) {
          session_.updateState(std::move(m.releases), std::move(m.health), std::move(m.busy), clock_.steadyNow(),
                               *this);
        } else if constexpr (std::is_same_v<T, FetchRequest>) {
          finishFetch(Error(Errc::kConflict, "another download in progress"));
          int fd = ::open(m.dest.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
          if (fd < 0) {
            sendInternal(pipe_, FetchDone{Error(Errc::kIo, "open " + m.dest.string() + ": " + std::strerror(errno))});
            return;
          }
          fetch_fd_ = fd;
          session_.beginFetch(m.digest, m.size, clock_.steadyNow() + config_.fetch_timeout, *this);
        } else if constexpr (std::is_same_v<T, Stopped>) {
          worker_done_ = true;
        } else if constexpr (std::is_same_v<T, HandoverOut>) {
          handover_ = Handover{std::move(m.binary), std::move(m.order_id), m.deadline};
          requestStop();  // wakes the loop, which stops the session and returns
        }
      },
      *msg);
}

void Agent::finishFetch(Status result) {
  if (fetch_fd_ < 0) return;
  // Never fsynced: the worker verifies and extracts it at once, from the page
  // cache, and after a crash nothing reads it (recover() deletes it), so
  // making it durable would only cost the step an fsync of the whole artifact.
  ::close(fetch_fd_);
  fetch_fd_ = -1;
  session_.abandonFetch();
  sendInternal(pipe_, FetchDone{std::move(result)});
}

void Agent::onChunk(const protocol::Chunk& c) {
  if (fetch_fd_ < 0) return;  // a late chunk of an abandoned download
  auto fit = session_.onChunk(c, *this);
  if (!fit) {
    finishFetch(fit.error());
    return;
  }
  if (*fit == FetchWindow::Fit::kStale) return;
  std::size_t off = 0;
  while (off < c.data.size()) {
    ssize_t n = ::pwrite(fetch_fd_, c.data.data() + off, c.data.size() - off, static_cast<off_t>(c.offset + off));
    if (n < 0) {
      if (errno == EINTR) continue;
      finishFetch(Error(Errc::kIo, std::string("writing download: ") + std::strerror(errno)));
      return;
    }
    off += static_cast<std::size_t>(n);
  }
  if (*fit == FetchWindow::Fit::kComplete) finishFetch({});
}

void Agent::onOrder(const protocol::SignedOrder& order) {
  using Kind = Session::OrderDecision::Kind;
  protocol::VerifyContext ctx;
  ctx.plan_key = config_.plan_key;
  ctx.agent_id = config_.id;
  ctx.clock_skew_s = config_.clock_skew_s;
  ctx.release_keys = config_.release_keys;
  ctx.highest_epoch = epoch_->highest();
  auto d = session_.onOrder(order, std::move(ctx), clock_.systemNow(), *this);
  switch (d.kind) {
    case Kind::kNotOnline:
      spdlog::warn("ignored an order received before being accepted");
      return;
    case Kind::kBadCopy:
      spdlog::warn("ignored a copy of order {} that does not verify: {}", d.order_id, d.note);
      return;
    case Kind::kRepeatQueued:
      spdlog::info("order {} again: it is queued, its reports will follow", d.order_id);
      return;
    case Kind::kRepeatAnswered:
      spdlog::info("order {} again: re-sent its latest report ({})", d.order_id, d.note);
      return;
    case Kind::kRefused:
      spdlog::warn("refused order {}: {}", d.order_id.empty() ? "(undecodable)" : d.order_id, d.note);
      return;
    case Kind::kAccepted:
      // The order's epoch is on disk before the host acts on the order.
      observeEpoch(d.order.body.epoch);
      sendInternal(pipe_, ExecuteOrder{std::move(d.order)});
      return;
  }
}

void Agent::observeEpoch(std::uint64_t epoch) {
  const auto before = epoch_->highest();
  if (auto st = epoch_->observe(epoch); !st.ok())
    spdlog::error("{}; orders below it are refused until this agent restarts", st.error().message);
  if (epoch_->highest() > before) spdlog::info("coordinator leadership epoch {} (was {})", epoch_->highest(), before);
}

void Agent::onRotation(const protocol::Rotation& r) {
  common::PublicKey next{};
  if (r.new_key.size() == 32) std::memcpy(next.data(), r.new_key.data(), 32);
  if (r.new_key.size() == 32 && next == config_.plan_key) return;  // already followed
  if (!protocol::verifyRotation(r, config_.plan_key)) {
    // Statements for older links of the chain are expected; anything else is noise.
    spdlog::debug("ignored a plan key rotation not signed by the pinned key {}", common::keyId(config_.plan_key));
    return;
  }
  if (auto st = common::atomicWriteFile(config_.state_dir / "plan_key", common::toHex(next) + "\n", 0600); !st.ok()) {
    spdlog::error("cannot persist the rotated plan key, keeping {}: {}", common::keyId(config_.plan_key),
                  st.error().message);
    return;
  }
  spdlog::warn("plan key rotated: {} -> {} (signed by the old key)", common::keyId(config_.plan_key),
               common::keyId(next));
  config_.plan_key = next;
}

void Agent::handleCoordinator() {
  zmq::message_t m;
  if (!coord_.recv(m, zmq::recv_flags::dontwait)) return;
  if (m.more()) {
    // The coordinator sends single frames; drain and drop anything else.
    zmq::message_t rest;
    while (coord_.recv(rest, zmq::recv_flags::dontwait) && rest.more()) {
    }
    spdlog::warn("dropped a multi-frame message");
    return;
  }
  auto msg = protocol::decodeCoordinatorMessage(std::string_view(static_cast<const char*>(m.data()), m.size()));
  if (!msg) {
    spdlog::warn("dropped a malformed message from the coordinator: {}", msg.error().message);
    return;
  }
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, protocol::Welcome>) {
          observeEpoch(x.epoch);
          const auto before = session_.state();
          session_.onWelcome(x, clock_.steadyNow(), *this);
          failover_.welcomed();
          if (session_.online() && before != Session::State::kOnline)
            spdlog::info("connected to the coordinator: {}", x.message);
          else if (session_.state() == Session::State::kPending && before != Session::State::kPending)
            spdlog::warn("{}", x.message);
        } else if constexpr (std::is_same_v<T, protocol::SignedOrder>) {
          onOrder(x);
        } else if constexpr (std::is_same_v<T, protocol::Chunk>) {
          onChunk(x);
        } else if constexpr (std::is_same_v<T, protocol::Rotation>) {
          onRotation(x);
        } else if constexpr (std::is_same_v<T, protocol::SampleRequest>) {
          sampler_.request(std::move(x));
        } else if constexpr (std::is_same_v<T, protocol::Refusal>) {
          if (x.code == protocol::RefusalCode::kNotLeader) {
            spdlog::warn("the coordinator at {} is a standby; the leader is {}", failover_.current(),
                         x.detail.empty() ? "unknown" : x.detail);
            failover_.notLeader(x.detail, clock_.steadyNow());
          } else {
            spdlog::warn("coordinator refused: {}: {}", protocol::toString(x.code), x.detail);
          }
          if (auto failed = session_.onRefusal(x, clock_.steadyNow(), *this)) finishFetch(*failed);
        }
      },
      *msg);
}

}  // namespace flotilla::agent
