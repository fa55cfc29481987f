#include "flotilla/console/client.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "flotilla/common/crypto.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "flotilla/common/duration.h"
#include "flotilla/console/render.h"
#include "flotilla/protocol/control.h"

namespace flotilla::console {

namespace {

// Replies can be large (history, events of a big rollout) but are never artifacts.
constexpr std::int64_t kMaxReplyBytes = std::int64_t{256} << 20;
constexpr const char* kMonitorEndpoint = "inproc://flotilla-console-monitor";
// How often a wait for a reply checks that the connection is still up.
constexpr common::Millis kConnectionCheck{250};
// With several endpoints: how long one may take to accept the connection.
constexpr common::Millis kListConnectWait{3000};
// Between not_leader answers that name no other leader.
constexpr common::Millis kLeaderPause{250};

common::Millis remaining(common::SteadyTime deadline) {
  auto left = std::chrono::duration_cast<common::Millis>(deadline - common::SteadyClock::now());
  return std::max(left, common::Millis(0));
}

std::string seconds(common::Millis d) { return common::formatDuration(d); }

}  // namespace

std::string defaultOperatorName() {
  std::string user;
  if (const char* u = std::getenv("USER"); u && *u) user = u;
  if (user.empty()) {
    if (const struct passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name) user = pw->pw_name;
  }
  if (user.empty()) user = "uid" + std::to_string(::getuid());
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  return user + "@" + host;
}

ControlClient::ControlClient(ClientOptions options, std::vector<std::string> endpoints)
    : options_(std::move(options)), endpoints_(std::move(endpoints)), ctx_(1) {}

ControlClient::~ControlClient() = default;

namespace {

// An ipc:// endpoint's socket file must exist and be ours to use.
Status checkEndpoint(const std::string& endpoint) {
  constexpr std::string_view kIpc = "ipc://";
  if (endpoint.rfind(kIpc, 0) != 0) return {};
  const std::string path = endpoint.substr(kIpc.size());
  if (path.empty()) return Error(Errc::kInvalidArgument, "invalid control endpoint '" + endpoint + "': no path");
  // '@' names a socket in the abstract namespace: there is no file to check.
  if (path[0] == '@') return {};
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == EACCES)
      return Error(Errc::kPermission,
                   "access denied: cannot reach the control socket " + path + ": " + std::strerror(errno));
    return Error(Errc::kUnavailable,
                 "coordinator unreachable: no control socket at " + path + " (is flotilla-coordinator running?)");
  }
  if (!S_ISSOCK(st.st_mode))
    return Error(Errc::kInvalidArgument, "invalid control endpoint '" + endpoint + "': " + path + " is not a socket");
  if (::access(path.c_str(), R_OK | W_OK) != 0)
    return Error(Errc::kPermission, "access denied: " + path + " is not readable and writable by " +
                                        defaultOperatorName() + " (the control socket is open to its owner and group)");
  return {};
}

// The endpoints of --control: one as given, or a comma-separated list. With a
// list, an ipc:// socket that is not there (a coordinator of this host that is
// down) is no error while another endpoint may answer; the first usable one
// goes first.
Result<std::vector<std::string>> usableEndpoints(const std::string& text) {
  if (text.empty())
    return Error(Errc::kInvalidArgument, "no control endpoint: pass --control ENDPOINT or set FLOTILLA_CONTROL");
  if (text.find(',') == std::string::npos) {
    FLOTILLA_TRY(checkEndpoint(text));
    return std::vector<std::string>{text};
  }
  auto list = protocol::parseEndpointList(text, "--control");
  if (!list) return list.error();
  std::optional<Error> missing;
  std::size_t first = list->size();
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto st = checkEndpoint((*list)[i]);
    if (st.ok()) {
      first = std::min(first, i);
      continue;
    }
    if (st.error().code != Errc::kUnavailable) return st.error();
    if (!missing) missing = st.error();
  }
  if (first == list->size()) return *missing;
  std::rotate(list->begin(), list->begin() + static_cast<std::ptrdiff_t>(first), list->end());
  return list;
}

}  // namespace

