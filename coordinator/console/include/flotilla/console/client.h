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
// The client owns the process's ZeroMQ context and its socket; use it from one
// thread. Transport exceptions stay inside: every failure is a Result.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"

namespace flotilla::console {

using nlohmann::json;

struct ClientOptions {
  std::string endpoint;                              // ipc://PATH (or any ZeroMQ endpoint)
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
  // in time is kUnavailable "coordinator unreachable: ...".
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

 private:
  explicit ControlClient(ClientOptions options);
  Result<std::optional<json>> receiveFromSocket(common::Millis timeout);
  Error unreachable(const std::string& why) const;
  // The error for a handshake the coordinator refused, if the socket monitor
  // reported one (tcp:// only; reads the monitor without waiting).
  std::optional<Error> keyRefused();

  ClientOptions options_;
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  zmq::socket_t monitor_;  // tcp:// only: sock_'s failed handshakes
  std::string key_id_;     // tcp:// only: the operator key's id, for messages
  std::int64_t next_req_ = 1;
  std::deque<json> pending_;  // messages received while waiting for a response
};

}  // namespace flotilla::console
