#include "flotilla/swarm/swarm.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <variant>

#include "flotilla/common/duration.h"
#include "flotilla/common/limits.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::swarm {

using common::SteadyTime;

namespace {

// epoll data for the two non-socket descriptors; sockets use their slot index.
constexpr std::uint64_t kSignalTag = ~std::uint64_t{0};
constexpr std::uint64_t kStopTag = ~std::uint64_t{0} - 1;
// Set in the epoll data of a slot's socket monitor (tested after the two tags above).
constexpr std::uint64_t kMonitorBit = std::uint64_t{1} << 62;
// An agent that is still not welcomed this long after connecting stops
// holding a place in the connect window, so a silent coordinator cannot stall
// the rest of the swarm forever (it keeps saying hello with backoff).
constexpr auto kWindowHold = std::chrono::seconds(20);
// Descriptors kept free for the process itself (epoll, signalfd, log, libzmq's own).
constexpr std::uint64_t kSpareFds = 64;

double seconds(common::SteadyTime from, common::SteadyTime to) {
  return std::chrono::duration<double>(to - from).count();
}

std::int64_t residentKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  return 0;
}

}  // namespace

Swarm::Swarm(SwarmOptions options, const common::Clock& clock) : options_(std::move(options)), clock_(clock) {}

Swarm::~Swarm() {
  slots_.clear();  // close every socket before the context
  ctx_.reset();
  if (order_log_) std::fclose(order_log_);
  for (int fd : {epoll_fd_, signal_fd_, stop_fd_})
    if (fd >= 0) ::close(fd);
}

void Swarm::requestStop() {
  std::uint64_t one = 1;
  if (stop_fd_ >= 0) [[maybe_unused]]
    auto n = ::write(stop_fd_, &one, sizeof one);
}