Result<std::unique_ptr<ControlClient>> ControlClient::connect(ClientOptions options) {
  auto endpoints = usableEndpoints(options.endpoint);
  if (!endpoints) return endpoints.error();
  std::array<std::uint8_t, 32> secret{}, pub{};
  common::PublicKey server{};
  const bool tcp =
      std::any_of(endpoints->begin(), endpoints->end(), [](const std::string& e) { return e.rfind("tcp://", 0) == 0; });
  if (tcp) {
    // Over TCP the coordinator only talks to allowlisted operator keys, over CURVE.
    if (options.key_file.empty() || options.coordinator_key.empty())
      return Error(Errc::kInvalidArgument,
                   "a tcp:// control endpoint needs --key OPERATOR.key and --coordinator-key HEX "
                   "(or FLOTILLA_KEY and FLOTILLA_COORDINATOR_KEY)");
    auto raw = common::readKeyFile(options.key_file, 32, "an operator key (flotilla keygen --operator)");
    if (!raw) return raw.error().context("--key");
    std::memcpy(secret.data(), raw->data(), 32);
    crypto_scalarmult_base(pub.data(), secret.data());
    auto sk = common::publicKeyFromHex(options.coordinator_key);
    if (!sk)
      return Error(Errc::kInvalidArgument,
                   "--coordinator-key: expected 64 hex characters (the coordinator's keys/curve.pub)");
    server = *sk;
  }
  std::unique_ptr<ControlClient> client(new ControlClient(std::move(options), std::move(*endpoints)));
  if (tcp) client->curve_ = Curve{server, pub, secret};
  try {
    client->open();
  } catch (const zmq::error_t& e) {
    return Error(Errc::kInvalidArgument, "invalid control endpoint '" + client->endpoint() + "': " + e.what());
  }
  return client;
}

void ControlClient::open() {
  // A fresh socket for each endpoint: one kept across a disconnect may still
  // route the next request into the old connection while it closes.
  monitor_ = zmq::socket_t();
  sock_ = zmq::socket_t(ctx_, zmq::socket_type::dealer);
  if (curve_) {
    sock_.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(curve_->server.data(), 32));
    sock_.set(zmq::sockopt::curve_publickey, zmq::const_buffer(curve_->pub.data(), 32));
    sock_.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(curve_->secret.data(), 32));
    // A key the coordinator does not allow fails the CURVE handshake; only a
    // socket monitor hears of it (the socket itself just never connects).
    const std::string monitor = kMonitorEndpoint + std::string("-") + std::to_string(++sockets_);
    if (zmq_socket_monitor(sock_.handle(), monitor.c_str(), ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) throw zmq::error_t();
    monitor_ = zmq::socket_t(ctx_, zmq::socket_type::pair);
    monitor_.set(zmq::sockopt::linger, 0);
    monitor_.connect(monitor);
    key_id_ = common::keyId(curve_->pub);
  }
  sock_.set(zmq::sockopt::linger, 0);
  // Queue nothing for a coordinator that is not there: a request fails fast
  // instead of waiting in a pipe. (A reply still in flight when the
  // coordinator goes away is lost with the connection; the request times out.)
  sock_.set(zmq::sockopt::immediate, 1);
  sock_.set(zmq::sockopt::maxmsgsize, kMaxReplyBytes);
  sock_.connect(endpoint());
}

Error ControlClient::unreachable(const std::string& why) const {
  return Error(Errc::kUnavailable, "coordinator unreachable: " + why + " (is flotilla-coordinator running?)");
}

std::optional<Error> ControlClient::keyRefused() {
  if (!monitor_) return std::nullopt;
  bool refused = false;
  // Each event is two frames: 16-bit id and 32-bit value, then the endpoint.
  for (zmq::message_t event; monitor_.recv(event, zmq::recv_flags::dontwait);) {
    std::uint16_t id = 0;
    if (event.size() >= sizeof id) std::memcpy(&id, event.data(), sizeof id);
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) refused = true;
    zmq::message_t address;
    if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::dontwait);
  }
  if (!refused) return std::nullopt;
  return Error(Errc::kPermission, "access denied: the coordinator at " + endpoint() + " refused operator key " +
                                      key_id_ + " (" + options_.key_file +
                                      "): its public key is not in the coordinator's control.operators");
}

Result<std::int64_t> ControlClient::send(json req, std::string_view attachment, common::Millis wait) {
  const std::int64_t id = next_req_++;
  req["req"] = id;
  req["operator"] = options_.operator_name;
  const std::string text = req.dump();
  try {
    // With ZMQ_IMMEDIATE the socket is writable only once a connection is up.
    const auto deadline = common::SteadyClock::now() + wait;
    while (true) {
      zmq::pollitem_t items[] = {{sock_.handle(), 0, ZMQ_POLLOUT, 0}, {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, monitor_ ? 2 : 1, remaining(deadline));
      if (items[0].revents & ZMQ_POLLOUT) break;
      if (auto refused = keyRefused()) return *refused;
      if (remaining(deadline).count() == 0)
        return unreachable("no connection to " + endpoint() + " within " + seconds(wait));
    }
    const bool more = !attachment.empty();
    if (!sock_.send(zmq::buffer(text),
                    more ? zmq::send_flags::sndmore | zmq::send_flags::dontwait : zmq::send_flags::dontwait))
      return unreachable("cannot send to " + endpoint());
    if (more && !sock_.send(zmq::buffer(attachment.data(), attachment.size()), zmq::send_flags::dontwait))
      return unreachable("cannot send to " + endpoint());
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) {
      interrupted_ = true;
      return Error(Errc::kUnavailable, "interrupted");
    }
    return unreachable(std::string("sending to ") + endpoint() + ": " + e.what());
  }
  return id;
}

