#include "flotilla/agent/agent.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <random>
#include <set>
#include <utility>
#include <variant>

#include <spdlog/spdlog.h>

#include "flotilla/agent/deployer.h"
#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/protocol/order.h"

#ifdef FLOTILLA_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace flotilla::agent {

using common::SteadyTime;
using protocol::Phase;

namespace {

constexpr const char* kWorkerPipe = "inproc://flotilla-agent-worker";
constexpr std::uint32_t kFetchWindowChunks = 8;
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
using Internal = std::variant<ExecuteOrder, FetchRequest, FetchDone, ReportOut, StateUpdate, Stop, Stopped>;

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

long millisUntil(SteadyTime t, SteadyTime now) {
  return std::max<long>(0, std::chrono::duration_cast<common::Millis>(t - now).count());
}

}  // namespace

Agent::Agent(AgentConfig config, const common::Clock& clock) : config_(std::move(config)), clock_(clock), ctx_(1) {}

Agent::~Agent() {
  if (worker_.joinable()) {
    try {
      sendInternal(pipe_, Stop{});
    } catch (...) {
    }
    worker_.join();
  }
  if (fetch_ && fetch_->fd >= 0) ::close(fetch_->fd);
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
  ledger_ = OrderLedger(journal_->state());
  for (const auto& [app, st] : journal_->state().apps) {
    sequences_[app] = st.sequence;
    if (!st.current.empty()) releases_[app] = st.current;
  }
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
    // ZMTP heartbeats notice a dead connection so libzmq reconnects. Slow on
    // purpose: each is a CURVE message the coordinator pays for, times the fleet.
    coord_.set(zmq::sockopt::heartbeat_ivl, 10000);
    coord_.set(zmq::sockopt::heartbeat_timeout, 30000);
    coord_.set(zmq::sockopt::sndhwm, 10000);
    // Every new CURVE session (first connect, or a reconnect after the
    // coordinator restarted or dropped us) starts with a hello at once.
    if (zmq_socket_monitor(coord_.handle(), "inproc://flotilla-agent-monitor",
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
      return Error(Errc::kInternal, std::string("socket monitor: ") + zmq_strerror(zmq_errno()));
    monitor_ = zmq::socket_t(ctx_, zmq::socket_type::pair);
    monitor_.connect("inproc://flotilla-agent-monitor");
    coord_.connect(config_.coordinator_endpoint);
  } catch (const zmq::error_t& e) {
    return Error(Errc::kUnavailable, "connecting to " + config_.coordinator_endpoint + ": " + e.what());
  }
  worker_ = std::thread([this] { workerMain(); });
  spdlog::info("agent {} connecting to {}", config_.id, config_.coordinator_endpoint);
  return {};
}

// ---------------------------------------------------------------- worker thread

void Agent::workerMain() {
  zmq::socket_t pipe(ctx_, zmq::socket_type::pair);
  pipe.connect(kWorkerPipe);
  Journal journal = std::move(*journal_);
  std::deque<protocol::VerifiedOrder> queue;
  bool stopping = false;
  std::optional<Status> fetch_result;

  // Handles one message from the reactor; orders queue up behind the one in hand.
  auto handle = [&](std::unique_ptr<Internal> msg) {
    if (!msg) return;
    if (auto* o = std::get_if<ExecuteOrder>(msg.get()))
      queue.push_back(std::move(o->order));
    else if (auto* f = std::get_if<FetchDone>(msg.get()))
      fetch_result = f->result;
    else if (std::holds_alternative<Stop>(*msg))
      stopping = true;
  };
  auto pollFor = [&](common::Millis d) {
    zmq::pollitem_t item{pipe.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, d);
    while (auto m = recvInternal(pipe, zmq::recv_flags::dontwait)) handle(std::move(m));
  };

  DeployerHooks hooks;
  hooks.report = [&](const protocol::Report& r) { sendInternal(pipe, ReportOut{r}); };
  hooks.wait = [&](common::Millis d) {
    auto until = clock_.steadyNow() + d;
    while (!stopping) {
      auto now = clock_.steadyNow();
      if (now >= until) return true;
      pollFor(std::chrono::duration_cast<common::Millis>(until - now));
    }
    return false;
  };
  hooks.fetch = [&](const std::string& digest, std::uint64_t size, const std::filesystem::path& dest) -> Status {
    fetch_result.reset();
    sendInternal(pipe, FetchRequest{digest, size, dest});
    while (!fetch_result && !stopping) pollFor(common::Millis(1000));
    if (!fetch_result) return Error(Errc::kUnavailable, "agent stopping");
    return *fetch_result;
  };
  Deployer deployer(config_, journal, hooks, clock_);
  std::map<std::string, std::string> health;
  auto publish = [&](const std::string& busy) {
    protocol::HealthMap states;
    for (const auto& [app, word] : health) states.emplace(app, protocol::healthStateFromString(word));
    sendInternal(pipe, StateUpdate{deployer.releases(), std::move(states), busy});
  };

  deployer.recover();
  health = deployer.checkAll();
  publish("");
  auto next_check = clock_.steadyNow() + deployer.monitorInterval();
  while (!stopping) {
    if (!queue.empty()) {
      auto order = std::move(queue.front());
      queue.pop_front();
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
    pollFor(std::chrono::duration_cast<common::Millis>(next_check - now));
  }
  sendInternal(pipe, Stopped{});
}

// ---------------------------------------------------------------- reactor

void Agent::send(const std::string& payload) {
  try {
    coord_.send(zmq::buffer(payload), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::debug("send failed: {}", e.what());
  }
}

void Agent::sendHello() {
  protocol::Hello h;
  h.agent_id = config_.id;
  h.labels = config_.labels;
  h.releases = releases_;
  h.join_token = config_.join_token;
  h.agent_version = kAgentVersion;
  send(protocol::encode(h));
  const auto now = clock_.steadyNow();
  // Until welcomed, say hello again with exponential backoff and jitter.
  static thread_local std::mt19937 rng{std::random_device{}()};
  auto jitter = common::Millis(std::uniform_int_distribution<long>(0, hello_backoff_.count() / 2)(rng));
  next_hello_ = now + hello_backoff_ + jitter;
  hello_backoff_ = std::min<common::Millis>(hello_backoff_ * 2, std::chrono::seconds(30));
}

void Agent::sendHeartbeat() {
  protocol::Heartbeat hb;
  hb.releases = releases_;
  hb.health = health_;
  hb.busy = busy_;
  send(protocol::encode(hb));
  next_heartbeat_ = clock_.steadyNow() + heartbeat_interval_;
}

void Agent::onWelcomed() {
  // Reports held while disconnected go first, in order. Then the latest report
  // of every order in hand and of every app's last finished order, so a
  // coordinator that restarted (or missed them) learns what happened while it
  // was away; it ignores reports of orders it does not know.
  std::set<std::pair<std::string, Phase>> sent;
  while (!outbox_.empty()) {
    sent.emplace(outbox_.front().order_id, outbox_.front().phase);
    send(protocol::encode(outbox_.front()));
    outbox_.pop_front();
  }
  for (const auto& r : ledger_.latestReports()) {
    if (sent.count({r.order_id, r.phase})) continue;
    spdlog::info("re-sent the {} report of order {} ({} {}) to the coordinator", protocol::toString(r.phase),
                 r.order_id, r.app, r.version);
    send(protocol::encode(r));
  }
}

void Agent::sendReport(const protocol::Report& r) {
  if (!r.live_version.empty())
    releases_[r.app] = r.live_version;
  else if (protocol::isTerminal(r.phase) && r.phase != Phase::kRefused && r.live_version.empty())
    releases_.erase(r.app);
  if (!welcomed_) {
    outbox_.push_back(r);
    return;
  }
  send(protocol::encode(r));
}

Status Agent::run() {
#ifdef FLOTILLA_HAVE_SYSTEMD
  sd_notify(0, "READY=1");
#endif
  // The first hello goes out when the handshake completes (handleMonitor);
  // this is only the fallback if that event never comes.
  next_hello_ = clock_.steadyNow() + std::chrono::seconds(3);
  SteadyTime stop_deadline{};
  while (!worker_done_) {
    zmq::pollitem_t items[] = {
        {coord_.handle(), 0, ZMQ_POLLIN, 0},  {pipe_.handle(), 0, ZMQ_POLLIN, 0},    {nullptr, stop_fd_, ZMQ_POLLIN, 0},
        {nullptr, signal_fd_, ZMQ_POLLIN, 0}, {monitor_.handle(), 0, ZMQ_POLLIN, 0},
    };
    const auto now = clock_.steadyNow();
    SteadyTime next = welcomed_ ? next_heartbeat_ : next_hello_;
    if (pending_) next = next_hello_;
    if (fetch_) next = std::min(next, fetch_->deadline);
    if (reconnect_check_) next = std::min(next, *reconnect_check_);
    if (stopping_) next = std::min(next, stop_deadline);
    try {
      zmq::poll(items, 5, std::chrono::milliseconds(millisUntil(next, now) + 1));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return Error(Errc::kIo, std::string("poll: ") + e.what());
    }
    if ((items[2].revents || items[3].revents) && !stopping_) {
      spdlog::info("stopping: letting the worker finish or revert the step in hand");
      stopping_ = true;
      stop_deadline = clock_.steadyNow() + std::chrono::seconds(90);
      sendInternal(pipe_, Stop{});
      if (fetch_) finishFetch(Error(Errc::kUnavailable, "agent stopping"));
    }
    for (int i = 0; i < 256 && (coord_.get(zmq::sockopt::events) & ZMQ_POLLIN); ++i) handleCoordinator();
    for (int i = 0; i < 256 && (pipe_.get(zmq::sockopt::events) & ZMQ_POLLIN); ++i) handleWorker();
    if (items[4].revents & ZMQ_POLLIN) handleMonitor();
    const auto t = clock_.steadyNow();
    if (reconnect_check_ && t >= *reconnect_check_) {
      reconnect_check_.reset();
      spdlog::warn("no new session with the coordinator since the connection dropped; reconnecting");
      try {
        coord_.disconnect(config_.coordinator_endpoint);
        coord_.connect(config_.coordinator_endpoint);
      } catch (const zmq::error_t& e) {
        spdlog::error("reconnecting to {}: {}", config_.coordinator_endpoint, e.what());
      }
    }
    if (fetch_ && t >= fetch_->deadline)
      finishFetch(Error(Errc::kTimeout, "download did not finish within fetch_timeout"));
    if ((!welcomed_ || pending_) && t >= next_hello_) sendHello();
    if (welcomed_ && !pending_ && t >= next_heartbeat_) sendHeartbeat();
    if (stopping_ && t >= stop_deadline) {
      spdlog::error("worker did not stop within 90s; exiting anyway");
      break;
    }
  }
  // Give the last reports a moment to leave (linger), then close.
#ifdef FLOTILLA_HAVE_SYSTEMD
  sd_notify(0, "STOPPING=1");
#endif
  if (worker_.joinable() && worker_done_) worker_.join();
  return {};
}

void Agent::handleMonitor() {
  bool handshake = false;
  while (true) {
    zmq::message_t event;
    if (!monitor_.recv(event, zmq::recv_flags::dontwait)) break;
    if (event.size() >= 2) {
      std::uint16_t id = 0;
      std::memcpy(&id, event.data(), sizeof id);
      if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        handshake = true;
        reconnect_check_.reset();
      } else if (id == ZMQ_EVENT_DISCONNECTED && !reconnect_check_) {
        static thread_local std::mt19937 rng{std::random_device{}()};
        reconnect_check_ = clock_.steadyNow() + std::chrono::seconds(5) +
                           common::Millis(std::uniform_int_distribution<long>(0, 5000)(rng));
      }
    }
    zmq::message_t address;  // the second frame of every event
    (void)monitor_.recv(address, zmq::recv_flags::dontwait);
  }
  if (handshake && !stopping_) {
    // The coordinator on the other end may not know this connection yet.
    welcomed_ = false;
    hello_backoff_ = std::chrono::seconds(1);
    sendHello();
  }
}

void Agent::handleWorker() {
  auto msg = recvInternal(pipe_, zmq::recv_flags::dontwait);
  if (!msg) return;
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ReportOut>) {
          ledger_.reported(m.report);
          sendReport(m.report);
        } else if constexpr (std::is_same_v<T, StateUpdate>) {
          bool changed = m.releases != releases_ || m.health != health_ || m.busy != busy_;
          releases_ = std::move(m.releases);
          health_ = std::move(m.health);
          busy_ = std::move(m.busy);
          if (changed && welcomed_ && !pending_) sendHeartbeat();
        } else if constexpr (std::is_same_v<T, FetchRequest>) {
          if (fetch_) finishFetch(Error(Errc::kConflict, "another download in progress"));
          int fd = ::open(m.dest.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
          if (fd < 0) {
            sendInternal(pipe_, FetchDone{Error(Errc::kIo, "open " + m.dest.string() + ": " + std::strerror(errno))});
            return;
          }
          fetch_ = FetchState{m.digest, m.size, 0, 0, fd, clock_.steadyNow() + config_.fetch_timeout};
          requestMoreChunks();
        } else if constexpr (std::is_same_v<T, Stopped>) {
          worker_done_ = true;
        }
      },
      *msg);
}

