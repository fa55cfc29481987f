#include "flotilla/coordinator/server.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/control_docs.h"
#include "flotilla/coordinator/fleet_gauges.h"
#include "flotilla/coordinator/host_record.h"
#include "flotilla/coordinator/order_signing.h"
#include "flotilla/coordinator/rollout_restore.h"
#include "flotilla/protocol/order.h"

#ifdef FLOTILLA_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace flotilla::coordinator {

using common::SteadyTime;
using protocol::Phase;

namespace {

constexpr const char* kAgentDomain = "agents";
constexpr const char* kControlDomain = "control";
constexpr int kMaxBurst = 512;            // messages handled per socket before looking at the others
constexpr std::size_t kOrderChunk = 500;  // orders committed and sent together in a large wave

std::string frameString(const zmq::message_t& m) { return std::string(static_cast<const char*>(m.data()), m.size()); }

}  // namespace

Server::Server(CoordinatorConfig config, const common::Clock& clock)
    : config_(std::move(config)), clock_(clock), ctx_(2) {  // two I/O threads: CURVE is CPU-bound
  // ZMQ_ZERO_COPY_RECV (draft in 4.3.4, hence the number) off: libzmq copies
  // received messages out of its receive buffer instead of sharing it. Our
  // messages are small; measured 43.3 -> 38.7 KB per connected agent with
  // 4,000 swarm agents (scripts/bench/notes.md).
  constexpr int kZmqZeroCopyRecv = 10;
  zmq_ctx_set(ctx_.handle(), kZmqZeroCopyRecv, 0);
}

