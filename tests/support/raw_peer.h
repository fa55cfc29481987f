#pragma once
// Raw ZeroMQ peers for adversarial integration tests. RawSocket drives one
// socket through libzmq's C API: no exceptions, short timeouts, any bytes.
// RawAgent is a DEALER with its own CURVE key that talks to a Fleet's
// coordinator on the agents' port as an agent would (or would not).
//
// All raw sockets share one ZeroMQ context that lives as long as the test
// process. Each object is used from the thread that made it.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/protocol/messages.h"
#include "support/cluster.h"

namespace flotilla::testing {

// The bytes of a key written in hex (a key file's contents, trailing newline
// allowed); REQUIREs `n` bytes.
std::string keyBytes(const std::string& hex, std::size_t n);

class RawSocket {
 public:
  explicit RawSocket(int type);  // ZMQ_DEALER, ZMQ_ROUTER...; linger 0
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  void curveClient(const std::string& server_public_bytes, const common::CurveKeyPair& me);
  void curveServer(const std::string& secret_bytes);
  // Reports this socket's failed handshakes to handshakeFailure(); call
  // before connect().
  void watchHandshakes();
  bool connect(const std::string& endpoint);
  bool bind(const std::string& endpoint);

  // Sends without waiting (false when the socket cannot take it now).
  bool send(const std::string& data, bool more = false);
  // Sends, waiting up to 1 s for the connection (DEALERs queue only once connected).
  bool sendBlocking(const std::string& data, bool more = false);
  // All frames of the next message, or nothing within `timeout`.
  std::optional<std::vector<std::string>> recv(std::chrono::milliseconds timeout);
  // The libzmq event of the first failed handshake within `timeout`:
  // ZMQ_EVENT_HANDSHAKE_FAILED_AUTH when the peer turned this socket's CURVE
  // key down, _PROTOCOL or _NO_DETAIL when the two ends could not agree.
  // Needs watchHandshakes().
  std::optional<int> handshakeFailure(std::chrono::milliseconds timeout);

 private:
  void* socket_;
  void* monitor_ = nullptr;
};

// A DEALER with a fresh CURVE key of its own, connected to the fleet's agents
// port and trusting the coordinator's key.
class RawAgent {
 public:
  explicit RawAgent(Fleet& fleet);

  RawSocket& socket() { return socket_; }
  void hello(const std::string& id, const std::string& token, const std::string& role = "raw");
  // The next coordinator message, decoded.
  std::optional<protocol::CoordinatorMessage> next(std::chrono::milliseconds timeout = std::chrono::seconds(2));
  // Enrolls with the fleet's join token and REQUIREs an accepted welcome.
  void enroll(const std::string& id);
  // Waits for a Refusal and returns it; what came before it is
  // skipped, or kept in `before`.
  std::optional<protocol::Refusal> refusal(std::chrono::milliseconds timeout = std::chrono::seconds(2),
                                     std::vector<protocol::CoordinatorMessage>* before = nullptr);

 private:
  Fleet& fleet_;
  common::CurveKeyPair key_;
  RawSocket socket_;
};

// The CURVE key pair `flotilla-agent init` made for agent `id` of the fleet.
common::CurveKeyPair agentCurveKey(const Fleet& fleet, const std::string& id);

// Connects to the fleet's agents port with `key`: true once the coordinator
// turns the key down in the CURVE handshake (revoked or rejected), false when
// it has not within `timeout`.
bool coordinatorRefusesKey(Fleet& fleet, const common::CurveKeyPair& key,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace flotilla::testing