void Agent::requestMoreChunks() {
  if (!fetch_) return;
  auto& f = *fetch_;
  const std::uint64_t window = kFetchWindowChunks * protocol::kChunkBytes;
  if (f.size == 0 && f.requested == 0) {
    send(protocol::encode(protocol::Fetch{f.digest, 0, 1}));
    f.requested = 1;
    return;
  }
  // Credit-based flow control: keep at most `window` bytes in flight.
  if (f.requested >= f.size) return;
  std::uint64_t in_flight = f.requested - f.received;
  if (in_flight > window / 2) return;
  std::uint64_t room = window - in_flight;
  std::uint64_t bytes = std::min<std::uint64_t>(room, f.size - f.requested);
  auto credit = static_cast<std::uint32_t>((bytes + protocol::kChunkBytes - 1) / protocol::kChunkBytes);
  if (credit == 0) return;
  send(protocol::encode(protocol::Fetch{f.digest, f.requested, credit}));
  f.requested = std::min<std::uint64_t>(f.size, f.requested + std::uint64_t{credit} * protocol::kChunkBytes);
}

void Agent::finishFetch(Status result) {
  if (!fetch_) return;
  if (fetch_->fd >= 0) {
    if (result.ok() && ::fsync(fetch_->fd) != 0)
      result = Error(Errc::kIo, std::string("fsync: ") + std::strerror(errno));
    ::close(fetch_->fd);
  }
  fetch_.reset();
  sendInternal(pipe_, FetchDone{std::move(result)});
}

