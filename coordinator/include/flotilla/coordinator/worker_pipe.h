#pragma once
// WorkerPipe: a worker thread and the inproc PAIR pipe that joins it to the
// reactor. The reactor end never blocks: what it sends queues without limit
// (callers bound it: credit-limited uploads, small requests), and it takes the
// worker's messages when its poll says they are there. The worker end blocks
// when the reactor falls behind (its queue is short, so a worker reading
// artifact chunks cannot fill memory), but gives up as soon as stop begins.
//
// A message is a vector of frames; zmq::message_t moves through the pipe
// without copying its bytes.
//
// Constructed, used (send, receive, socket) and destroyed on the reactor
// thread. The body runs on the worker thread with the worker's socket; it
// returns when receive() gives it the stop message (an empty frame list).

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "flotilla/common/clock.h"

namespace flotilla::coordinator {

using Frames = std::vector<zmq::message_t>;

zmq::message_t frameOf(std::string_view text);
std::string textOf(const zmq::message_t& frame);

class WorkerPipe {
 public:
  // The worker's end, for use on the worker thread only.
  class WorkerEnd {
   public:
    // The next message, or nullopt when `wait` passes without one. An empty
    // list means stop: the body returns.
    std::optional<Frames> receive(std::optional<common::Millis> wait);
    // Sends to the reactor; waits while its queue is full. False when stopping.
    bool send(Frames frames);

   private:
    friend class WorkerPipe;
    WorkerEnd(zmq::socket_t& socket, const std::atomic<bool>& stopping) : socket_(socket), stopping_(stopping) {}
    zmq::socket_t& socket_;
    const std::atomic<bool>& stopping_;
  };
  using Body = std::function<void(WorkerEnd&)>;

  // `name` makes the inproc address unique and names the thread in logs.
  WorkerPipe(zmq::context_t& ctx, const std::string& name, Body body);
  ~WorkerPipe();  // sends stop, joins the thread
  WorkerPipe(const WorkerPipe&) = delete;
  WorkerPipe& operator=(const WorkerPipe&) = delete;

  // Reactor thread.
  void send(Frames frames);
  std::optional<Frames> receive();  // nullopt when nothing is waiting
  zmq::socket_t& socket() { return reactor_; }

 private:
  zmq::socket_t reactor_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace flotilla::coordinator