Status Swarm::start() {
  if (options_.agents == 0) return Error(Errc::kInvalidArgument, "--agents: must be at least 1");
  if (options_.fail_rate < 0 || options_.fail_rate > 1)
    return Error(Errc::kInvalidArgument, "--fail-rate: must be between 0 and 1");
  if (!(options_.samples.spread >= 0) || !(options_.samples.canary_shift > -1))
    return Error(Errc::kInvalidArgument, "--sample-spread must be >= 0 and --sample-canary-shift > -1");
  if (options_.connect_rate <= 0) return Error(Errc::kInvalidArgument, "--connect-rate: must be positive");
  if (options_.connect_window == 0) return Error(Errc::kInvalidArgument, "--connect-window: must be at least 1");
  auto join = loadJoinFile(options_.join_file);
  if (!join) return join.error();
  join_ = std::move(*join);

  config_.plan_key = join_.plan_key;
  config_.join_token = join_.token;
  config_.apply_time = options_.apply_time;
  config_.fail_rate = options_.fail_rate;
  config_.fetch = options_.fetch;
  config_.report_probation = options_.report_probation;
  config_.heartbeat_override = options_.heartbeat_override;
  config_.samples = options_.samples;
  for (const auto& kv : options_.labels) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error(Errc::kInvalidArgument, "--label '" + kv + "': expected key=value");
    config_.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }

  auto limit = common::raiseFileLimit();
  if (!limit) return limit.error();
  fd_limit_ = *limit;
  // Several endpoints: each connection is watched by a socket monitor (two
  // inproc PAIR sockets, a descriptor each), to notice a dead leader.
  watch_links_ = join_.endpoints.size() > 1;
  const std::uint64_t per_agent = watch_links_ ? 4 : 2;
  const std::uint64_t need = per_agent * static_cast<std::uint64_t>(options_.agents) + kSpareFds;
  if (need > fd_limit_)
    return Error(Errc::kInvalidArgument,
                 "--agents " + std::to_string(options_.agents) + " needs about " + std::to_string(need) +
                     " file descriptors (" + std::to_string(per_agent) + " per agent" +
                     (watch_links_ ? ", with a socket monitor for the endpoint list" : "") +
                     "), but RLIMIT_NOFILE allows " + std::to_string(fd_limit_) +
                     "; run several swarm processes with fewer agents each (and distinct --id-prefix)");

  if (!options_.order_log.empty()) {
    order_log_ = std::fopen(options_.order_log.c_str(), "w");
    if (!order_log_)
      return Error(Errc::kIo, "--order-log " + options_.order_log.string() + ": " + std::strerror(errno));
    std::setvbuf(order_log_, nullptr, _IOFBF, 1 << 20);
    stats_.log = order_log_;
  }

  rng_.seed(options_.seed != 0 ? options_.seed : std::random_device{}());
  sim_ctx_ = std::make_unique<SimContext>(SimContext{config_, clock_, stats_, rng_});
  try {
    ctx_.emplace();
    ctx_->set(zmq::ctxopt::io_threads, std::max(1, options_.io_threads));
    ctx_->set(zmq::ctxopt::max_sockets, static_cast<int>((watch_links_ ? 3 : 1) * options_.agents + 16));
  } catch (const zmq::error_t& e) {
    return Error(Errc::kInternal, std::string("zmq context: ") + e.what());
  }

  slots_.reserve(options_.agents);
  const int width = static_cast<int>(std::to_string(options_.agents - 1).size());
  for (std::size_t i = 0; i < options_.agents; ++i) {
    std::string n = std::to_string(i);
    if (static_cast<int>(n.size()) < width) n.insert(0, static_cast<std::size_t>(width) - n.size(), '0');
    slots_.emplace_back(options_.id_prefix + n, join_.endpoints, [this](common::Millis max) {
      return common::Millis(std::uniform_int_distribution<long>(0, max.count())(rng_));
    });
  }
  timers_.resize(options_.agents);
  connect_gap_ = std::chrono::microseconds(static_cast<std::int64_t>(1e6 / options_.connect_rate));

  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  // Blocked before libzmq starts its I/O threads' work, so signals come here.
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal_fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (epoll_fd_ < 0 || stop_fd_ < 0 || signal_fd_ < 0)
    return Error(Errc::kIo, std::string("epoll/eventfd/signalfd: ") + std::strerror(errno));
  for (auto [fd, tag] : {std::pair{signal_fd_, kSignalTag}, std::pair{stop_fd_, kStopTag}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
      return Error(Errc::kIo, std::string("epoll_ctl: ") + std::strerror(errno));
  }
  return {};
}

SimNow Swarm::nowPair() const { return SimNow{clock_.steadyNow(), clock_.systemNow()}; }

void Swarm::connectNext(SteadyTime now) {
  const std::size_t idx = connected_;
  Slot& s = slots_[idx];
  const auto keys = common::generateCurveKeyPair();
  try {
    s.sock = zmq::socket_t(*ctx_, zmq::socket_type::dealer);
    s.sock.set(zmq::sockopt::linger, 0);
    s.sock.set(zmq::sockopt::maxmsgsize, protocol::kMaxAgentFrameBytes);
    s.sock.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(join_.coordinator_key.data(), 32));
    s.sock.set(zmq::sockopt::curve_publickey, zmq::const_buffer(keys.public_key.data(), 32));
    s.sock.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(keys.secret_key.data(), 32));
    // The agent's reconnect policy (agent/src/agent.cpp): randomised start,
    // exponential backoff, so a coordinator restart is not a reconnect storm.
    s.sock.set(zmq::sockopt::reconnect_ivl, 250 + static_cast<int>(rng_() % 750));
    s.sock.set(zmq::sockopt::reconnect_ivl_max, 30000);
    if (!options_.link_timeout || options_.link_timeout->count() > 0) {
      const auto beat = agent::zmtpHeartbeat(options_.link_timeout, join_.endpoints.size());
      s.sock.set(zmq::sockopt::heartbeat_ivl, beat.interval_ms);
      s.sock.set(zmq::sockopt::heartbeat_timeout, beat.timeout_ms);
    }
    s.sock.set(zmq::sockopt::sndhwm, 10000);
    if (watch_links_)
      if (auto st = watchLink(idx); !st.ok()) throw zmq::error_t();  // errno is set; reported below
    s.sock.connect(s.failover.current());
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = idx;
    const int fd = s.sock.get(zmq::sockopt::fd);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) throw zmq::error_t();  // errno is set; reported below
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "flotilla-swarm: agent %s: %s (descriptor limit %llu)\n", s.agent.id().c_str(), e.what(),
                 static_cast<unsigned long long>(fd_limit_));
    stopping_ = true;
    return;
  }
  ++connected_;
  ++stats_.connects;
  s.in_window = true;
  s.connected_at = now;
  ++window_used_;
  if (connected_ == slots_.size()) all_connected_at_ = now;
  next_connect_ = std::max(next_connect_, now - connect_gap_) + connect_gap_;
  const SimNow t = nowPair();
  if (watch_links_) {
    // As the agent: hello once the monitor reports the handshake.
    s.failover.start(t.steady);
    s.agent.awaitConnection(t);
  } else {
    s.agent.start(*sim_ctx_, t, out_);
  }
  sendAll(idx);
  afterAgentCall(idx, t.steady);
  recheck_.push_back(idx);
  // ZMQ_FD only signals news after a read found nothing: read the monitor once.
  if (watch_links_) drainMonitor(idx);
}

