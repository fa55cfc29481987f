// The reactor: sockets, the poll loop, ZAP, message framing and store
// transactions, and the outbox's signing and sending. What messages do lives
// in server_agents.cpp, server_control.cpp and the parts they call.
#include "flotilla/coordinator/server.h"

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
#include "flotilla/coordinator/fleet_gauges.h"
#include "flotilla/coordinator/operator_identity.h"
#include "flotilla/coordinator/order_signing.h"
#include "flotilla/protocol/control.h"

#ifdef FLOTILLA_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace flotilla::coordinator {

using common::SteadyTime;

namespace {

constexpr const char* kAgentDomain = "agents";
constexpr const char* kControlDomain = "control";
constexpr int kMaxBurst = 512;  // messages handled per socket before looking at the others

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
  auto store_options = storeOptions(config_);
  if (leadership_) {
    store_options.fence_epoch = leadership_->epoch();
    store_options.fence_holder = holder_;
  }
  auto store = openStore(store_options);
  if (!store) return store.error();
  store_ = std::move(*store);
  // store.url carries no password (config.cpp refuses one), so it may be logged.
  if (!config_.store_url.empty()) spdlog::info("store: PostgreSQL at {}", config_.store_url);
  auto agents = store_->loadAgents();
  if (!agents) return agents.error();
  // Nobody has said hello to this process yet: every known agent gets twice the
  // heartbeat expiry (the grace resumed orders get, RolloutDriver) to come
  // back; an order for it meanwhile waits for it (RolloutDriver::onRejoinMissed).
  agents_.load(std::move(*agents), clock_.steadyNow() + 2 * config_.heartbeat_expiry);
  auto apps = store_->apps();
  if (!apps) return apps.error();
  convergence_.load(std::move(*apps));
  auto gates = PolicyGates::make(config_.policy, operatorIdentities(config_));
  if (!gates) return gates.error();
  policy_ = std::move(*gates);
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
  prometheus_ = std::make_unique<PrometheusSource>(ctx_, std::chrono::seconds(5));
  analysis_ = std::make_unique<ReleaseAnalysis>(
      *store_, agents_, clock_,
      ReleaseAnalysis::Hooks{[this](const std::string& agent_id, const std::string& frame) {
                               const Agent* a = agents_.find(agent_id);
                               if (a && a->online && !a->routing_id.empty()) sendToAgent(a->routing_id, frame);
                             },
                             [this](const Error& e) { storeFailed(e); }},
      prometheus_.get());
  rollouts_ = std::make_unique<RolloutDriver>(
      RolloutDriver::Parts{*store_, agents_, orders_, events_, watchers_, convergence_, *analysis_, clock_},
      rolloutHooks(), 2 * config_.heartbeat_expiry);
  alarms_ = std::make_unique<AlarmWatch>(
      ctx_, clock_, config_.policy.alarms,
      AlarmWatch::Hooks{[this] {
                          std::vector<ActiveRollout*> out;
                          for (const ActiveRollout* r : rollouts_->all()) out.push_back(rollouts_->find(r->record.id));
                          return out;
                        },
                        [this](ActiveRollout& r, const std::string& kind, const std::string& message,
                               const std::string& actor) { operatorActed(r, kind, message, actor); }});
  FLOTILLA_TRY(store_->begin());
  FLOTILLA_TRY(rollouts_->restore());
  rollouts_->forgetIneligibleApprovals(policy_.approvals());
  FLOTILLA_TRY(store_->commit());

  FLOTILLA_TRY(bindSockets());

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
      [this](const std::string& rid, const nlohmann::json& doc) { sendControl(rid, doc.dump()); });
  FLOTILLA_TRY(startNotifier());
  publishGauges();
  if (!config_.http.listen.empty()) {
    http_ = std::make_unique<HttpEndpoint>(storeOptions(config_), gauges_, feed_, config_.http);
    if (leadership_)
      http_->setHealth(
          std::make_shared<LiveGauges>("ok: leader, epoch " + std::to_string(leadership_->epoch()) + "\n"));
    publishDashboard();
    FLOTILLA_TRY(http_->start(config_.http.listen));
  }
  spdlog::info("coordinator listening for agents on {}, control on {}", config_.agent_listen, config_.control_endpoint);
  return {};
}

Status Server::bindSockets() {
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

    FLOTILLA_TRY(bindControl());
  } catch (const zmq::error_t& e) {
    return Error(Errc::kUnavailable, std::string("binding sockets: ") + e.what());
  }
  return {};
}

