#include "flotilla/coordinator/server.h"

#include <grp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
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
constexpr int kMaxBurst = 512;               // messages handled per socket before looking at the others
constexpr std::size_t kOrderChunk = 500;     // orders committed and sent together in a large wave
constexpr std::size_t kParallelSignAt = 64;  // batches this large are signed on two threads

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
  auto store = openStore({.file = config_.store_file});
  if (!store) return store.error();
  store_ = std::move(*store);
  auto agents = store_->loadAgents();
  if (!agents) return agents.error();
  for (auto& rec : *agents) {
    Agent a;
    a.record = std::move(rec);
    if (a.record.state == "revoked" || a.record.state == "rejected") denied_keys_.insert(a.record.curve_key);
    agents_.emplace(a.record.id, std::move(a));
  }
  auto apps = store_->apps();
  if (!apps) return apps.error();
  for (auto& app : *apps) current_apps_[app.app] = std::move(app);
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
    control_sock_.set(zmq::sockopt::maxmsgsize, kMaxControlFrameBytes);
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

  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal_fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  // Threads inherit the signal mask: workers and the HTTP endpoint start after
  // SIGTERM and SIGINT are blocked, so those reach the reactor's signalfd only
  // (delivered to another thread, they would end the process unflushed).
  background_ = std::make_unique<BackgroundWork>(
      ctx_, config_, clock_,
      [this](const std::string& rid, zmq::message_t payload) {
        try {
          agents_sock_.send(zmq::buffer(rid), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
          agents_sock_.send(payload, zmq::send_flags::dontwait);
        } catch (const zmq::error_t& e) {
          spdlog::debug("send to agent failed: {}", e.what());
        }
      },
      [this](const std::string& rid, const nlohmann::json& doc) { sendControl(rid, doc); });
  publishGauges();
  if (!config_.http_listen.empty()) {
    http_ = std::make_unique<HttpEndpoint>(config_.store_file.string(), gauges_);
    FLOTILLA_TRY(http_->start(config_.http_listen));
  }
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
        {zap_.handle(), 0, ZMQ_POLLIN, 0},
        {agents_sock_.handle(), 0, ZMQ_POLLIN, 0},
        {control_sock_.handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, stop_fd_, ZMQ_POLLIN, 0},
        {nullptr, signal_fd_, ZMQ_POLLIN, 0},
        {background_->artifactSocket().handle(), 0, ZMQ_POLLIN, 0},
        {background_->metricsSocket().handle(), 0, ZMQ_POLLIN, 0},
    };
    auto now = clock_.steadyNow();
    long timeout_ms = -1;
    if (auto d = nextDeadline()) {
      timeout_ms = std::max<long>(0, std::chrono::duration_cast<common::Millis>(*d - now).count() + 1);
    }
    try {
      zmq::poll(items, std::size(items), std::chrono::milliseconds(timeout_ms));
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
    background_->drain();
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
      if (!r->watchers.empty()) r->dirty = true;
    next_sweep_ = now + std::chrono::seconds(1);
  }
  std::vector<std::string> done;
  for (auto& [id, r] : rollouts_) {
    auto d = r->engine->nextDeadline();
    if (d && *d <= now) r->engine->tick(now);
    applyActions(*r, now);
    if (r->dirty) persistRollout(*r);
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
    if (denied_keys_.count(user)) {
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

Server::Agent* Server::agentByRouting(const std::string& rid) {
  auto it = routing_.find(rid);
  if (it == routing_.end() || it->second->routing_id != rid) return nullptr;
  return it->second;
}

void Server::sendToAgent(const std::string& rid, const std::string& payload) {
  try {
    agents_sock_.send(zmq::buffer(rid), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    agents_sock_.send(zmq::buffer(payload), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH: the peer is gone (router_mandatory); liveness will notice.
    spdlog::debug("send to agent failed: {}", e.what());
  }
}

void Server::refuse(const std::string& rid, protocol::RefusalCode code, const std::string& detail) {
  sendToAgent(rid, protocol::encode(protocol::Refusal{code, detail}));
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
  if (denied_keys_.count(key)) {
    ++dropped_from_denied_;
    return;
  }
  auto msg = protocol::decodeAgentMessage(std::string_view(static_cast<const char*>(payload.data()), payload.size()));
  if (!msg) {
    spdlog::warn("refused a malformed message from key {}: {}", key.substr(0, 16), msg.error().message);
    refuse(rid, protocol::RefusalCode::kMalformed, msg.error().message);
    return;
  }
  if (auto* hello = std::get_if<protocol::Hello>(&*msg)) {
    onHello(rid, key, *hello);
    return;
  }
  Agent* a = agentByRouting(rid);
  if (!a || a->record.state != "accepted" || a->record.curve_key != key) {
    if (a && a->record.state == "pending")
      refuse(rid, protocol::RefusalCode::kPending, "waiting for an operator to accept this agent");
    else
      refuse(rid, protocol::RefusalCode::kNotEnrolled, "say hello first");
    return;
  }
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
  if (m.agent_id.empty() || m.agent_id.size() > 128) {
    refuse(rid, protocol::RefusalCode::kInvalidAgentId, "invalid agent id");
    return;
  }
  auto it = agents_.find(m.agent_id);
  if (it != agents_.end() && it->second.record.curve_key != key) {
    spdlog::warn("agent id {} claimed by a different key {}; refused", m.agent_id, key.substr(0, 16));
    refuse(rid, protocol::RefusalCode::kIdTaken, "agent id '" + m.agent_id + "' is enrolled with another key");
    return;
  }
  if (it == agents_.end()) {
    Agent a;
    a.record.id = m.agent_id;
    a.record.curve_key = key;
    a.record.state = "pending";
    a.record.first_seen_ms = now_ms;
    it = agents_.emplace(m.agent_id, std::move(a)).first;
  }
  Agent& a = it->second;
  if (a.record.state == "revoked" || a.record.state == "rejected") {
    refuse(rid, a.record.state == "revoked" ? protocol::RefusalCode::kRevoked : protocol::RefusalCode::kRejected,
           "agent '" + m.agent_id + "' is " + a.record.state);
    return;
  }
  if (a.record.state == "pending" && !m.join_token.empty()) {
    auto ok = store_->useToken(common::blake2bHex(common::asBytes(m.join_token)), now_ms);
    if (ok.ok() && *ok) {
      a.record.state = "accepted";
      spdlog::info("agent {} enrolled with a join token", a.record.id);
    } else {
      spdlog::warn("agent {} presented an invalid or expired join token; pending", a.record.id);
    }
  }
  // A new connection from the same agent replaces the old one.
  if (!a.routing_id.empty() && a.routing_id != rid) routing_.erase(a.routing_id);
  a.routing_id = rid;
  routing_[rid] = &a;
  a.record.labels = m.labels;
  a.record.releases = m.releases;
  a.record.last_seen_ms = now_ms;
  a.last_seen = clock_.steadyNow();
  if (auto st = store_->upsertAgent(a.record); !st.ok()) storeFailed(st.error());

  protocol::Welcome w;
  w.heartbeat_interval_ms = config_.heartbeat_interval.count();
  w.server_time_ms = now_ms;
  if (a.record.state == "accepted") {
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
    const char* word = protocol::toString(state);
    if (state == protocol::HealthState::kUnhealthy && prev != word) {
      if (auto r = active_by_app_.find(app); r != active_by_app_.end())
        rollouts_.at(r->second)->engine->onHostUnhealthy(a.record.id, clock_.steadyNow());
    }
    prev = word;
  }
  if (releases_changed) {
    a.record.last_seen_ms = common::toUnixMillis(clock_.systemNow());
    if (auto st = store_->upsertAgent(a.record); !st.ok()) storeFailed(st.error());
  }
}

void Server::onReport(Agent& a, const protocol::Report& m) {
  if (!m.live_version.empty()) a.record.releases[m.app] = m.live_version;
  auto it = orders_.find(m.order_id);
  if (it == orders_.end() || it->second.agent_id != a.record.id) {
    spdlog::debug("report for unknown order {} from {}", m.order_id, a.record.id);
    return;
  }
  it->second.reported = true;
  OrderRef ref = it->second;
  if (m.phase == Phase::kRefused) {
    auto colon = m.message.find(':');
    ++refusals_[colon == std::string::npos ? m.message : m.message.substr(0, colon)];
  }
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

void Server::onFetch(Agent& a, const protocol::Fetch& m) { background_->fetch(a.routing_id, m); }

void Server::sweepLiveness(SteadyTime now) {
  for (auto& [id, a] : agents_) {
    if (a.online && now - a.last_seen > config_.heartbeat_expiry)
      markLost(a, "no heartbeat for " + common::formatDuration(config_.heartbeat_expiry), now);
  }
}

void Server::publishGauges() {
  std::map<std::string, std::size_t> agent_states{
      {"online", 0}, {"lost", 0}, {"pending", 0}, {"revoked", 0}, {"rejected", 0}};
  for (const auto& [id, a] : agents_) {
    const std::string& st = a.record.state;
    ++agent_states[st == "accepted" ? (a.online ? "online" : "lost") : st];
  }
  std::map<std::string, std::size_t> host_states;
  for (const auto& [id, r] : rollouts_)
    for (const auto& h : r->engine->hosts()) ++host_states[toString(h.state)];
  std::string out;
  out += "# HELP flotilla_agents Agents by state.\n# TYPE flotilla_agents gauge\n";
  for (const auto& [st, n] : agent_states) out += "flotilla_agents{state=\"" + st + "\"} " + std::to_string(n) + "\n";
  out += "# HELP flotilla_active_rollouts Rollouts not yet finished.\n# TYPE flotilla_active_rollouts gauge\n";
  out += "flotilla_active_rollouts " + std::to_string(rollouts_.size()) + "\n";
  out += "# HELP flotilla_rollout_hosts Hosts of active rollouts by state.\n# TYPE flotilla_rollout_hosts gauge\n";
  for (const auto& [st, n] : host_states)
    out += "flotilla_rollout_hosts{state=\"" + st + "\"} " + std::to_string(n) + "\n";
  out +=
      "# HELP flotilla_order_refusals_total Orders refused by agents since start, by reason.\n"
      "# TYPE flotilla_order_refusals_total counter\n";
  for (const auto& [reason, n] : refusals_)
    out += "flotilla_order_refusals_total{reason=\"" + reason + "\"} " + std::to_string(n) + "\n";
  out +=
      "# HELP flotilla_denied_messages_total Messages from revoked or rejected agent keys, dropped.\n"
      "# TYPE flotilla_denied_messages_total counter\nflotilla_denied_messages_total " +
      std::to_string(dropped_from_denied_) + "\n";
  gauges_->publish(std::move(out));
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
    r.dirty = true;
    // One statement reserves the sequences of a whole wave's orders.
    std::uint64_t orders = 0;
    for (const auto& act : actions)
      if (act.kind != RolloutAction::Kind::kEvent) ++orders;
    if (orders > 1) {
      if (auto last = store_->reserveSequences(r.plan.app, orders); last.ok()) {
        seq_app_ = r.plan.app;
        seq_next_ = *last - orders + 1;
        seq_end_ = *last + 1;
      }
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
    // Unused reservations are dropped: a later nextSequence() is above them,
    // and a sequence must never go back.
    seq_next_ = seq_end_ = 0;
  }
}

void Server::sendOrder(ActiveRollout& r, const std::string& agent_id, bool rollback, SteadyTime now) {
  auto it = agents_.find(agent_id);
  const bool online = it != agents_.end() && it->second.online && !it->second.routing_id.empty();
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
  if (order_id.empty()) order_id = ref.rollout_id + "/" + ref.agent_id + "/" + std::to_string(ref.sequence);
  auto& stored = orders_[order_id] = std::move(ref);
  auto a = agents_.find(stored.agent_id);
  if (a == agents_.end()) return order_id;
  a->second.orders.insert(order_id);
  if (a->second.online) queueOrder(order_id, stored);
  return order_id;
}

void Server::closeOrder(const std::string& order_id) {
  auto it = orders_.find(order_id);
  if (it == orders_.end()) return;
  if (auto a = agents_.find(it->second.agent_id); a != agents_.end()) a->second.orders.erase(order_id);
  orders_.erase(it);
}

void Server::queueOrder(const std::string& order_id, OrderRef& ref) {
  Outgoing out;
  auto& body = out.body;
  auto active = rollouts_.find(ref.rollout_id);
  if (active != rollouts_.end() && !ref.rollback && !ref.converge) {
    const auto& r = *active->second;
    out.spec = r.spec;
    body.artifact_digest = r.artifact_digest;
    body.artifact_size = r.artifact_size;
    body.release_signature = r.release_signature;
  } else {
    const auto key = std::make_pair(ref.app, ref.version);
    auto cached = release_cache_.find(key);
    if (cached == release_cache_.end()) {
      ReleaseData data;
      auto rel = store_->release(ref.app, ref.version);
      if (!rel) {
        // Not sent now: retryOrders() tries again (last_sent is unchanged).
        storeFailed(rel.error());
        return;
      }
      if (rel->has_value()) {
        data.spec = std::make_shared<const std::string>((*rel)->spec);
        data.digest = (*rel)->artifact_digest;
        data.size = (*rel)->artifact_size;
        data.signature = (*rel)->release_signature;
      } else {
        // Not deployed through this coordinator: the agent must still have
        // the release on disk (it keeps the last keep_releases).
        data.spec = std::make_shared<const std::string>();
      }
      if (release_cache_.size() >= 64) release_cache_.clear();
      cached = release_cache_.emplace(key, std::move(data)).first;
    }
    out.spec = cached->second.spec;
    body.artifact_digest = cached->second.digest;
    body.artifact_size = cached->second.size;
    body.release_signature = cached->second.signature;
  }
  body.order_id = order_id;
  body.target = ref.agent_id;
  body.rollout_id = ref.rollout_id;
  body.app = ref.app;
  body.version = ref.version;
  body.action = ref.rollback ? "rollback" : "deploy";
  body.sequence = ref.sequence;
  out.agent_id = ref.agent_id;
  outbox_.push_back(std::move(out));
  ref.last_sent = clock_.steadyNow();
}

void Server::flushOutbox() {
  // Issue times are taken here, when the orders really leave.
  const auto sys_now = clock_.systemNow();
  const auto issued = common::toUnixSeconds(sys_now), expires = common::toUnixSeconds(sys_now + config_.order_ttl);
  std::vector<std::pair<Agent*, Outgoing*>> ready;
  ready.reserve(outbox_.size());
  for (auto& o : outbox_) {
    auto a = agents_.find(o.agent_id);
    if (a == agents_.end() || !a->second.online || a->second.routing_id.empty()) continue;
    o.body.issued_at = issued;
    o.body.expires_at = expires;
    ready.emplace_back(&a->second, &o);
  }
  // Signing (Ed25519, ~25 us each) is the bulk of a large wave's work: a
  // second thread signs half of a big batch while this one signs the rest.
  std::vector<std::string> encoded(ready.size());
  auto sign = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i)
      encoded[i] = protocol::encode(
          protocol::signOrder(std::move(ready[i].second->body), *ready[i].second->spec, config_.plan_key));
  };
  if (ready.size() >= kParallelSignAt) {
    const std::size_t half = ready.size() / 2;
    std::thread helper(sign, half, ready.size());
    sign(0, half);
    helper.join();
  } else {
    sign(0, ready.size());
  }
  for (std::size_t i = 0; i < ready.size(); ++i) sendToAgent(ready[i].first->routing_id, encoded[i]);
  outbox_.clear();
}

Result<std::uint64_t> Server::takeSequence(const std::string& app) {
  if (app == seq_app_ && seq_next_ < seq_end_) return seq_next_++;
  return store_->nextSequence(app);
}

void Server::resendOrders(Agent& a) {
  for (const auto& id : a.orders) {
    auto it = orders_.find(id);
    if (it != orders_.end()) queueOrder(id, it->second);
  }
}

void Server::retryOrders(SteadyTime now) {
  // An order nobody acknowledged may have been lost with a connection: send it
  // again. The agent recognises a repeat by its id and only reports again.
  for (auto& [id, ref] : orders_) {
    if (ref.reported || now - ref.last_sent < config_.order_retry) continue;
    auto a = agents_.find(ref.agent_id);
    if (a == agents_.end() || !a->second.online) continue;
    queueOrder(id, ref);
  }
}

void Server::maybeConverge(Agent& a) {
  if (!a.online || a.record.state != "accepted") return;
  for (const auto& [app, cur] : current_apps_) {
    if (active_by_app_.count(app) || !labelsMatch(cur.target, a.record.labels)) continue;
    auto live = a.record.releases.find(app);
    if (live != a.record.releases.end() && live->second == cur.current_version) continue;
    const std::string key = a.record.id + "\n" + app + "\n" + cur.current_version;
    if (converge_attempted_.count(key)) continue;
    bool busy = false;
    for (const auto& id : a.orders)
      if (auto o = orders_.find(id); o != orders_.end() && o->second.app == app) busy = true;
    if (busy) continue;
    // Hosts the current release's rollout reached keep what they have: a host
    // that failed on it is not retried behind the operator's back.
    auto st = store_->hostState(cur.current_rollout, a.record.id);
    if (!st) {
      storeFailed(st.error());
      continue;
    }
    if (st->has_value() && **st != toString(HostState::kPending) && **st != toString(HostState::kUnreachable)) continue;
    converge_attempted_.insert(key);
    auto seq = store_->nextSequence(app);
    if (!seq) {
      storeFailed(seq.error());
      continue;
    }
    OrderRef ref;
    ref.rollout_id = cur.current_rollout;
    ref.agent_id = a.record.id;
    ref.app = app;
    ref.version = cur.current_version;
    ref.sequence = *seq;
    ref.converge = true;
    recordEventFor(cur.current_rollout, findRollout(cur.current_rollout), "host_converging", a.record.id, -1,
                   (live == a.record.releases.end() ? std::string("no release") : "live " + live->second) +
                       ", converging to " + cur.current_version + " (sequence " + std::to_string(*seq) + ")",
                   "coordinator");
    spdlog::info("agent {} converging to {} {}", a.record.id, app, cur.current_version);
    openOrder(std::move(ref));
  }
}

void Server::resaveAfterFailure() {
  resave_ = false;
  for (const auto& rec : unsaved_finals_)
    if (auto st = store_->updateRollout(rec); !st.ok()) storeFailed(st.error());
  for (auto& [id, r] : rollouts_) {
    r->engine->markAllDirty();
    r->dirty = true;
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
  auto from_wall = [&](std::int64_t ms) { return steady_now + common::Millis(ms - sys_ms); };
  for (auto& rec : *stored) {
    auto st = rolloutStateFromString(rec.state);
    if (!st || isFinished(*st)) continue;
    auto fail = [&](const std::string& why) -> Status {
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
    };
    auto saved = nlohmann::json::parse(rec.engine, nullptr, false);
    if (!saved.is_object() || !saved.contains("engine") || rec.plan_text.empty()) {
      FLOTILLA_TRY(fail("no stored engine state"));
      continue;
    }
    auto plan = protocol::parsePlan(rec.plan_text, rec.plan_name, "");
    if (!plan) {
      FLOTILLA_TRY(fail(plan.error().message));
      continue;
    }
    const std::string kind = saved.value("kind", "rollout");
    if (kind == "rollback") plan->waves = rollbackPolicy(plan->waves);
    auto rel = store_->release(plan->app, plan->version);
    if (!rel) return rel.error();
    if (!rel->has_value()) {
      FLOTILLA_TRY(fail("release " + plan->app + " " + plan->version + " is not in the store"));
      continue;
    }
    auto rows = store_->rolloutHosts(rec.id);
    if (!rows) return rows.error();
    std::vector<HostSlot> hosts;
    hosts.reserve(rows->size());
    bool rows_ok = true;
    for (std::size_t i = 0; i < rows->size(); ++i) {
      auto& row = (*rows)[i];
      auto hs = hostStateFromString(row.state);
      if (!hs || row.idx != i) {
        rows_ok = false;
        break;
      }
      HostSlot h;
      h.agent_id = std::move(row.agent_id);
      h.wave = static_cast<std::size_t>(row.wave);
      h.state = *hs;
      h.phase = std::move(row.phase);
      h.previous_version = std::move(row.previous_version);
      h.message = std::move(row.message);
      h.moved = row.moved;
      h.reverted_itself = row.reverted_itself;
      h.order_id = std::move(row.order_id);
      h.sequence = row.sequence;
      hosts.push_back(std::move(h));
    }
    if (!rows_ok) {
      FLOTILLA_TRY(fail("its stored hosts are inconsistent"));
      continue;
    }
    Rollout::Config cfg{rec.id, plan->app, plan->version, plan->waves,
                        std::max(plan->waves.deadline, common::Millis(std::chrono::minutes(2)))};
    auto engine = Rollout::restore(cfg, std::move(hosts), saved["engine"], from_wall);
    if (!engine) {
      FLOTILLA_TRY(fail(engine.error().message));
      continue;
    }
    // Agents need time to reconnect and report what happened meanwhile.
    (*engine)->extendDeadlines(steady_now + 2 * config_.heartbeat_expiry);
    auto ar = std::make_unique<ActiveRollout>();
    ar->engine = std::move(*engine);
    ar->plan = std::move(*plan);
    ar->record = rec;
    ar->spec = std::make_shared<const std::string>((*rel)->spec);
    ar->artifact_digest = (*rel)->artifact_digest;
    ar->artifact_size = (*rel)->artifact_size;
    ar->release_signature = (*rel)->release_signature;
    ar->kind = kind;
    ar->plan_text = rec.plan_text;
    auto& r = *ar;
    rollouts_.emplace(rec.id, std::move(ar));
    active_by_app_[r.plan.app] = rec.id;
    // Orders in hand when the coordinator stopped go out again (same id and
    // sequence) as their agents reconnect.
    std::size_t open = 0;
    for (std::size_t i = 0; i < r.engine->hosts().size(); ++i) {
      const HostSlot& h = r.engine->hosts()[i];
      const bool rolling_back = h.state == HostState::kRollingBack;
      if (h.state != HostState::kDeploying && !rolling_back) continue;
      OrderRef ref;
      ref.rollout_id = rec.id;
      ref.agent_id = h.agent_id;
      ref.app = r.plan.app;
      ref.version = rolling_back ? h.previous_version : r.plan.version;
      ref.sequence = h.sequence;
      ref.rollback = rolling_back;
      ++open;
      if (!h.order_id.empty()) {
        openOrder(std::move(ref), h.order_id);
        continue;
      }
      // Dispatched, but its order was in a chunk that never committed: it
      // never left. Issue it now; it goes out when the agent returns.
      auto seq = store_->nextSequence(r.plan.app);
      if (!seq) return seq.error();
      ref.sequence = *seq;
      const std::string agent_id = h.agent_id;
      r.engine->setOrder(agent_id, openOrder(std::move(ref)), *seq);
    }
    recordEvent(r, "rollout_resumed", "", -1,
                "coordinator restarted; resuming " + std::string(toString(r.engine->state())) + " rollout at wave " +
                    std::to_string(r.engine->currentWave()) + " with " + std::to_string(open) + " orders in hand",
                "coordinator");
    r.dirty = true;
    spdlog::info("[{}] resumed after a restart ({} orders in hand)", rec.id, open);
  }
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
  if (r && !r->watchers.empty()) {
    nlohmann::json doc = eventJson(e);
    doc["type"] = "event";
    pushToWatchers(*r, doc);
  }
}

void Server::persistRollout(ActiveRollout& r) {
  r.dirty = false;
  const auto now = clock_.steadyNow();
  r.record.state = toString(r.engine->state());
  nlohmann::json snap = statusJson(r, false);
  r.record.snapshot = snap.dump();
  if (r.engine->finished()) {
    r.record.engine.clear();
  } else {
    const auto sys_ms = common::toUnixMillis(clock_.systemNow());
    auto to_wall = [&](SteadyTime t) { return sys_ms + std::chrono::duration_cast<common::Millis>(t - now).count(); };
    r.record.engine = nlohmann::json{{"engine", r.engine->saveState(to_wall)}, {"kind", r.kind}}.dump();
  }
  if (auto st = store_->updateRollout(r.record); !st.ok()) storeFailed(st.error());
  for (auto idx : r.engine->drainDirtyHosts()) {
    const auto& h = r.engine->hosts()[idx];
    RolloutHostRecord rec{
        idx,       h.agent_id, static_cast<int>(h.wave), toString(h.state), h.phase,   h.previous_version,
        h.message, h.moved,    h.reverted_itself,        h.order_id,        h.sequence};
    if (auto st = store_->putRolloutHost(r.record.id, rec); !st.ok()) storeFailed(st.error());
  }
  if (!r.watchers.empty()) {
    snap["type"] = "status";
    snap["gate"] = r.engine->gate(now);
    pushToWatchers(r, snap);
  }
}

void Server::finishRollout(ActiveRollout& r) {
  const std::string id = r.record.id;
  r.record.state = toString(r.engine->state());
  r.record.finished_at_ms = common::toUnixMillis(clock_.systemNow());
  r.record.message = r.engine->finalMessage();
  if (r.engine->state() == RolloutState::kSucceeded) {
    AppRecord app{r.plan.app, r.plan.version, id, r.plan.target_labels};
    if (auto st = store_->setCurrentRelease(app); !st.ok()) storeFailed(st.error());
    current_apps_[app.app] = std::move(app);
  }
  const bool succeeded = r.engine->state() == RolloutState::kSucceeded;
  persistRollout(r);
  unsaved_finals_.push_back(r.record);
  nlohmann::json end = statusJson(r, false);
  end["type"] = "end";
  pushToWatchers(r, end);
  std::vector<std::string> closed;
  for (const auto& [oid, ref] : orders_)
    if (ref.rollout_id == id && !ref.converge) closed.push_back(oid);
  for (const auto& oid : closed) closeOrder(oid);
  active_by_app_.erase(r.plan.app);
  // Hosts this rollout could not reach and that are back now converge to it.
  std::vector<Agent*> missed;
  if (succeeded)
    for (const auto& h : r.engine->hosts())
      if (h.state == HostState::kUnreachable || h.state == HostState::kPending)
        if (auto a = agents_.find(h.agent_id); a != agents_.end() && a->second.online) missed.push_back(&a->second);
  rollouts_.erase(id);
  for (auto* a : missed) maybeConverge(*a);
}

Server::ActiveRollout* Server::findRollout(const std::string& id) {
  auto it = rollouts_.find(id);
  return it == rollouts_.end() ? nullptr : it->second.get();
}

void Server::pushToWatchers(ActiveRollout& r, const nlohmann::json& doc) {
  for (const auto& w : r.watchers) sendControl(w, doc);
}

void Server::sendControl(const std::string& rid, const nlohmann::json& doc) {
  const std::string text = doc.dump();
  try {
    control_sock_.send(zmq::buffer(rid), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    control_sock_.send(zmq::buffer(text), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::debug("control send failed: {}", e.what());
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
  if (req.is_object() && background_->takeControl(rid, req, frames)) return;  // answered by a worker
  nlohmann::json resp;
  if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) {
    resp = {{"ok", false},
            {"error", {{"code", "invalid_argument"}, {"message", "request must be a JSON object with \"cmd\""}}}};
  } else {
    try {
      resp = dispatchControl(rid, req);
    } catch (const nlohmann::json::exception& e) {
      resp = {{"ok", false},
              {"error", {{"code", "invalid_argument"}, {"message", std::string("bad request: ") + e.what()}}}};
    }
  }
  if (req.is_object() && req.contains("req")) resp["req"] = req["req"];
  resp["type"] = "response";
  sendControl(rid, resp);
}

}  // namespace flotilla::coordinator