void Agent::onChunk(const protocol::Chunk& c) {
  if (!fetch_ || c.digest != fetch_->digest) return;  // a late chunk of an abandoned download
  auto& f = *fetch_;
  if (c.total != f.size) {
    finishFetch(Error(Errc::kCorrupt, "coordinator reports " + std::to_string(c.total) + " bytes, the order says " +
                                          std::to_string(f.size)));
    return;
  }
  if (c.offset != f.received) {
    finishFetch(Error(Errc::kCorrupt,
                      "chunk at offset " + std::to_string(c.offset) + ", expected " + std::to_string(f.received)));
    return;
  }
  if (c.data.size() > f.size - f.received) {
    finishFetch(Error(Errc::kCorrupt, "coordinator sent more bytes than the order's length"));
    return;
  }
  std::size_t off = 0;
  while (off < c.data.size()) {
    ssize_t n = ::pwrite(f.fd, c.data.data() + off, c.data.size() - off, static_cast<off_t>(f.received + off));
    if (n < 0) {
      if (errno == EINTR) continue;
      finishFetch(Error(Errc::kIo, std::string("writing download: ") + std::strerror(errno)));
      return;
    }
    off += static_cast<std::size_t>(n);
  }
  f.received += c.data.size();
  if (f.received == f.size) {
    finishFetch({});
    return;
  }
  requestMoreChunks();
}