Result<json> ControlClient::request(json req, std::string_view attachment) {
  // not_leader answers are followed until the timeout; silent coordinators
  // are left for the next, each at most once.
  const auto deadline = common::SteadyClock::now() + options_.timeout;
  std::size_t silent = 0;
  while (true) {
    const std::string asked = endpoint();
    auto reply = requestHere(req, attachment);
    if (!reply) {
      if (reply.error().code != Errc::kUnavailable || interrupted_ || ++silent >= endpoints_.size() || !moveOn())
        return reply.error();
      continue;
    }
    json& m = *reply;
    auto ok = m.find("ok");
    if (ok != m.end() && ok->is_boolean() && ok->get<bool>()) return std::move(m);
    auto err = m.get<protocol::control::ErrorReply>();  // lenient: missing fields read as ""
    if (err.code == protocol::control::kNotLeaderCode) {
      if (remaining(deadline).count() == 0)
        return unreachable("no coordinator leads: " + asked + " is a standby" +
                           (err.leader.empty() ? " and knows no leader" : " naming " + err.leader) + " (" +
                           err.message + ")");
      followLeader(err.leader);
      // Back where the answer came from, or no leader known: the lease may be
      // changing hands; ask again in a moment rather than at once.
      if (endpoint() == asked || err.leader.empty())
        std::this_thread::sleep_for(std::min(kLeaderPause, remaining(deadline)));
      continue;
    }
    if (err.message.empty())
      err.message = "the coordinator refused the request" + (err.code.empty() ? "" : " (" + err.code + ")");
    return Error(errcFromName(err.code), err.message);
  }
}

Result<json> ControlClient::requestHere(const json& req, std::string_view attachment) {
  const auto deadline = common::SteadyClock::now() + options_.timeout;
  // With somewhere else to go, a coordinator that does not take the
  // connection soon is left for the next.
  const auto wait = endpoints_.size() > 1 ? std::min(options_.timeout, kListConnectWait) : options_.timeout;
  interrupted_ = false;
  auto id = send(req, attachment, wait);
  if (!id) return id.error();
  while (true) {
    const auto left = remaining(deadline);
    if (left.count() == 0) break;
    auto msg = receiveFromSocket(std::min(left, kConnectionCheck));
    if (!msg) return msg.error();
    if (!msg->has_value()) {
      // A coordinator that went away is said at once, not after the whole timeout.
      if (!connected()) return unreachable("the connection to " + endpoint() + " closed before it answered");
      continue;
    }
    json& m = **msg;
    if (jsonString(m, "type") != protocol::control::kTypeResponse) {
      pending_.push_back(std::move(m));
      continue;
    }
    if (jsonInt(m, "req", -1) != *id) continue;  // a late reply to an earlier request
    return std::move(m);
  }
  return unreachable("no reply from " + endpoint() + " within " + seconds(options_.timeout));
}

void ControlClient::followLeader(const std::string& leader) {
  endpoints_.follow(leader);
  reopen();
}

bool ControlClient::moveOn() {
  if (endpoints_.size() < 2) return false;
  endpoints_.advance();
  reopen();
  return true;
}

void ControlClient::reopen() {
  try {
    open();
  } catch (const zmq::error_t&) {
    // A malformed endpoint named by a standby: the next request finds no
    // connection and moves on.
  }
}

bool ControlClient::connected() {
  try {
    return (sock_.get(zmq::sockopt::events) & ZMQ_POLLOUT) != 0;
  } catch (const zmq::error_t&) {
    return false;
  }
}

Result<std::optional<json>> ControlClient::receive(common::Millis timeout) {
  if (!pending_.empty()) {
    json m = std::move(pending_.front());
    pending_.pop_front();
    return std::optional<json>(std::move(m));
  }
  return receiveFromSocket(timeout);
}

Result<std::optional<json>> ControlClient::receiveFromSocket(common::Millis timeout) {
  const auto deadline = common::SteadyClock::now() + timeout;
  try {
    while (true) {
      zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, remaining(deadline));
      if (!(item.revents & ZMQ_POLLIN)) return std::optional<json>();
      zmq::message_t frame;
      if (!sock_.recv(frame, zmq::recv_flags::dontwait)) continue;
      // A reply is one frame; drain anything else that came with it.
      while (frame.more()) {
        zmq::message_t extra;
        if (!sock_.recv(extra, zmq::recv_flags::dontwait)) break;
        if (!extra.more()) break;
      }
      json doc = json::parse(frame.to_string_view(), nullptr, false);
      if (doc.is_object()) return std::optional<json>(std::move(doc));
      if (remaining(deadline).count() == 0) return std::optional<json>();
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return std::optional<json>();
    return unreachable(std::string("receiving from ") + endpoint() + ": " + e.what());
  }
}

}  // namespace flotilla::console
