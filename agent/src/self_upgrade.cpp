#include "flotilla/agent/self_upgrade.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <future>
#include <memory>
#include <set>
#include <thread>

#include <cstdlib>
#include <cstring>
#include <zmq.hpp>

#include "flotilla/agent/agent.h"
#include "flotilla/agent/real_host_os.h"

namespace flotilla::agent {

namespace fs = std::filesystem;

fs::path selfBinary(const AgentConfig& config, const std::string& version) {
  return config.apps_dir / kSelfApp / "releases" / version / kSelfBinary;
}

namespace {

std::string joinEndpoints(const AgentConfig& config) {
  std::string out;
  for (const auto& e : config.coordinator_endpoints) out += (out.empty() ? "" : ", ") + e;
  return out;
}

}  // namespace

bool runningBinaryIs(const fs::path& binary) {
  std::error_code ec;
  return fs::equivalent("/proc/self/exe", binary, ec) && !ec;
}

Status selfTest(const AgentConfig& config, common::Millis timeout) {
  auto journal = Journal::open(config.state_dir);
  if (!journal) return journal.error().context("selftest: journal");
  try {
    zmq::context_t ctx(1);
    zmq::socket_t sock(ctx, zmq::socket_type::dealer);
    sock.set(zmq::sockopt::linger, 0);
    sock.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(config.coordinator_key.data(), 32));
    sock.set(zmq::sockopt::curve_publickey, zmq::const_buffer(config.curve_key.public_key.data(), 32));
    sock.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(config.curve_key.secret_key.data(), 32));
    if (zmq_socket_monitor(sock.handle(), "inproc://flotilla-selftest-monitor",
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
      return Error(Errc::kInternal, std::string("selftest: socket monitor: ") + zmq_strerror(zmq_errno()));
    zmq::socket_t monitor(ctx, zmq::socket_type::pair);
    monitor.connect("inproc://flotilla-selftest-monitor");
    // Every endpoint at once: the leader and its standbys all hold the
    // coordinator's key, so a handshake with any of them proves this binary
    // can reach the fleet's coordinator.
    for (const auto& endpoint : config.coordinator_endpoints) sock.connect(endpoint);
    const std::string endpoints = joinEndpoints(config);
    std::set<std::string> refused;  // endpoints that turned the handshake down
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t item{monitor.handle(), 0, ZMQ_POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      zmq::poll(&item, 1, std::max(left, std::chrono::milliseconds(1)));
      zmq::message_t event;
      if (!monitor.recv(event, zmq::recv_flags::dontwait)) continue;
      zmq::message_t address;
      if (event.more()) (void)monitor.recv(address, zmq::recv_flags::dontwait);
      if (event.size() < 2) continue;
      std::uint16_t id = 0;
      std::memcpy(&id, event.data(), sizeof id);
      if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) return {};
      refused.insert(address.to_string());
      if (refused.size() < config.coordinator_endpoints.size()) continue;
      return Error(Errc::kRefused, "selftest: the coordinator at " + endpoints +
                                       " refused the CURVE handshake (event " + std::to_string(id) + ")");
    }
    return Error(Errc::kTimeout, "selftest: no CURVE handshake with " + endpoints + " within " +
                                     std::to_string(timeout.count()) + " ms");
  } catch (const zmq::error_t& e) {
    return Error(Errc::kIo, std::string("selftest: ") + e.what());
  }
}

std::optional<fs::path> launchTarget(const AgentConfig& config, const JournalState& journal) {
  if (std::getenv(kLaunchedEnv) || std::getenv(kHandoverEnv)) return std::nullopt;
  if (journal.order && journal.order->app == kSelfApp) return std::nullopt;  // recovery decides first
  auto it = journal.apps.find(kSelfApp);
  if (it == journal.apps.end() || it->second.current.empty()) return std::nullopt;
  const fs::path binary = selfBinary(config, it->second.current);
  std::error_code ec;
  if (!fs::is_regular_file(binary, ec) || runningBinaryIs(binary)) return std::nullopt;
  return binary;
}

void watchHandover(const fs::path& state_dir, const std::string& order_id, common::Millis deadline, pid_t agent) {
  // The agent is held by a pidfd, not only its pid: once it exited, a
  // recycled pid must not get its SIGKILL. Kernels before 5.3 fall back to
  // the pid.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, agent, 0));
  auto gone = [&] {
    if (pidfd < 0) return ::kill(agent, 0) != 0 && errno == ESRCH;
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;  // readable once the process exited
  };
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (gone()) return;  // the new agent died: its restart recovers
    auto journal = Journal::open(state_dir);
    if (journal.ok() && (!journal->state().order || journal->state().order->order_id != order_id)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (pidfd >= 0)
    ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  else
    ::kill(agent, SIGKILL);
}

bool closeForHandover(std::unique_ptr<Agent> daemon, common::Millis limit) {
  auto done = std::make_shared<std::promise<void>>();
  auto ended = done->get_future();
  std::thread([daemon = std::move(daemon), done]() mutable {
    RealHostOs::pausePoint("handover:teardown");
    daemon.reset();
    done->set_value();
  }).detach();
  return ended.wait_for(limit) == std::future_status::ready;
}

Status startHandoverWatchdog(const fs::path& state_dir, const std::string& order_id, common::Millis trial_deadline) {
  const auto deadline = protocol::handoverDeadline(trial_deadline);
  const pid_t agent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) return Error(Errc::kIo, std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    // The child forks the watchdog and exits at once: the watchdog is nobody's
    // child to reap, and the agent waits only for this short-lived one.
    ::setsid();
    const pid_t watchdog = ::fork();
    if (watchdog == 0) {
      watchHandover(state_dir, order_id, deadline, agent);
      ::_exit(0);
    }
    ::_exit(watchdog < 0 ? 1 : 0);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Error(Errc::kIo, "the handover watchdog did not start");
  return {};
}

}  // namespace flotilla::agent
