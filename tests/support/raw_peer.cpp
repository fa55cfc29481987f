#include "support/raw_peer.h"

#include <zmq.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>

#include "support/text_file.h"

namespace flotilla::testing {

namespace {

void* context() {
  static void* ctx = zmq_ctx_new();  // lives as long as the test process
  return ctx;
}

}  // namespace

std::string keyBytes(const std::string& hex, std::size_t n) {
  auto r = common::fromHex(trimmed(hex), n);
  REQUIRE(r.ok());
  return *r;
}

RawSocket::RawSocket(int type) : socket_(zmq_socket(context(), type)) {
  int zero = 0;
  zmq_setsockopt(socket_, ZMQ_LINGER, &zero, sizeof zero);
}

RawSocket::~RawSocket() {
  if (monitor_) zmq_close(monitor_);
  zmq_close(socket_);
}

void RawSocket::curveClient(const std::string& server_public_bytes, const common::CurveKeyPair& me) {
  zmq_setsockopt(socket_, ZMQ_CURVE_SERVERKEY, server_public_bytes.data(), 32);
  zmq_setsockopt(socket_, ZMQ_CURVE_PUBLICKEY, me.public_key.data(), 32);
  zmq_setsockopt(socket_, ZMQ_CURVE_SECRETKEY, me.secret_key.data(), 32);
}

void RawSocket::curveServer(const std::string& secret_bytes) {
  int one = 1;
  zmq_setsockopt(socket_, ZMQ_CURVE_SERVER, &one, sizeof one);
  zmq_setsockopt(socket_, ZMQ_CURVE_SECRETKEY, secret_bytes.data(), 32);
}

void RawSocket::watchHandshakes() {
  static std::atomic<int> serial{0};
  const std::string endpoint = "inproc://raw-socket-monitor-" + std::to_string(++serial);
  const int failures =
      ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
  REQUIRE(zmq_socket_monitor(socket_, endpoint.c_str(), failures) == 0);
  monitor_ = zmq_socket(context(), ZMQ_PAIR);
  int zero = 0;
  zmq_setsockopt(monitor_, ZMQ_LINGER, &zero, sizeof zero);
  REQUIRE(zmq_connect(monitor_, endpoint.c_str()) == 0);
}

bool RawSocket::connect(const std::string& endpoint) { return zmq_connect(socket_, endpoint.c_str()) == 0; }

bool RawSocket::bind(const std::string& endpoint) { return zmq_bind(socket_, endpoint.c_str()) == 0; }

bool RawSocket::send(const std::string& data, bool more) {
  return zmq_send(socket_, data.data(), data.size(), (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) >= 0;
}

bool RawSocket::sendBlocking(const std::string& data, bool more) {
  int t = 1000;
  zmq_setsockopt(socket_, ZMQ_SNDTIMEO, &t, sizeof t);
  return zmq_send(socket_, data.data(), data.size(), more ? ZMQ_SNDMORE : 0) >= 0;
}

std::optional<std::vector<std::string>> RawSocket::recv(std::chrono::milliseconds timeout) {
  zmq_pollitem_t item{socket_, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, static_cast<long>(timeout.count())) <= 0) return std::nullopt;
  std::vector<std::string> frames;
  while (true) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, socket_, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      return frames.empty() ? std::nullopt : std::optional(frames);
    }
    frames.emplace_back(static_cast<const char*>(zmq_msg_data(&m)), zmq_msg_size(&m));
    const bool more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    if (!more) return frames;
  }
}

std::optional<int> RawSocket::handshakeFailure(std::chrono::milliseconds timeout) {
  REQUIRE(monitor_);
  zmq_pollitem_t item{monitor_, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, static_cast<long>(timeout.count())) <= 0) return std::nullopt;
  // Two frames: a 16-bit event id and a 32-bit value, then the endpoint.
  std::optional<int> event;
  zmq_msg_t m;
  zmq_msg_init(&m);
  if (zmq_msg_recv(&m, monitor_, ZMQ_DONTWAIT) >= 2) {
    std::uint16_t id = 0;
    std::memcpy(&id, zmq_msg_data(&m), sizeof id);
    event = id;
  }
  const bool more = zmq_msg_more(&m);
  zmq_msg_close(&m);
  if (more) {
    zmq_msg_init(&m);
    zmq_msg_recv(&m, monitor_, ZMQ_DONTWAIT);
    zmq_msg_close(&m);
  }
  return event;
}

RawAgent::RawAgent(Fleet& fleet) : fleet_(fleet), key_(common::generateCurveKeyPair()), socket_(ZMQ_DEALER) {
  socket_.curveClient(keyBytes(readFile(fleet.dir() / "coord/keys/curve.pub"), 32), key_);
  REQUIRE(socket_.connect(fleet.agentsEndpoint()));
}

void RawAgent::hello(const std::string& id, const std::string& token, const std::string& role) {
  protocol::Hello h;
  h.agent_id = id;
  h.labels = {{"role", role}};
  h.join_token = token;
  h.agent_version = "raw";
  REQUIRE(socket_.sendBlocking(protocol::encode(h)));
}

std::optional<protocol::CoordinatorMessage> RawAgent::next(std::chrono::milliseconds timeout) {
  auto frames = socket_.recv(timeout);
  if (!frames || frames->size() != 1) return std::nullopt;
  auto m = protocol::decodeCoordinatorMessage((*frames)[0]);
  if (!m) return std::nullopt;
  return *m;
}

void RawAgent::enroll(const std::string& id) {
  hello(id, fleet_.joinToken());
  auto m = next();
  REQUIRE(m);
  auto* w = std::get_if<protocol::Welcome>(&*m);
  REQUIRE(w);
  REQUIRE(w->status == protocol::WelcomeStatus::kAccepted);
}

std::optional<protocol::Refusal> RawAgent::refusal(std::chrono::milliseconds timeout,
                                             std::vector<protocol::CoordinatorMessage>* before) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (!m) return std::nullopt;
    if (auto* r = std::get_if<protocol::Refusal>(&*m)) return *r;
    if (before) before->push_back(std::move(*m));
  }
  return std::nullopt;
}

common::CurveKeyPair agentCurveKey(const Fleet& fleet, const std::string& id) {
  common::CurveKeyPair key;
  const auto secret = keyBytes(readFile(fleet.agentDir(id) / "keys/agent.key"), 32);
  const auto pub = keyBytes(readFile(fleet.agentDir(id) / "keys/agent.pub"), 32);
  std::memcpy(key.secret_key.data(), secret.data(), 32);
  std::memcpy(key.public_key.data(), pub.data(), 32);
  return key;
}

bool coordinatorRefusesKey(Fleet& fleet, const common::CurveKeyPair& key, std::chrono::milliseconds timeout) {
  RawSocket probe(ZMQ_DEALER);
  probe.curveClient(keyBytes(readFile(fleet.dir() / "coord/keys/curve.pub"), 32), key);
  probe.watchHandshakes();
  REQUIRE(probe.connect(fleet.agentsEndpoint()));
  return probe.handshakeFailure(timeout) == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
}

}  // namespace flotilla::testing