Server::~Server() {
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

void Server::requestStop() {
  std::uint64_t one = 1;
  if (stop_fd_ >= 0) [[maybe_unused]]
    auto n = ::write(stop_fd_, &one, sizeof one);
}

Status Server::start() {
  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  if (ZMQ_MAKE_VERSION(major, minor, patch) < ZMQ_MAKE_VERSION(4, 3, 2))
    return Error(Errc::kUnavailable, "libzmq " + std::to_string(major) + "." + std::to_string(minor) + "." +
                                         std::to_string(patch) +
                                         " is too old: 4.3.2 or later is required (CVE-2019-13132)");
  FLOTILLA_TRY(common::ensureDir(config_.artifacts_dir, 0750));
  auto store = Store::open(config_.store_file);
  if (!store) return store.error();
  store_ = std::move(*store);
  auto agents = store_->loadAgents();
  if (!agents) return agents.error();
  agents_.load(std::move(*agents));
  auto apps = store_->apps();
  if (!apps) return apps.error();
  convergence_.load(std::move(*apps));
  FLOTILLA_TRY(store_->begin());
  FLOTILLA_TRY(restoreRollouts());
  FLOTILLA_TRY(store_->commit());

  try {
    // The ZAP handler must exist before any server socket binds: without it,
    // libzmq would accept every CURVE client.
    zap_ = zmq::socket_t(ctx_, zmq::socket_type::rep);
    zap_.set(zmq::sockopt::linger, 0);
    zap_.bind("inproc://zeromq.zap.01");

    agents_sock_ = zmq::socket_t(ctx_, zmq::socket_type::router);
    agents_sock_.set(zmq::sockopt::linger, 0);
    agents_sock_.set(zmq::sockopt::maxmsgsize, protocol::kMaxAgentFrameBytes);
    agents_sock_.set(zmq::sockopt::router_mandatory, 1);
    agents_sock_.set(zmq::sockopt::sndhwm, 100000);
    agents_sock_.set(zmq::sockopt::rcvhwm, 100000);
    agents_sock_.set(zmq::sockopt::curve_server, 1);
    agents_sock_.set(zmq::sockopt::curve_secretkey,
                     zmq::const_buffer(config_.curve_key.secret_key.data(), config_.curve_key.secret_key.size()));
    agents_sock_.set(zmq::sockopt::zap_domain, kAgentDomain);
    agents_sock_.bind(config_.agent_listen);

    control_sock_ = zmq::socket_t(ctx_, zmq::socket_type::router);
    control_sock_.set(zmq::sockopt::linger, 0);
    control_sock_.set(zmq::sockopt::maxmsgsize, std::int64_t{1} << 30);
    // A send to a console that went away fails (EHOSTUNREACH) instead of
    // vanishing, so a departed watcher is dropped (Watchers).
    control_sock_.set(zmq::sockopt::router_mandatory, 1);
    control_sock_.set(zmq::sockopt::zap_domain, kControlDomain);
    const bool tcp = config_.control_endpoint.rfind("tcp://", 0) == 0;
    for (const auto& k : config_.operators) operator_keys_.insert(common::toHex(k));
    if (tcp) {
      // Over TCP, operators authenticate with CURVE keys on the allowlist.
      if (operator_keys_.empty())
        return Error(Errc::kInvalidArgument,
                     "control.endpoint " + config_.control_endpoint + " needs control.operators");
      control_sock_.set(zmq::sockopt::curve_server, 1);
      control_sock_.set(zmq::sockopt::curve_secretkey,
                        zmq::const_buffer(config_.curve_key.secret_key.data(), config_.curve_key.secret_key.size()));
      control_sock_.bind(config_.control_endpoint);
    } else {
      std::string path = config_.control_endpoint.substr(6);
      ::unlink(path.c_str());  // a stale socket from a previous run
      control_sock_.bind(config_.control_endpoint);
      // Operators reach the IPC socket through its file mode: owner and group.
      if (::chmod(path.c_str(), 0660) != 0) return Error(Errc::kIo, "chmod 0660 " + path + ": " + std::strerror(errno));
      if (!config_.control_group.empty()) {
        struct group* g = ::getgrnam(config_.control_group.c_str());
        if (!g) return Error(Errc::kInvalidArgument, "control.group: no group named '" + config_.control_group + "'");
        if (::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
          return Error(Errc::kIo, "chgrp " + config_.control_group + " " + path + ": " + std::strerror(errno));
      }
    }
  } catch (const zmq::error_t& e) {
    return Error(Errc::kUnavailable, std::string("binding sockets: ") + e.what());
  }

  publishGauges();
  if (!config_.http_listen.empty()) {
    http_ = std::make_unique<HttpEndpoint>(config_.store_file.string(), gauges_);
    FLOTILLA_TRY(http_->start(config_.http_listen));
  }

  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal_fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  spdlog::info("coordinator listening for agents on {}, control on {}", config_.agent_listen, config_.control_endpoint);
  return {};
}

std::optional<SteadyTime> Server::nextDeadline() const {
  std::optional<SteadyTime> next = next_sweep_;
  for (const auto& [id, r] : rollouts_) {
    auto d = r->engine->nextDeadline();
    if (d && (!next || *d < *next)) next = d;
  }
  return next;
}

Status Server::run() {
#ifdef FLOTILLA_HAVE_SYSTEMD
  sd_notify(0, "READY=1");
#endif
  next_sweep_ = clock_.steadyNow() + std::chrono::seconds(1);
  bool stopping = false;
  while (!stopping) {
    zmq::pollitem_t items[] = {
        {zap_.handle(), 0, ZMQ_POLLIN, 0},          {agents_sock_.handle(), 0, ZMQ_POLLIN, 0},
        {control_sock_.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, stop_fd_, ZMQ_POLLIN, 0},
        {nullptr, signal_fd_, ZMQ_POLLIN, 0},
    };
    auto now = clock_.steadyNow();
    long timeout_ms = -1;
    if (auto d = nextDeadline()) {
      timeout_ms = std::max<long>(0, std::chrono::duration_cast<common::Millis>(*d - now).count() + 1);
    }
    try {
      zmq::poll(items, 5, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return Error(Errc::kIo, std::string("poll: ") + e.what());
    }
    if (items[3].revents || items[4].revents) {
      spdlog::info("stopping: flushing the store");
      stopping = true;
    }
    write_failed_ = false;
    if (auto st = store_->begin(); !st.ok()) storeFailed(st.error());
    if (resave_ && !write_failed_) resaveAfterFailure();
    // ZAP first: pending handshakes block the peers until answered.
    if (items[0].revents & ZMQ_POLLIN) handleZap();
    for (int i = 0; i < kMaxBurst && (items[1].revents & ZMQ_POLLIN); ++i) {
      if (!(agents_sock_.get(zmq::sockopt::events) & ZMQ_POLLIN)) break;
      handleAgentMessage();
    }
    for (int i = 0; i < kMaxBurst && (items[2].revents & ZMQ_POLLIN); ++i) {
      if (!(control_sock_.get(zmq::sockopt::events) & ZMQ_POLLIN)) break;
      handleControlMessage();
    }
    afterWork(clock_.steadyNow());
    commitAndFlush();
  }
#ifdef FLOTILLA_HAVE_SYSTEMD
  sd_notify(0, "STOPPING=1");
#endif
  return {};
}

void Server::afterWork(SteadyTime now) {
  if (now >= next_sweep_) {
    sweepLiveness(now);
    retryOrders(now);
    publishGauges();
    // Watchers see gates count down (bake, approval) without asking.
    for (auto& [id, r] : rollouts_)
      if (watchers_.any(id)) r->watch_tick = true;
    next_sweep_ = now + std::chrono::seconds(1);
  }
  std::vector<std::string> done;
  for (auto& [id, r] : rollouts_) {
    auto d = r->engine->nextDeadline();
    if (d && *d <= now) r->engine->tick(now);
    applyActions(*r, now);
    if (r->store_stale)
      persistRollout(*r);
    else if (r->watch_tick)
      pushStatus(*r, now);
    if (r->engine->finished()) done.push_back(id);
  }
  for (const auto& id : done) finishRollout(*rollouts_.at(id));
}

// ---------------------------------------------------------------- ZAP

void Server::handleZap() {
  std::vector<zmq::message_t> frames;
  while (true) {
    zmq::message_t m;
    if (!zap_.recv(m, zmq::recv_flags::dontwait)) break;
    bool more = m.more();
    frames.push_back(std::move(m));
    if (!more) break;
  }
  if (frames.size() < 6) return;
  const std::string version = frameString(frames[0]);
  const std::string request_id = frameString(frames[1]);
  const std::string domain = frameString(frames[2]);
  const std::string mechanism = frameString(frames[5]);
  std::string status = "400", text = "denied", user;
  if (domain == kAgentDomain && mechanism == "CURVE" && frames.size() >= 7 && frames[6].size() == 32) {
    user = common::toHex(common::Bytes(static_cast<const std::uint8_t*>(frames[6].data()), 32));
    status = "200";
    text = "OK";
    // Revoked and rejected keys are turned away before any message is read.
    if (agents_.deniedKey(user)) {
      status = "400";
      text = "key revoked or rejected";
      user.clear();
    }
  } else if (domain == kControlDomain && mechanism == "NULL" && config_.control_endpoint.rfind("ipc://", 0) == 0) {
    // Local IPC: the socket file's mode decides who gets here.
    status = "200";
    text = "OK";
    user = "local";
  } else if (domain == kControlDomain && mechanism == "CURVE" && frames.size() >= 7 && frames[6].size() == 32) {
    common::PublicKey key{};
    std::memcpy(key.data(), frames[6].data(), 32);
    if (operator_keys_.count(common::toHex(key))) {
      status = "200";
      text = "OK";
      user = "operator:" + common::keyId(key);
    } else {
      spdlog::warn("control connection refused: key {} is not an operator", common::keyId(key));
    }
  }
  std::array<std::string, 6> reply{version, request_id, status, text, user, ""};
  for (std::size_t i = 0; i < reply.size(); ++i)
    zap_.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

// ---------------------------------------------------------------- agents

void Server::sendToAgent(const std::string& rid, const std::string& payload) {
  try {
    agents_sock_.send(zmq::buffer(rid), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    agents_sock_.send(zmq::buffer(payload), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH: the peer is gone (router_mandatory); liveness will notice.
    spdlog::debug("send to agent failed: {}", e.what());
  }
}

void Server::refuse(const std::string& rid, const std::string& reason) {
  sendToAgent(rid, protocol::encode(protocol::Refusal{reason}));
}

void Server::handleAgentMessage() {
  zmq::message_t rid_msg, payload;
  if (!agents_sock_.recv(rid_msg, zmq::recv_flags::dontwait)) return;
  if (!rid_msg.more()) return;
  (void)agents_sock_.recv(payload, zmq::recv_flags::dontwait);
  if (payload.more()) {
    // A well-formed agent sends one frame. Drain every remaining part of this
    // message so none of it is mistaken for the start of the next one.
    zmq::message_t extra;
    do {
      if (!agents_sock_.recv(extra, zmq::recv_flags::dontwait)) break;
    } while (extra.more());
    spdlog::warn("dropped a multi-frame message from an agent");
    return;
  }
  const std::string rid = frameString(rid_msg);
  const char* uid = payload.gets("User-Id");
  const std::string key = uid ? uid : "";
  // A revoked or rejected key gets nothing at all, not even a refusal; its
  // connection outlives the revocation only until it reconnects (ZAP refuses it).
  if (agents_.deniedKey(key)) {
    ++dropped_from_denied_;
    return;
  }
  auto msg = protocol::decodeAgentMessage(std::string_view(static_cast<const char*>(payload.data()), payload.size()));
  if (!msg) {
    spdlog::warn("refused a malformed message from key {}: {}", key.substr(0, 16), msg.error().message);
    refuse(rid, "malformed message: " + msg.error().message);
    return;
  }
  if (auto* hello = std::get_if<protocol::Hello>(&*msg)) {
    onHello(rid, key, *hello);
    return;
  }
  auto session = agents_.session(rid, key);
  if (!session) {
    refuse(rid, session.error().message);
    return;
  }
  Agent* a = *session;
  a->last_seen = clock_.steadyNow();
  const bool came_back = !a->online;
  if (came_back) {
    a->online = true;
    spdlog::info("agent {} is back", a->record.id);
  }
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, protocol::Heartbeat>)
          onHeartbeat(*a, m);
        else if constexpr (std::is_same_v<T, protocol::Report>)
          onReport(*a, m);
        else if constexpr (std::is_same_v<T, protocol::Fetch>)
          onFetch(*a, m);
      },
      *msg);
  if (came_back) {
    // Back on the same connection (it was frozen or cut off): what it missed
    // goes out again, after its message told us what it runs now.
    resendOrders(*a);
    maybeConverge(*a);
  }
}

void Server::onHello(const std::string& rid, const std::string& key, const protocol::Hello& m) {
  const auto now_ms = common::toUnixMillis(clock_.systemNow());
  auto useToken = [&](const std::string& token) {
    auto ok = store_->useToken(common::blake2bHex(common::asBytes(token)), now_ms);
    return ok.ok() && *ok;
  };
  auto admitted = agents_.hello(rid, key, m, now_ms, clock_.steadyNow(), useToken);
  if (!admitted) {
    refuse(rid, admitted.error().message);
    return;
  }
  Agent& a = **admitted;
  if (auto st = store_->upsertAgent(a.record); !st.ok()) storeFailed(st.error());

  protocol::Welcome w;
  w.heartbeat_interval_ms = config_.heartbeat_interval.count();
  w.server_time_ms = now_ms;
  if (a.state == AgentState::kAccepted) {
    a.online = true;
    w.status = protocol::WelcomeStatus::kAccepted;
    w.message = "welcome";
    sendToAgent(rid, protocol::encode(w));
    // Agents still pinning an older plan key follow the chain to the current one.
    for (const auto& r : config_.rotations) sendToAgent(rid, protocol::encode(r));
    spdlog::info("agent {} online ({} apps)", a.record.id, m.releases.size());
    // A new session may have lost orders in flight (or the coordinator
    // restarted): send again what it has not finished, then bring it to the
    // current release of apps it missed.
    resendOrders(a);
    maybeConverge(a);
  } else {
    a.online = false;
    w.status = protocol::WelcomeStatus::kPending;
    w.message = "pending: an operator must run `flotilla agents accept " + a.record.id + "`";
    sendToAgent(rid, protocol::encode(w));
  }
}

void Server::onHeartbeat(Agent& a, const protocol::Heartbeat& m) {
  bool releases_changed = a.record.releases != m.releases;
  a.record.releases = m.releases;
  a.busy = m.busy;
  for (const auto& [app, state] : m.health) {
    auto& prev = a.health[app];
    if (state == "unhealthy" && prev != "unhealthy") {
      if (auto r = active_by_app_.find(app); r != active_by_app_.end())
        rollouts_.at(r->second)->engine->onHostUnhealthy(a.record.id, clock_.steadyNow());
    }
    prev = state;
  }
  if (releases_changed) {
    a.record.last_seen_ms = common::toUnixMillis(clock_.systemNow());
    if (auto st = store_->upsertAgent(a.record); !st.ok()) storeFailed(st.error());
  }
}

void Server::onReport(Agent& a, const protocol::Report& m) {
  if (!m.live_version.empty()) a.record.releases[m.app] = m.live_version;
  OrderRef* open = orders_.find(m.order_id);
  if (!open || open->agent_id != a.record.id) {
    spdlog::debug("report for unknown order {} from {}", m.order_id, a.record.id);
    return;
  }
  open->reported = true;
  const OrderRef ref = *open;
  if (m.phase == Phase::kRefused) refusals_.count(m.message);
  if (protocol::isTerminal(m.phase)) {
    closeOrder(m.order_id);
    if (auto st = store_->upsertAgent(a.record); !st.ok()) storeFailed(st.error());
  }
  auto r = rollouts_.find(ref.rollout_id);
  if (ref.converge) {
    if (!protocol::isTerminal(m.phase)) return;
    const bool ok = m.phase == Phase::kHealthy;
    recordEventFor(ref.rollout_id, r == rollouts_.end() ? nullptr : r->second.get(),
                   ok ? "host_converged" : "host_converge_failed", a.record.id, -1,
                   ok ? "now on " + ref.version : std::string(protocol::toString(m.phase)) + ": " + m.message);
    return;
  }
  if (r == rollouts_.end()) return;
  r->second->engine->onHostPhase(a.record.id, ref.rollback, m.phase, m.message, clock_.steadyNow());
}

void Server::onFetch(Agent& a, const protocol::Fetch& m) {
  if (m.digest.size() != 64 || m.digest.find_first_not_of("0123456789abcdef") != std::string::npos) {
    refuse(a.routing_id, "fetch: bad digest");
    return;
  }
  const auto path = config_.artifacts_dir / m.digest;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    refuse(a.routing_id, "fetch: no artifact " + m.digest);
    return;
  }
  struct stat st {};
  ::fstat(fd, &st);
  const auto total = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t offset = m.offset;
  std::string buf;
  for (std::uint32_t i = 0; i < m.credit && offset < total; ++i) {
    protocol::Chunk c;
    c.digest = m.digest;
    c.offset = offset;
    c.total = total;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(protocol::kChunkBytes, total - offset));
    c.data.resize(want);
    ssize_t n = ::pread(fd, c.data.data(), want, static_cast<off_t>(offset));
    if (n <= 0) break;
    c.data.resize(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
    sendToAgent(a.routing_id, protocol::encode(c));
  }
  if (total == 0 || m.offset >= total) {
    protocol::Chunk c;
    c.digest = m.digest;
    c.offset = total;
    c.total = total;
    sendToAgent(a.routing_id, protocol::encode(c));
  }
  ::close(fd);
}

void Server::sweepLiveness(SteadyTime now) {
  for (Agent* a : agents_.silentSince(now, config_.heartbeat_expiry))
    markLost(*a, "no heartbeat for " + common::formatDuration(config_.heartbeat_expiry), now);
}

void Server::publishGauges() {
  FleetGauges g;
  g.agents = agents_.countByState();
  g.active_rollouts = rollouts_.size();
  for (const auto& [id, r] : rollouts_)
    for (const auto& h : r->engine->hosts()) ++g.rollout_hosts[toString(h.state)];
  g.refusals = refusals_.byReason();
  g.denied_messages = dropped_from_denied_;
  g.watchers = watchers_.count();
  gauges_->publish(renderFleetGauges(g));
}

void Server::markLost(Agent& a, const std::string& why, SteadyTime now) {
  a.online = false;
  spdlog::warn("agent {} lost: {}", a.record.id, why);
  for (auto& [id, r] : rollouts_) r->engine->onHostLost(a.record.id, now);
}

// ---------------------------------------------------------------- rollouts

void Server::commitAndFlush() {
  if (auto st = store_->commit(); !st.ok()) storeFailed(st.error());
  if (write_failed_) {
    resave_ = true;
  } else {
    unsaved_finals_.clear();
    if (!store_error_.empty()) {
      spdlog::info("the store is writable again");
      store_error_.clear();
    }
  }
  // Orders leave only now that what they depend on is durable. If the store
  // failed, they still go: the hosts are mid-rollout and the record says so
  // in the log; new rollouts are refused until the store recovers.
  flushOutbox();
}

void Server::applyActions(ActiveRollout& r, SteadyTime now) {
  // Actions can trigger more actions (an unreachable host fails a wave...), so loop.
  for (int round = 0; round < 1000; ++round) {
    auto actions = r.engine->drainActions();
    if (actions.empty()) return;
    r.store_stale = true;
    // One statement reserves the sequences of a whole wave's orders.
    std::uint64_t orders = 0;
    for (const auto& act : actions)
      if (act.kind != RolloutAction::Kind::kEvent) ++orders;
    if (orders > 1) {
      if (auto last = store_->reserveSequences(r.plan.app, orders); last.ok())
        orders_.reserve(r.plan.app, *last - orders + 1, *last + 1);
    }
    std::size_t unflushed = 0;
    for (const auto& act : actions) {
      switch (act.kind) {
        case RolloutAction::Kind::kDeploy:
          sendOrder(r, act.agent_id, false, now);
          break;
        case RolloutAction::Kind::kRollback:
          sendOrder(r, act.agent_id, true, now);
          break;
        case RolloutAction::Kind::kEvent:
          recordEvent(r, act.event, act.agent_id, act.wave, act.message);
          break;
      }
      // A large wave goes out in chunks, each committed before it leaves, so
      // the first hosts verify while the coordinator records the rest.
      if (act.kind != RolloutAction::Kind::kEvent && ++unflushed == kOrderChunk) {
        persistRollout(r);
        commitAndFlush();
        (void)store_->begin();
        unflushed = 0;
      }
    }
    orders_.endReservation();
  }
}

void Server::sendOrder(ActiveRollout& r, const std::string& agent_id, bool rollback, SteadyTime now) {
  const Agent* agent = agents_.find(agent_id);
  const bool online = agent && agent->online && !agent->routing_id.empty();
  if (!rollback && !online) {
    r.engine->onHostLost(agent_id, now);
    return;
  }
  const HostSlot* slot = r.engine->host(agent_id);
  OrderRef ref;
  ref.rollout_id = r.record.id;
  ref.agent_id = agent_id;
  ref.app = r.plan.app;
  ref.version = rollback ? (slot ? slot->previous_version : "") : r.plan.version;
  ref.rollback = rollback;
  auto seq = takeSequence(ref.app);
  if (!seq) {
    storeFailed(seq.error());
    r.engine->onHostPhase(agent_id, rollback, Phase::kFailed, "coordinator store error: " + seq.error().message, now);
    return;
  }
  ref.sequence = *seq;
  const std::string version = ref.version;
  r.engine->setOrder(agent_id, openOrder(std::move(ref)), *seq);
  recordEvent(
      r, rollback ? "rollback_sent" : "order_sent", agent_id, slot ? static_cast<int>(slot->wave) : -1,
      version + " (sequence " + std::to_string(*seq) + ")" + (online ? "" : "; host offline, sent when it returns"));
}

std::string Server::openOrder(OrderRef ref, std::string order_id) {
  order_id = orders_.open(std::move(ref), std::move(order_id));
  const Agent* a = agents_.find(orders_.find(order_id)->agent_id);
  if (a && a->online) queueOrder(order_id);
  return order_id;
}

void Server::closeOrder(const std::string& order_id) { orders_.close(order_id); }

std::optional<ReleaseData> Server::releaseFor(const OrderRef& ref) {
  auto active = rollouts_.find(ref.rollout_id);
  if (active != rollouts_.end() && !ref.rollback && !ref.converge) {
    const auto& r = *active->second;
    return ReleaseData{r.spec, r.artifact_digest, r.release_signature, r.artifact_size};
  }
  const auto key = std::make_pair(ref.app, ref.version);
  if (auto cached = release_cache_.find(key); cached != release_cache_.end()) return cached->second;
  auto rel = store_->release(ref.app, ref.version);
  if (!rel) {
    storeFailed(rel.error());
    return std::nullopt;
  }
  ReleaseData data;
  if (rel->has_value()) {
    data = ReleaseData{std::make_shared<const std::string>((*rel)->spec), (*rel)->artifact_digest,
                       (*rel)->release_signature, (*rel)->artifact_size};
  } else {
    // Not deployed through this coordinator: the agent must still have
    // the release on disk (it keeps the last keep_releases).
    data.spec = std::make_shared<const std::string>();
  }
  if (release_cache_.size() >= 64) release_cache_.clear();
  return release_cache_.emplace(key, std::move(data)).first->second;
}

void Server::queueOrder(const std::string& order_id) {
  const OrderRef* ref = orders_.find(order_id);
  if (!ref) return;
  // Without its release it is not sent now: retryOrders() tries again (last_sent is unchanged).
  if (auto release = releaseFor(*ref)) orders_.queue(order_id, *release, clock_.steadyNow());
}

void Server::flushOutbox() {
  if (orders_.outboxEmpty()) return;
  auto outbox = orders_.takeOutbox();
  // Issue times are taken here, when the orders really leave.
  const auto sys_now = clock_.systemNow();
  const auto issued = common::toUnixSeconds(sys_now), expires = common::toUnixSeconds(sys_now + config_.order_ttl);
  std::vector<OutgoingOrder*> ready;
  std::vector<const Agent*> to;
  ready.reserve(outbox.size());
  to.reserve(outbox.size());
  for (auto& o : outbox) {
    const Agent* a = agents_.find(o.agent_id);
    if (!a || !a->online || a->routing_id.empty()) continue;
    o.body.issued_at = issued;
    o.body.expires_at = expires;
    ready.push_back(&o);
    to.push_back(a);
  }
  // Signed on two threads for a large batch, then sent one by one.
  const auto encoded = signOrders(ready, config_.plan_key);
  for (std::size_t i = 0; i < ready.size(); ++i) sendToAgent(to[i]->routing_id, encoded[i]);
}

Result<std::uint64_t> Server::takeSequence(const std::string& app) {
  if (auto reserved = orders_.takeReserved(app)) return *reserved;
  return store_->nextSequence(app);
}

void Server::resendOrders(Agent& a) {
  // A copy: queueOrder does not change the set, but keep the loop independent of it.
  const auto ids = orders_.ofAgent(a.record.id);
  for (const auto& id : ids) queueOrder(id);
}

void Server::retryOrders(SteadyTime now) {
  // An order nobody acknowledged may have been lost with a connection: send it
  // again. The agent recognises a repeat by its id and only reports again.
  for (const auto& id : orders_.dueForRetry(now, config_.order_retry)) {
    const Agent* a = agents_.find(orders_.find(id)->agent_id);
    if (a && a->online) queueOrder(id);
  }
}

void Server::maybeConverge(Agent& a) {
  auto busy = [&](const std::string& app) { return active_by_app_.count(app) || orders_.busyWith(a.record.id, app); };
  for (const auto& c : convergence_.candidates(a, busy)) {
    const AppRecord& cur = *c.app;
    auto st = store_->hostState(cur.current_rollout, a.record.id);
    if (!st) {
      storeFailed(st.error());
      continue;
    }
    if (!Convergence::mayConverge(*st)) continue;
    convergence_.markTried(a.record.id, cur);
    auto seq = store_->nextSequence(cur.app);
    if (!seq) {
      storeFailed(seq.error());
      continue;
    }
    OrderRef ref;
    ref.rollout_id = cur.current_rollout;
    ref.agent_id = a.record.id;
    ref.app = cur.app;
    ref.version = cur.current_version;
    ref.sequence = *seq;
    ref.converge = true;
    recordEventFor(cur.current_rollout, findRollout(cur.current_rollout), "host_converging", a.record.id, -1,
                   Convergence::eventMessage(c, *seq), "coordinator");
    spdlog::info("agent {} converging to {} {}", a.record.id, cur.app, cur.current_version);
    openOrder(std::move(ref));
  }
}

void Server::resaveAfterFailure() {
  resave_ = false;
  for (const auto& rec : unsaved_finals_)
    if (auto st = store_->updateRollout(rec); !st.ok()) storeFailed(st.error());
  for (auto& [id, r] : rollouts_) {
    r->engine->markAllDirty();
    r->store_stale = true;
  }
  spdlog::info("re-saving {} active and {} finished rollouts after a failed store transaction", rollouts_.size(),
               unsaved_finals_.size());
}

void Server::storeFailed(const Error& e) {
  write_failed_ = true;
  if (store_error_ != e.message)
    spdlog::error("store failure: {}; new rollouts are refused until it recovers", e.message);
  store_error_ = e.message;
}

Status Server::restoreRollouts() {
  auto stored = store_->unfinishedRollouts();
  if (!stored) return stored.error();
  const auto steady_now = clock_.steadyNow();
  const auto sys_ms = common::toUnixMillis(clock_.systemNow());
  auto release = [&](const std::string& app, const std::string& version) { return store_->release(app, version); };
  auto hosts = [&](const std::string& id) { return store_->rolloutHosts(id); };
  for (auto& rec : *stored) {
    auto st = rolloutStateFromString(rec.state);
    if (!st || isFinished(*st)) continue;
    auto out = restoreRollout(rec, release, hosts, steady_now, sys_ms, 2 * config_.heartbeat_expiry);
    if (!out) return out.error();
    if (!out->rollout) {
      FLOTILLA_TRY(failUnresumable(std::move(rec), out->why_not, sys_ms));
      continue;
    }
    FLOTILLA_TRY(resumeRollout(std::move(out->rollout)));
  }
  return {};
}

Status Server::failUnresumable(RolloutRecord rec, const std::string& why, std::int64_t sys_ms) {
  // Nothing to resume from: close it loudly rather than guess.
  rec.message = "coordinator restarted and could not resume the rollout: " + why;
  rec.state = toString(RolloutState::kFailed);
  rec.finished_at_ms = sys_ms;
  rec.engine.clear();
  FLOTILLA_TRY(store_->updateRollout(rec));
  EventRecord e{0, rec.id, sys_ms, "rollout_failed", "", -1, rec.message, "coordinator"};
  spdlog::error("[{}] {}", rec.id, rec.message);
  if (auto seq = store_->appendEvent(e); !seq) return seq.error();
  return {};
}

Status Server::resumeRollout(std::unique_ptr<ActiveRollout> rollout) {
  auto& r = *rollout;
  const std::string id = r.record.id;
  rollouts_.emplace(id, std::move(rollout));
  active_by_app_[r.plan.app] = id;
  // Orders in hand when the coordinator stopped go out again (same id and
  // sequence) as their agents reconnect.
  const auto in_hand = ordersInHand(r);
  for (auto [ref, order_id] : in_hand) {
    if (!order_id.empty()) {
      openOrder(std::move(ref), order_id);
      continue;
    }
    // Dispatched, but its order was in a chunk that never committed: it
    // never left. Issue it now; it goes out when the agent returns.
    auto seq = store_->nextSequence(r.plan.app);
    if (!seq) return seq.error();
    ref.sequence = *seq;
    const std::string agent_id = ref.agent_id;
    r.engine->setOrder(agent_id, openOrder(std::move(ref)), *seq);
  }
  recordEvent(r, "rollout_resumed", "", -1,
              "coordinator restarted; resuming " + std::string(toString(r.engine->state())) + " rollout at wave " +
                  std::to_string(r.engine->currentWave()) + " with " + std::to_string(in_hand.size()) +
                  " orders in hand",
              "coordinator");
  r.store_stale = true;
  spdlog::info("[{}] resumed after a restart ({} orders in hand)", id, in_hand.size());
  return {};
}

void Server::recordEvent(ActiveRollout& r, const std::string& kind, const std::string& agent, int wave,
                         const std::string& message, const std::string& actor) {
  recordEventFor(r.record.id, &r, kind, agent, wave, message, actor);
}

void Server::recordEventFor(const std::string& rollout_id, ActiveRollout* r, const std::string& kind,
                            const std::string& agent, int wave, const std::string& message, const std::string& actor) {
  EventRecord e;
  e.rollout_id = rollout_id;
  e.at_ms = common::toUnixMillis(clock_.systemNow());
  e.kind = kind;
  e.agent_id = agent;
  e.wave = wave;
  e.message = message;
  e.actor = actor;
  auto seq = store_->appendEvent(e);
  if (!seq) {
    storeFailed(seq.error());
    return;
  }
  e.seq = *seq;
  // Per-host events are the bulk at fleet scale: debug; rollout-level ones: info.
  spdlog::log(agent.empty() ? spdlog::level::info : spdlog::level::debug, "[{}] {}{}{}", rollout_id, kind,
              agent.empty() ? "" : " " + agent, message.empty() ? "" : ": " + message);
  if (r && watchers_.any(rollout_id)) {
    nlohmann::json doc = eventDoc(e);
    doc["type"] = protocol::control::kTypeEvent;
    pushToWatchers(rollout_id, doc);
  }
}

void Server::persistRollout(ActiveRollout& r) {
  r.store_stale = false;
  const auto now = clock_.steadyNow();
  r.record.state = toString(r.engine->state());
  nlohmann::json snap = statusJson(r);
  r.record.snapshot = snap.dump();
  if (r.engine->finished()) {
    r.record.engine.clear();
  } else {
    const auto sys_ms = common::toUnixMillis(clock_.systemNow());
    auto to_wall = [&](SteadyTime t) { return sys_ms + std::chrono::duration_cast<common::Millis>(t - now).count(); };
    r.record.engine = nlohmann::json{{"engine", r.engine->saveState(to_wall)}, {"kind", r.kind}}.dump();
  }
  if (auto st = store_->updateRollout(r.record); !st.ok()) storeFailed(st.error());
  for (auto idx : r.engine->drainDirtyHosts())
    if (auto st = store_->putRolloutHost(r.record.id, toHostRecord(idx, r.engine->hosts()[idx])); !st.ok())
      storeFailed(st.error());
  pushStatus(r, now);
}

void Server::pushStatus(ActiveRollout& r, SteadyTime now) {
  r.watch_tick = false;
  if (!watchers_.any(r.record.id)) return;
  nlohmann::json snap = statusJson(r);
  snap["type"] = protocol::control::kTypeStatus;
  snap["gate"] = r.engine->gate(now);
  pushToWatchers(r.record.id, snap);
}

void Server::finishRollout(ActiveRollout& r) {
  const std::string id = r.record.id;
  r.record.state = toString(r.engine->state());
  r.record.finished_at_ms = common::toUnixMillis(clock_.systemNow());
  r.record.message = r.engine->finalMessage();
  if (r.engine->state() == RolloutState::kSucceeded) {
    AppRecord app{r.plan.app, r.plan.version, id, r.plan.target_labels};
    if (auto st = store_->setCurrentRelease(app); !st.ok()) storeFailed(st.error());
    convergence_.setCurrent(std::move(app));
  }
  const bool succeeded = r.engine->state() == RolloutState::kSucceeded;
  persistRollout(r);
  unsaved_finals_.push_back(r.record);
  nlohmann::json end = statusJson(r);
  end["type"] = protocol::control::kTypeEnd;
  pushToWatchers(id, end);
  watchers_.endRollout(id);
  for (const auto& oid : orders_.ofRollout(id)) closeOrder(oid);
  active_by_app_.erase(r.plan.app);
  // Hosts this rollout could not reach and that are back now converge to it.
  std::vector<Agent*> missed;
  if (succeeded)
    for (const auto& h : r.engine->hosts())
      if (h.state == HostState::kUnreachable || h.state == HostState::kPending)
        if (Agent* a = agents_.find(h.agent_id); a && a->online) missed.push_back(a);
  rollouts_.erase(id);
  for (auto* a : missed) maybeConverge(*a);
}

void Server::pushToWatchers(const std::string& rollout_id, const nlohmann::json& doc) {
  const auto dropped = watchers_.push(rollout_id, doc.dump(), [this](const std::string& rid, const std::string& text) {
    return sendControl(rid, text);
  });
  if (dropped > 0) spdlog::info("[{}] {} watcher(s) gone; no longer following", rollout_id, dropped);
}

bool Server::sendControl(const std::string& rid, const std::string& text) {
  try {
    if (!control_sock_.send(zmq::buffer(rid), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
    return control_sock_.send(zmq::buffer(text), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    spdlog::debug("control send failed: {}", e.what());
    return false;
  }
}

void Server::handleControlMessage() {
  std::vector<zmq::message_t> frames;
  while (true) {
    zmq::message_t m;
    if (!control_sock_.recv(m, zmq::recv_flags::dontwait)) break;
    bool more = m.more();
    frames.push_back(std::move(m));
    if (!more) break;
  }
  if (frames.size() < 2) return;
  const std::string rid = frameString(frames[0]);
  const char* uid = frames[1].gets("User-Id");
  nlohmann::json req = nlohmann::json::parse(frameString(frames[1]), nullptr, false);
  // Who acts: the authenticated operator key over TCP; over IPC the local user
  // the console names (the socket's file mode decided they may connect).
  if (req.is_object()) req["_peer"] = uid ? uid : "local";
  std::string_view attachment;
  if (frames.size() > 2) attachment = std::string_view(static_cast<const char*>(frames[2].data()), frames[2].size());
  nlohmann::json resp = control_api_.handle(rid, req, frames.size() > 2 ? &attachment : nullptr);
  if (req.is_object() && req.contains("req")) resp["req"] = req["req"];
  resp["type"] = protocol::control::kTypeResponse;
  sendControl(rid, resp.dump());
}

}  // namespace flotilla::coordinator
