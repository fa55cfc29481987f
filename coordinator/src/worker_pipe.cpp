#include "flotilla/coordinator/worker_pipe.h"

#include <spdlog/spdlog.h>

namespace flotilla::coordinator {

namespace {

// Messages the worker may have queued towards the reactor (both ends' high
// water marks add up on an inproc pipe): a few MiB of artifact chunks.
constexpr int kWorkerQueue = 8;
constexpr common::Millis kStopCheck{100};

bool sendAll(zmq::socket_t& socket, Frames& frames, zmq::send_flags last_flags) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const bool more = i + 1 < frames.size();
    // Once the first frame is in, the rest of the message always follows.
    auto flags = more ? zmq::send_flags::sndmore : zmq::send_flags::none;
    if (i == 0) flags = flags | last_flags;
    if (!socket.send(frames[i], flags)) return false;
  }
  return true;
}

std::optional<Frames> receiveAll(zmq::socket_t& socket) {
  Frames frames;
  zmq::message_t m;
  if (!socket.recv(m, zmq::recv_flags::dontwait)) return std::nullopt;
  bool more = m.more();
  frames.push_back(std::move(m));
  while (more) {
    zmq::message_t part;
    (void)socket.recv(part);  // the parts of a message arrive together
    more = part.more();
    frames.push_back(std::move(part));
  }
  return frames;
}

}  // namespace

zmq::message_t frameOf(std::string_view text) { return zmq::message_t(text.data(), text.size()); }
std::string textOf(const zmq::message_t& frame) { return std::string(frame.to_string_view()); }

WorkerPipe::WorkerPipe(zmq::context_t& ctx, const std::string& name, Body body)
    : reactor_(ctx, zmq::socket_type::pair) {
  const std::string address =
      "inproc://flotilla-" + name + "-" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
  reactor_.set(zmq::sockopt::linger, 0);
  reactor_.set(zmq::sockopt::sndhwm, 0);  // the reactor never blocks on its workers
  reactor_.set(zmq::sockopt::rcvhwm, kWorkerQueue);
  reactor_.bind(address);
  thread_ = std::thread([&ctx, address, name, body = std::move(body), this] {
    zmq::socket_t socket(ctx, zmq::socket_type::pair);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::sndhwm, kWorkerQueue);
    socket.set(zmq::sockopt::rcvhwm, 0);
    socket.connect(address);
    WorkerEnd end(socket, stopping_);
    try {
      body(end);
    } catch (const std::exception& e) {
      // A broken invariant in a worker: the daemon cannot go on without it.
      spdlog::critical("{} worker: {}", name, e.what());
      std::abort();
    }
  });
}

WorkerPipe::~WorkerPipe() {
  stopping_ = true;
  try {
    reactor_.send(zmq::message_t(), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
  if (thread_.joinable()) thread_.join();
}

void WorkerPipe::send(Frames frames) {
  try {
    (void)sendAll(reactor_, frames, zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::error("handing work to a worker failed: {}", e.what());
  }
}

std::optional<Frames> WorkerPipe::receive() {
  try {
    return receiveAll(reactor_);
  } catch (const zmq::error_t& e) {
    spdlog::error("reading a worker's answer failed: {}", e.what());
    return std::nullopt;
  }
}

std::optional<Frames> WorkerPipe::WorkerEnd::receive(std::optional<common::Millis> wait) {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, wait ? std::max(*wait, common::Millis(0)) : common::Millis(-1));
  auto frames = receiveAll(socket_);
  // The stop message is one empty frame; an empty list tells the body to return.
  if (frames && frames->size() == 1 && frames->front().size() == 0) return Frames{};
  return frames;
}

bool WorkerPipe::WorkerEnd::send(Frames frames) {
  while (!stopping_) {
    if (sendAll(socket_, frames, zmq::send_flags::dontwait)) return true;
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLOUT, 0};
    zmq::poll(&item, 1, kStopCheck);
  }
  return false;
}

}  // namespace flotilla::coordinator