Status Swarm::watchLink(std::size_t idx) {
  Slot& s = slots_[idx];
  const std::string address = "inproc://swarm-monitor-" + std::to_string(idx);
  if (zmq_socket_monitor(s.sock.handle(), address.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
    return Error(Errc::kInternal, std::string("socket monitor: ") + zmq_strerror(zmq_errno()));
  s.monitor = zmq::socket_t(*ctx_, zmq::socket_type::pair);
  s.monitor.set(zmq::sockopt::linger, 0);
  s.monitor.connect(address);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = idx | kMonitorBit;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s.monitor.get(zmq::sockopt::fd), &ev) != 0)
    return Error(Errc::kIo, std::string("epoll_ctl: ") + std::strerror(errno));
  return {};
}

void Swarm::drainMonitor(std::size_t idx) {
  Slot& s = slots_[idx];
  if (!s.monitor) return;
  const SimNow t = nowPair();
  agent::LinkWatch::Outcome batch;
  // Until EAGAIN, which also resets the monitor's ZMQ_FD (an edge signal).
  while (true) {
    zmq::message_t event;
    zmq::message_t address;  // the second frame of every event
    try {
      if (!s.monitor.recv(event, zmq::recv_flags::dontwait)) break;
      (void)s.monitor.recv(address, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      break;
    }
    if (event.size() < 2) continue;
    std::uint16_t id = 0;
    std::memcpy(&id, event.data(), sizeof id);
    s.link.onEvent(id, s.failover, t.steady, batch);
  }
  if (batch.dropped_first) s.agent.disconnected(*sim_ctx_, t, out_);
  if (batch.connected && !stopping_) s.agent.start(*sim_ctx_, t, out_);  // the coordinator may not know it yet
  if (batch.dropped_after) s.agent.disconnected(*sim_ctx_, t, out_);
  if (!out_.empty()) {
    sendAll(idx);
    recheck_.push_back(idx);  // sent outside drain(): ZMQ_FD may have been reset
  }
  afterAgentCall(idx, t.steady);
}

void Swarm::sendAll(std::size_t idx) {
  Slot& s = slots_[idx];
  for (auto& payload : out_) {
    try {
      if (!s.sock.send(zmq::buffer(payload), zmq::send_flags::dontwait)) ++stats_.send_dropped;
    } catch (const zmq::error_t&) {
      ++stats_.send_dropped;
    }
  }
  out_.clear();
}

void Swarm::releaseWindow(Slot& s) {
  if (!s.in_window) return;
  s.in_window = false;
  if (window_used_ > 0) --window_used_;
}

void Swarm::afterAgentCall(std::size_t idx, SteadyTime now) {
  Slot& s = slots_[idx];
  if (s.in_window && (s.agent.everWelcomed() || now - s.connected_at >= kWindowHold)) releaseWindow(s);
  const auto next = std::min(s.agent.nextDeadline(), s.failover.nextDeadline());
  if (next == SteadyTime::max()) {
    timers_.cancel(idx);
  } else {
    timers_.schedule(idx, next);
  }
  if (!all_online_at_ && stats_.online == slots_.size()) all_online_at_ = now;
}

void Swarm::drain(std::size_t idx) {
  Slot& s = slots_[idx];
  if (!s.sock) return;
  // Receive until EAGAIN: that also resets the socket's ZMQ_FD, which is only
  // an edge signal. Replies sent in between are covered because the loop ends
  // with a receive that came after them.
  while (true) {
    zmq::message_t m;
    zmq::recv_result_t got;
    try {
      got = s.sock.recv(m, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      break;
    }
    if (!got) break;
    ++stats_.messages_in;
    if (m.more()) {  // the coordinator sends single frames; drop anything else
      zmq::message_t rest;
      while (s.sock.recv(rest, zmq::recv_flags::dontwait) && rest.more()) {
      }
      ++stats_.malformed_in;
      continue;
    }
    auto msg = protocol::decodeCoordinatorMessage(std::string_view(static_cast<const char*>(m.data()), m.size()));
    if (!msg) {
      ++stats_.malformed_in;
      continue;
    }
    const SimNow t = nowPair();
    s.agent.onMessage(*sim_ctx_, *msg, t, out_);
    if (std::holds_alternative<protocol::Welcome>(*msg)) {
      s.failover.welcomed();
    } else if (const auto* r = std::get_if<protocol::Refusal>(&*msg);
               r && r->code == protocol::RefusalCode::kNotLeader) {
      s.failover.notLeader(r->detail, t.steady);
    } else {
      s.failover.linkUp(t.steady);  // something with the coordinator's key answers
    }
    sendAll(idx);
    afterAgentCall(idx, t.steady);
  }
}

void Swarm::runTimer(std::size_t idx, SteadyTime now) {
  Slot& s = slots_[idx];
  const SimNow t{now, clock_.systemNow()};
  const std::string dialled = s.failover.current();
  if (auto to = s.failover.onTimer(now)) {
    s.link.redialled();
    try {
      s.sock.disconnect(dialled);
      s.sock.connect(*to);
    } catch (const zmq::error_t&) {
      // An endpoint libzmq refuses (a malformed name from a standby): the
      // hello goes nowhere and the next move tries another.
    }
    // A new connection: hello (with a monitor, once its handshake is reported).
    if (!watch_links_) s.agent.start(*sim_ctx_, t, out_);
  }
  s.agent.onTimer(*sim_ctx_, t, out_);
  if (!out_.empty()) {
    sendAll(idx);
    recheck_.push_back(idx);
  }
  afterAgentCall(idx, now);
}

void Swarm::progress(SteadyTime now) {
  // One JSON object per line, so a benchmark can difference two lines to get
  // rates over a window.
  nlohmann::json j = {{"progress", options_.id_prefix},
                      {"t", seconds(started_, now)},
                      {"unix_ms", common::toUnixMillis(clock_.systemNow())},
                      {"connected", connected_},
                      {"online", stats_.online},
                      {"heartbeats", stats_.heartbeats},
                      {"reports", stats_.reports},
                      {"hellos", stats_.hellos},
                      {"send_dropped", stats_.send_dropped},
                      {"orders_received", stats_.orders_received},
                      {"orders_verified", stats_.orders_verified},
                      {"orders_done", stats_.orders_healthy + stats_.orders_reverted + stats_.orders_failed}};
  std::fprintf(stderr, "%s\n", j.dump().c_str());
  next_progress_ = now + std::chrono::milliseconds(static_cast<std::int64_t>(options_.progress_s * 1000));
}

Status Swarm::run() {
  started_ = clock_.steadyNow();
  next_connect_ = started_;
  const SteadyTime end =
      options_.duration_s > 0
          ? started_ + std::chrono::milliseconds(static_cast<std::int64_t>(options_.duration_s * 1000))
          : SteadyTime::max();
  if (options_.progress_s > 0) next_progress_ = started_;
  std::vector<epoll_event> events(1024);
  while (!stopping_) {
    auto now = clock_.steadyNow();
    while (!stopping_ && connected_ < slots_.size() && window_used_ < options_.connect_window && now >= next_connect_)
      connectNext(now);
    while (!recheck_.empty()) {
      const auto idx = recheck_.back();
      recheck_.pop_back();
      drain(idx);
    }

    SteadyTime wake = std::min(end, next_progress_);
    if (auto t = timers_.next()) wake = std::min(wake, *t);
    if (connected_ < slots_.size() && window_used_ < options_.connect_window) wake = std::min(wake, next_connect_);
    int timeout_ms = -1;
    if (wake != SteadyTime::max()) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(wake - now).count();
      timeout_ms = us <= 0 ? 0 : static_cast<int>((us + 999) / 1000);
    }
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(Errc::kIo, std::string("epoll_wait: ") + std::strerror(errno));
    }
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
      if (tag == kSignalTag || tag == kStopTag) {
        stopping_ = true;
        continue;
      }
      if (tag & kMonitorBit) {
        drainMonitor(static_cast<std::size_t>(tag & ~kMonitorBit));
        continue;
      }
      drain(static_cast<std::size_t>(tag));
    }
    now = clock_.steadyNow();
    while (auto idx = timers_.popDue(now)) runTimer(*idx, now);
    while (!recheck_.empty()) {
      const auto idx = recheck_.back();
      recheck_.pop_back();
      drain(idx);
    }
    stats_.flushLog();
    if (now >= next_progress_) progress(now);
    if (now >= end) stopping_ = true;
  }
  finished_ = clock_.steadyNow();
  if (options_.progress_s > 0) progress(finished_);
  stats_.flushLog();
  return {};
}

