#include "flotilla/coordinator/standby_responder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "flotilla/protocol/control.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::coordinator {

namespace {

std::string frameString(const zmq::message_t& m) { return std::string(static_cast<const char*>(m.data()), m.size()); }

// All parts of one multipart message; empty when none waits.
std::vector<zmq::message_t> receiveAll(zmq::socket_t& s) {
  std::vector<zmq::message_t> frames;
  while (true) {
    zmq::message_t m;
    if (!s.recv(m, zmq::recv_flags::dontwait)) break;
    const bool more = m.more();
    frames.push_back(std::move(m));
    if (!more) break;
  }
  return frames;
}

void sendTo(zmq::socket_t& s, const std::string& rid, const std::string& payload) {
  try {
    s.send(zmq::buffer(rid), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    s.send(zmq::buffer(payload), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::debug("standby: send failed: {}", e.what());
  }
}

}  // namespace

StandbyResponder::StandbyResponder(const CoordinatorConfig& config) : config_(config) {}

StandbyResponder::~StandbyResponder() {
  agents_.close();
  control_.close();
  ctx_.close();
}

Status StandbyResponder::bind() {
  try {
    agents_ = zmq::socket_t(ctx_, zmq::socket_type::router);
    agents_.set(zmq::sockopt::linger, 0);
    agents_.set(zmq::sockopt::maxmsgsize, protocol::kMaxAgentFrameBytes);
    agents_.set(zmq::sockopt::router_mandatory, 1);
    agents_.set(zmq::sockopt::curve_server, 1);
    agents_.set(zmq::sockopt::curve_secretkey,
                zmq::const_buffer(config_.curve_key.secret_key.data(), config_.curve_key.secret_key.size()));
    agents_.bind(config_.agent_listen);

    control_ = zmq::socket_t(ctx_, zmq::socket_type::router);
    control_.set(zmq::sockopt::linger, 0);
    control_.set(zmq::sockopt::maxmsgsize, std::int64_t{1} << 20);
    control_.set(zmq::sockopt::router_mandatory, 1);
    if (config_.control_endpoint.rfind("tcp://", 0) == 0) {
      control_.set(zmq::sockopt::curve_server, 1);
      control_.set(zmq::sockopt::curve_secretkey,
                   zmq::const_buffer(config_.curve_key.secret_key.data(), config_.curve_key.secret_key.size()));
    } else {
      ::unlink(config_.control_endpoint.substr(6).c_str());  // a stale socket from a previous run
    }
    control_.bind(config_.control_endpoint);
    if (config_.control_endpoint.rfind("ipc://", 0) == 0) ::chmod(config_.control_endpoint.substr(6).c_str(), 0660);
  } catch (const zmq::error_t& e) {
    return Error(Errc::kUnavailable, std::string("standby: binding sockets: ") + e.what());
  }
  return {};
}

bool StandbyResponder::serve(common::Millis wait, const LeaseView& leader, int stop_fd) {
  const auto end = std::chrono::steady_clock::now() + wait;
  while (true) {
    const auto left = std::chrono::duration_cast<common::Millis>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    zmq::pollitem_t items[] = {
        {agents_.handle(), 0, ZMQ_POLLIN, 0},
        {control_.handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, stop_fd, ZMQ_POLLIN, 0},
    };
    try {
      zmq::poll(items, std::size(items), left);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("standby: poll: {}", e.what());
      return false;
    }
    if (items[2].revents) return true;
    if (items[0].revents & ZMQ_POLLIN)
      while (agents_.get(zmq::sockopt::events) & ZMQ_POLLIN) answerAgent(leader);
    if (items[1].revents & ZMQ_POLLIN)
      while (control_.get(zmq::sockopt::events) & ZMQ_POLLIN) answerControl(leader);
  }
}

void StandbyResponder::answerAgent(const LeaseView& leader) {
  auto frames = receiveAll(agents_);
  if (frames.size() < 2) return;
  ++agent_answers_;
  sendTo(agents_, frameString(frames[0]),
         protocol::encode(protocol::Refusal{protocol::RefusalCode::kNotLeader,
                                            leader.expired ? std::string() : leader.holder.agents_endpoint}));
}

void StandbyResponder::answerControl(const LeaseView& leader) {
  auto frames = receiveAll(control_);
  if (frames.size() < 2) return;
  ++control_answers_;
  const nlohmann::json req = nlohmann::json::parse(frameString(frames[1]), nullptr, false);
  const bool known = !leader.expired && !leader.holder.id.empty();
  protocol::control::ErrorReply reply{
      protocol::control::kNotLeaderCode,
      known ? "this coordinator is a standby; the leader is " + leader.holder.id + " at " +
                  leader.holder.control_endpoint + " (epoch " + std::to_string(leader.epoch) + ")"
            : "this coordinator is a standby and no coordinator leads right now; try again shortly",
      known ? leader.holder.control_endpoint : std::string()};
  nlohmann::json resp = reply;
  if (req.is_object() && req.contains("req")) resp["req"] = req["req"];
  resp["type"] = protocol::control::kTypeResponse;
  sendTo(control_, frameString(frames[0]), resp.dump());
}

}  // namespace flotilla::coordinator