void Agent::onOrder(const protocol::SignedOrder& order) {
  auto peek = protocol::decodeOrderBody(order.body);
  protocol::Report r;
  r.phase = Phase::kRefused;
  r.at_ms = common::toUnixMillis(clock_.systemNow());
  if (peek) {
    r.order_id = peek->order_id;
    r.app = peek->app;
    r.version = peek->version;
    r.sequence = peek->sequence;
    if (auto it = releases_.find(peek->app); it != releases_.end()) r.live_version = it->second;
  }
  protocol::VerifyContext ctx;
  ctx.plan_key = config_.plan_key;
  ctx.agent_id = config_.id;
  ctx.now_unix_s = common::toUnixSeconds(clock_.systemNow());
  ctx.clock_skew_s = config_.clock_skew_s;
  ctx.highest_sequence = peek ? sequences_[peek->app] : 0;
  ctx.release_keys = config_.release_keys;
  if (auto repeat = peek ? ledger_.repeatOf(*peek) : OrderLedger::Repeat{}; repeat.repeat) {
    // The same order again (a restarted coordinator resends what it has no
    // result for, re-signed): not a replay, and never a second deploy. It must
    // still verify; one that does not is dropped without a refusal report,
    // which would misstate how the order it copies went.
    ctx.highest_sequence = peek->sequence - 1;
    auto copy = protocol::OrderVerifier::verify(order, ctx);
    if (!copy.ok) {
      spdlog::warn("ignored a copy of order {} that does not verify: {}: {}", peek->order_id,
                   protocol::toString(copy.refusal.reason), copy.refusal.message);
      return;
    }
    if (!repeat.latest) {
      spdlog::info("order {} again: it is queued, its reports will follow", peek->order_id);
      return;
    }
    spdlog::info("order {} again: re-sent its latest report ({})", peek->order_id,
                 protocol::toString(repeat.latest->phase));
    send(protocol::encode(*repeat.latest));
    return;
  }
  auto outcome = protocol::OrderVerifier::verify(order, ctx);
  if (!outcome.ok) {
    r.message = std::string(protocol::toString(outcome.refusal.reason)) + ": " + outcome.refusal.message;
    spdlog::warn("refused order {}: {}", r.order_id.empty() ? "(undecodable)" : r.order_id, r.message);
    sendReport(r);
    return;
  }
  sequences_[outcome.order.body.app] = outcome.order.body.sequence;
  ledger_.accepted(outcome.order.body);
  sendInternal(pipe_, ExecuteOrder{std::move(outcome.order)});
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
          heartbeat_interval_ = common::Millis(x.heartbeat_interval_ms);
          hello_backoff_ = std::chrono::seconds(1);
          if (x.status == protocol::WelcomeStatus::kAccepted) {
            const bool new_session = !welcomed_ || pending_;
            if (new_session) spdlog::info("connected to the coordinator: {}", x.message);
            welcomed_ = true;
            pending_ = false;
            if (new_session) onWelcomed();
            sendHeartbeat();
          } else {
            if (!pending_) spdlog::warn("{}", x.message);
            welcomed_ = true;
            pending_ = true;
            next_hello_ = clock_.steadyNow() + std::chrono::seconds(5);
          }
        } else if constexpr (std::is_same_v<T, protocol::SignedOrder>) {
          if (!welcomed_ || pending_) {
            spdlog::warn("ignored an order received before being accepted");
            return;
          }
          onOrder(x);
        } else if constexpr (std::is_same_v<T, protocol::Chunk>) {
          onChunk(x);
        } else if constexpr (std::is_same_v<T, protocol::Rotation>) {
          onRotation(x);
        } else if constexpr (std::is_same_v<T, protocol::Refusal>) {
          spdlog::warn("coordinator refused: {}: {}", protocol::toString(x.code), x.detail);
          if (protocol::isFetchRefusal(x.code)) {
            if (fetch_) finishFetch(Error(Errc::kNotFound, "fetch refused: " + x.detail));
            return;
          }
          // A restarted coordinator, or one that lost our connection, asks us to
          // introduce ourselves again.
          if (protocol::asksForHello(x.code)) {
            welcomed_ = false;
            next_hello_ = clock_.steadyNow();
          } else {
            welcomed_ = false;
            next_hello_ = clock_.steadyNow() + std::chrono::seconds(30);
          }
        }
      },
      *msg);
}

}  // namespace flotilla::agent