Status Server::bindControl() {
  control_sock_ = zmq::socket_t(ctx_, zmq::socket_type::router);
  control_sock_.set(zmq::sockopt::linger, 0);
  control_sock_.set(zmq::sockopt::maxmsgsize, kMaxControlFrameBytes);
  // A send to a console that went away fails (EHOSTUNREACH) instead of
  // vanishing, so a departed watcher is dropped (Watchers).
  control_sock_.set(zmq::sockopt::router_mandatory, 1);
  control_sock_.set(zmq::sockopt::zap_domain, kControlDomain);
  const bool tcp = config_.control_endpoint.rfind("tcp://", 0) == 0;
  for (const auto& k : config_.operators) operator_keys_.insert(common::toHex(k));
  if (tcp) {
    // Over TCP, operators authenticate with CURVE keys on the allowlist.
    if (operator_keys_.empty())
      return Error(Errc::kInvalidArgument, "control.endpoint " + config_.control_endpoint + " needs control.operators");
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
  return {};
}

std::optional<SteadyTime> Server::nextDeadline() const {
  std::optional<SteadyTime> next = rollouts_->nextDeadline();
  if (!next || next_sweep_ < *next) next = next_sweep_;
  if (auto due = alarms_->nextDue(); due && *due < *next) next = due;
  return next;
}

Status Server::run() {
#ifdef FLOTILLA_HAVE_SYSTEMD
  sd_notify(0, "READY=1");
#endif
  next_sweep_ = clock_.steadyNow() + std::chrono::seconds(1);
  bool stopping = false;
  while (!stopping) {
    // Without alarms there is no worker: an item that never fires stands in.
    zmq::pollitem_t items[] = {
        {zap_.handle(), 0, ZMQ_POLLIN, 0},
        {agents_sock_.handle(), 0, ZMQ_POLLIN, 0},
        {control_sock_.handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, stop_fd_, ZMQ_POLLIN, 0},
        {nullptr, signal_fd_, ZMQ_POLLIN, 0},
        {background_->artifactSocket().handle(), 0, ZMQ_POLLIN, 0},
        {background_->metricsSocket().handle(), 0, ZMQ_POLLIN, 0},
        {prometheus_->socket().handle(), 0, ZMQ_POLLIN, 0},
        {alarms_->empty() ? nullptr : alarms_->socket().handle(), alarms_->empty() ? stop_fd_ : 0,
         static_cast<short>(alarms_->empty() ? 0 : ZMQ_POLLIN), 0},
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
    // Only when a worker answered: most iterations carry agents' messages alone.
    if ((items[5].revents | items[6].revents) & ZMQ_POLLIN) background_->drain();
    if (items[7].revents & ZMQ_POLLIN) rollouts_->drainPrometheus();
    if (items[8].revents & ZMQ_POLLIN) alarms_->drain();
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
    publishDashboard();
    // Watchers see gates count down (bake, approval) without asking.
    rollouts_->markWatchTicks();
    const auto wall = clock_.systemNow();
    rollouts_->applyHolds([&](const ActiveRollout& r) { return policy_.holdReason(r.plan, wall); }, now);
    rollouts_->sweepApprovals([&](const ActiveRollout& r) { return policy_.closedFreeze(r.plan, wall); });
    next_sweep_ = now + std::chrono::seconds(1);
  }
  if (!alarms_->empty()) alarms_->tick(now);
  rollouts_->advance(now);
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
    // Local IPC: the socket file's mode decides who gets here, and the
    // kernel says who they are (SO_PEERCRED, in the address frame).
    if (auto uid = peerUidFromZapAddress(frameString(frames[3]))) {
      status = "200";
      text = "OK";
      user = identityOfUid(*uid);
    } else {
      spdlog::warn("control connection refused: the ipc peer's user is unknown (address '{}')", frameString(frames[3]));
    }
  } else if (domain == kControlDomain && mechanism == "CURVE" && frames.size() >= 7 && frames[6].size() == 32) {
    common::PublicKey key{};
    std::memcpy(key.data(), frames[6].data(), 32);
    if (operator_keys_.count(common::toHex(key))) {
      status = "200";
      text = "OK";
      user = identityOfKey(key);
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

void Server::refuse(const std::string& rid, protocol::RefusalCode code, const std::string& detail) {
  sendToAgent(rid, protocol::encode(protocol::Refusal{code, detail}));
}

bool Server::receiveAgentMessage(std::string& rid, zmq::message_t& payload) {
  zmq::message_t rid_msg;
  if (!agents_sock_.recv(rid_msg, zmq::recv_flags::dontwait)) return false;
  if (!rid_msg.more()) return false;
  (void)agents_sock_.recv(payload, zmq::recv_flags::dontwait);
  if (payload.more()) {
    // A well-formed agent sends one frame. Drain every remaining part of this
    // message so none of it is mistaken for the start of the next one.
    zmq::message_t extra;
    do {
      if (!agents_sock_.recv(extra, zmq::recv_flags::dontwait)) break;
    } while (extra.more());
    spdlog::warn("dropped a multi-frame message from an agent");
    return false;
  }
  rid = frameString(rid_msg);
  return true;
}

void Server::handleAgentMessage() {
  std::string rid;
  zmq::message_t payload;
  if (!receiveAgentMessage(rid, payload)) return;
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
    refuse(rid, protocol::RefusalCode::kMalformed, msg.error().message);
    return;
  }
  if (auto* hello = std::get_if<protocol::Hello>(&*msg)) {
    onHello(rid, key, *hello);
    return;
  }
  auto session = agents_.session(rid, key);
  if (!session) {
    refuse(rid, session.refusal.code, session.refusal.detail);
    return;
  }
  Agent* a = session.agent;
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
        else if constexpr (std::is_same_v<T, protocol::Samples>)
          rollouts_->onSamples(a->record.id, m);
      },
      *msg);
  if (came_back) {
    // Back on the same connection (it was frozen or cut off): what it missed
    // goes out again, after its message told us what it runs now.
    resendOrders(*a);
    maybeConverge(*a);
    rollouts_->onAgentBack(a->record.id);
  }
}

Status Server::startNotifier() {
  if (config_.notify.empty()) return {};
  // A target without a cursor yet starts with the events recorded from now on.
  auto last = store_->lastEventSeq();
  if (!last) return last.error();
  notifier_ = std::make_unique<Notifier>(config_.notify, storeOptions(config_), config_.store_file.parent_path(), *last,
                                         clock_);
  notifier_->start();
  return {};
}

void Server::publishGauges() {
  FleetGauges g;
  g.agents = agents_.countByState();
  g.active_rollouts = rollouts_->size();
  for (const ActiveRollout* r : rollouts_->all())
    for (const auto& h : r->engine->hosts()) ++g.rollout_hosts[toString(h.state)];
  g.refusals = refusals_.byReason();
  g.artifact_failures = artifact_failures_.byReason();
  g.denied_messages = dropped_from_denied_;
  g.watchers = watchers_.count();
  for (const auto& [app, last] : analysis_->lastVerdicts()) {
    FleetGauges::Analysis a{app, last.rollout_id, last.wave, toString(last.verdict.outcome), last.verdict.score, {}};
    for (const auto& m : last.verdict.metrics) a.metrics.emplace_back(m.metric, toString(m.verdict));
    g.analysis.push_back(std::move(a));
  }
  g.dropped_samples = analysis_->droppedSamples();
  g.break_glass = break_glass_;
  g.epoch = leadership_ ? leadership_->epoch() : 0;
  gauges_->publish(renderFleetGauges(g) + (notifier_ ? notifier_->renderMetrics() : ""));
}

void Server::publishDashboard() {
  if (!http_ || !config_.http.dashboard || !feed_->wanted()) return;
  feed_->publish(feedRollouts(rollouts_->all(), clock_.steadyNow(),
                              [this](const ActiveRollout& r) { return analysis_->interim(r); }),
                 feedAgents(agents_));
}

// ---------------------------------------------------------------- store transactions

RolloutDriver::Hooks Server::rolloutHooks() {
  RolloutDriver::Hooks h;
  h.store_failed = [this](const Error& e) { storeFailed(e); };
  h.commit = [this]() -> Status {
    FLOTILLA_TRY(store_->commit());
    if (write_failed_) return Error(Errc::kIo, store_error_);
    return {};
  };
  h.commit_and_flush = [this] { commitAndFlush(); };
  h.converge = [this](Agent& a) { maybeConverge(a); };
  h.send_control = [this](const std::string& rid, const std::string& text) { return sendControl(rid, text); };
  return h;
}

void Server::commitAndFlush() {
  if (auto st = store_->commit(); !st.ok()) storeFailed(st.error());
  if (write_failed_) {
    resave_ = true;
  } else {
    rollouts_->committed();
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

void Server::resaveAfterFailure() {
  resave_ = false;
  rollouts_->resave();
}

void Server::storeFailed(const Error& e) {
  write_failed_ = true;
  if (store_error_ != e.message)
    spdlog::error("store failure: {}; new rollouts are refused until it recovers", e.message);
  store_error_ = e.message;
}

void Server::flushOutbox() {
  if (orders_.outboxEmpty()) return;
  auto outbox = orders_.takeOutbox();
  // Past the lease's local deadline nothing leaves (lease_keeper.h): the
  // orders stay open in the store, and the next leader resends them.
  if (leadership_ && !leadership_->mayOrder()) return;
  const std::uint64_t epoch = leadership_ ? leadership_->epoch() : 0;
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
    o.body.epoch = epoch;
    ready.push_back(&o);
    to.push_back(a);
  }
  // Signed on two threads for a large batch, then sent one by one.
  const auto encoded = signOrders(ready, config_.plan_key);
  for (std::size_t i = 0; i < ready.size(); ++i) {
    if (leadership_ && !leadership_->mayOrder()) return;  // the deadline may pass mid-batch
    sendToAgent(to[i]->routing_id, encoded[i]);
  }
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
  // Who acts, as ZAP authenticated them (operator_identity.h): the operator
  // key over TCP, the peer's Unix user over IPC.
  if (req.is_object()) req["_peer"] = uid ? uid : "";
  if (req.is_object() && background_->takeControl(rid, req, frames)) return;  // answered by a worker
  nlohmann::json resp = control_api_.handle(rid, req);
  if (req.is_object() && req.contains("req")) resp["req"] = req["req"];
  resp["type"] = protocol::control::kTypeResponse;
  sendControl(rid, resp.dump());
}

}  // namespace flotilla::coordinator