nlohmann::json Swarm::statsJson() const {
  const SteadyTime end = finished_ == SteadyTime{} ? clock_.steadyNow() : finished_;
  auto since = [&](const std::optional<SteadyTime>& t) -> nlohmann::json {
    return t ? nlohmann::json(seconds(started_, *t)) : nlohmann::json(nullptr);
  };
  nlohmann::json j;
  j["id_prefix"] = options_.id_prefix;
  j["agents"] = options_.agents;
  j["connected"] = connected_;
  j["online"] = stats_.online;
  j["pending"] = stats_.pending;
  j["elapsed_s"] = seconds(started_, end);
  j["all_connected_s"] = since(all_connected_at_);
  j["all_online_s"] = since(all_online_at_);
  j["hellos"] = stats_.hellos;
  j["welcomes"] = stats_.welcomes;
  j["refusals"] = stats_.refusals;
  j["rotations"] = stats_.rotations;
  j["heartbeats"] = stats_.heartbeats;
  j["reports"] = stats_.reports;
  j["fetches"] = stats_.fetches;
  j["fetched_bytes"] = stats_.fetched_bytes;
  j["messages_in"] = stats_.messages_in;
  j["malformed_in"] = stats_.malformed_in;
  j["send_dropped"] = stats_.send_dropped;
  j["orders"] = {{"received", stats_.orders_received}, {"verified", stats_.orders_verified},
                 {"refused", stats_.orders_refused},   {"healthy", stats_.orders_healthy},
                 {"reverted", stats_.orders_reverted}, {"failed", stats_.orders_failed}};
  j["samples"] = {{"requests", stats_.sample_requests},
                  {"sent", stats_.samples},
                  {"batches", stats_.sample_batches},
                  {"dropped", stats_.samples_dropped}};
  j["first_receipt_ms"] = stats_.first_receipt_ms ? nlohmann::json(stats_.first_receipt_ms) : nlohmann::json(nullptr);
  j["last_verified_ms"] = stats_.last_verified_ms ? nlohmann::json(stats_.last_verified_ms) : nlohmann::json(nullptr);
  j["receipt_to_verified"] = stats_.verify_us.summary();
  j["receipt_to_done"] = stats_.done_us.summary();
  j["fd_limit"] = fd_limit_;
  j["rss_kb"] = residentKb();
  return j;
}

}  // namespace flotilla::swarm
