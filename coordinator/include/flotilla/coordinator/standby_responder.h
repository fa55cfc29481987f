#pragma once
// What a standby coordinator (docs/ha.md) does with its sockets while another
// leads: it binds the same endpoints a leader would, so agents and consoles
// pointed at it get an answer rather than silence, and answers everything:
//   - every agent message with the refusal not_leader whose detail is the
//     leader's advertised agents endpoint ("" when unknown);
//   - every console request with the control error not_leader naming the
//     leader, its `leader` field the leader's control endpoint.
// Following that answer is the clients' part (agents and console, built apart).
//
// The agents' socket is a CURVE server with the coordinator's key but no ZAP
// handler, so any CURVE client may connect and read the refusal: it holds
// nothing but an endpoint the leader's own agents are told anyway. Nothing
// here reads or writes the store.
//
// Owned by one thread (coordinator_run.cpp's); its own ZeroMQ context, closed
// with it, so the sockets are free for the Server when this standby leads.

#include <string>

#include <zmq.hpp>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/config.h"
#include "flotilla/coordinator/leadership_lease.h"

namespace flotilla::coordinator {

class StandbyResponder {
 public:
  explicit StandbyResponder(const CoordinatorConfig& config);
  ~StandbyResponder();

  Status bind();
  // Answers what arrives, naming `leader`, for up to `wait`; returns early
  // (true) when `stop_fd` (a signalfd or eventfd) becomes readable.
  bool serve(common::Millis wait, const LeaseView& leader, int stop_fd);
  std::uint64_t agentAnswers() const { return agent_answers_; }
  std::uint64_t controlAnswers() const { return control_answers_; }

 private:
  void answerAgent(const LeaseView& leader);
  void answerControl(const LeaseView& leader);

  const CoordinatorConfig& config_;
  zmq::context_t ctx_{1};
  zmq::socket_t agents_;
  zmq::socket_t control_;
  std::uint64_t agent_answers_ = 0;
  std::uint64_t control_answers_ = 0;
};

}  // namespace flotilla::coordinator
