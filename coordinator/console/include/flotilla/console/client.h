#pragma once
// ControlClient: the console's end of the control protocol (coordinator/src/control.cpp).
//
// One DEALER socket to the coordinator's control ROUTER. A request is one JSON
// frame {"req": N, "cmd": ..., "operator": "user@host", ...}, optionally
// followed by one frame of bytes (an upload chunk, see upload.h). The coordinator
// answers {"type": "response", "req": N, "ok": true, ...} or
// {"type": "response", "req": N, "ok": false, "error": {"code", "message"}},
// and pushes {"type": "event" | "status" | "end", ...} to a connection that
// asked to `watch` a rollout.
//
// With several endpoints (a leader and its standbys, docs/ha.md "Agents and
// consoles") the socket dials one at a time: a request answered not_leader is
// sent again to the leader the answer names (or the next endpoint), and one
// that gets no answer is sent again to the next endpoint, so a request made
// during a failover finds the new leader by itself.
//
// The client owns the process's ZeroMQ context and its socket; use it from one
// thread. Transport exceptions stay inside: every failure is a Result.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/endpoint_list.h"

namespace flotilla::console {

using nlohmann::json;

struct ClientOptions {
  // ipc://PATH or tcp://HOST:PORT, or a comma-separated list of them (the same
  // coordinator key for all), tried in order.
  std::string endpoint;
  common::Millis timeout{std::chrono::seconds(10)};  // how long a request waits for its reply
  std::string operator_name;                         // recorded by the coordinator with every action
  // For a tcp:// endpoint: the operator's CURVE key file (flotilla keygen --operator)
  // and the coordinator's CURVE public key (hex, keys/curve.pub).
  std::string key_file;
  std::string coordinator_key;
};

// "$USER@hostname" ($USER, else the passwd name of the real uid, else the uid).
std::string defaultOperatorName();

class ControlClient {
 public:
  // Checks the endpoint and connects. For ipc:// the socket file must exist
  // (kUnavailable: "coordinator unreachable: no control socket at PATH ...")
  // and be writable by this user (kPermission). A malformed endpoint is
  // kInvalidArgument. Connecting does not wait for the coordinator.
  static Result<std::unique_ptr<ControlClient>> connect(ClientOptions options);

  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  ~ControlClient();

  // Sends `req` (a JSON object; "req" and "operator" are filled in) and waits
  // up to the timeout for the matching response. Pushed messages that arrive
  // meanwhile are kept for receive(). An ok reply is returned whole; a refused
  // request becomes an Error with the coordinator's code and message; no reply
  // in time is kUnavailable "coordinator unreachable: ...". A not_leader
  // answer is followed (for up to the timeout), and with several endpoints no
  // answer moves to the next one (each tried at most once per request); only
  // then is the request an error. A request without an answer may have been
  // done all the same; sent again, its second answer reflects that (a pause
  // of a paused rollout is a conflict).
  Result<json> request(json req, std::string_view attachment = {});

  // Sends without waiting for the reply; returns the request id. Waits at most
  // `wait` for the connection to accept the message (kUnavailable otherwise;
  // kPermission "access denied: ... refused operator key ..." as soon as a
  // tcp:// coordinator turns the operator key down in the CURVE handshake).
  Result<std::int64_t> send(json req, std::string_view attachment, common::Millis wait);

  // The next message from the coordinator (a push, or a response to a request
  // made with send()), or nullopt when none arrived within `timeout` or a
  // signal interrupted the wait. Frames that are not JSON objects are dropped.
  Result<std::optional<json>> receive(common::Millis timeout);

  // Whether a connection to the coordinator is up (the socket takes messages
  // only then): false soon after a coordinator that was there goes away.
  bool connected();

  const ClientOptions& options() const { return options_; }
  // The endpoint the socket dials now.
  const std::string& endpoint() const { return endpoints_.current(); }
  std::size_t endpointCount() const { return endpoints_.size(); }
  // A not_leader answer named `leader` ("" = unknown): dial it (or the next
  // endpoint; protocol/endpoint_list.h says which names are followed).
  void followLeader(const std::string& leader);
  // Dials the next endpoint of the list; false (and nothing changes) with one endpoint.
  bool moveOn();

 private:
  ControlClient(ClientOptions options, std::vector<std::string> endpoints);
  Result<json> requestHere(const json& req, std::string_view attachment);
  // A new socket (and, for tcp://, its monitor) dialling endpoint(); throws zmq::error_t.
  void open();
  // open(), errors left for the next request to find.
  void reopen();
  Result<std::optional<json>> receiveFromSocket(common::Millis timeout);
  Error unreachable(const std::string& why) const;
  // The error for a handshake the coordinator refused, if the socket monitor
  // reported one (tcp:// only; reads the monitor without waiting).
  std::optional<Error> keyRefused();

  ClientOptions options_;
  protocol::EndpointList endpoints_;
  bool interrupted_ = false;  // the last send was interrupted by a signal
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  zmq::socket_t monitor_;  // tcp:// only: sock_'s failed handshakes
  // tcp:// only: the CURVE keys every socket is made with.
  struct Curve {
    common::PublicKey server{};
    std::array<std::uint8_t, 32> pub{}, secret{};
  };
  std::optional<Curve> curve_;
  int sockets_ = 0;     // sockets made, to name each one's monitor
  std::string key_id_;  // tcp:// only: the operator key's id, for messages
  std::int64_t next_req_ = 1;
  std::deque<json> pending_;  // messages received while waiting for a response
};

}  // namespace flotilla::console
