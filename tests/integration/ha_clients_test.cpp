// Agents and consoles with several coordinator endpoints (docs/ha.md "Agents
// and consoles"): a real agent whose list starts with a dead endpoint comes
// online at the live one; a fake standby (a ROUTER with the coordinator's own
// CURVE key answering every message not_leader) sends agents and consoles on
// to the real coordinator; a watch goes on across a coordinator restart.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include <zmq.h>
#include <nlohmann/json.hpp>

#include "flotilla/protocol/messages.h"
#include "support/cluster.h"
#include "support/raw_peer.h"

using namespace flotilla;
using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string readText(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Points agents initialised from now on at `endpoints` (join.toml's `coordinator` as a list).
void setAgentEndpoints(Fleet& f, const std::vector<std::string>& endpoints) {
  const auto join = f.dir() / "coord/join.toml";
  std::istringstream in(readText(join));
  std::string list;
  for (const auto& e : endpoints) list += (list.empty() ? "\"" : ", \"") + e + "\"";
  std::string text;
  for (std::string line; std::getline(in, line);)
    text += (line.rfind("coordinator = ", 0) == 0 ? "coordinator = [" + list + "]" : line) + "\n";
  std::ofstream(join) << text;  // truncating keeps the file's owner-only mode
}

// A standby coordinator as the lease contract has it: bound at `endpoint`, on
// a thread of its own, answering every message with `answer(request frames)`.
// ipc:// endpoints serve consoles (no CURVE); tcp:// ones serve agents with
// the fleet coordinator's CURVE key.
class FakeStandby {
 public:
  using Answer = std::function<std::string(const std::string& frame)>;
  FakeStandby(Fleet& f, std::string endpoint, Answer answer) {
    const bool tcp = endpoint.rfind("tcp://", 0) == 0;
    const std::string secret = tcp ? keyBytes(readText(f.dir() / "coord/keys/curve.key"), 32) : "";
    thread_ = std::thread([this, endpoint, secret, answer] {
      RawSocket router(ZMQ_ROUTER);
      if (!secret.empty()) router.curveServer(secret);
      bound_ = router.bind(endpoint);
      ready_ = true;
      while (!done_) {
        auto frames = router.recv(100ms);
        if (!frames || frames->size() < 2) continue;
        ++asked_;
        router.send((*frames)[0], true);
        router.send(answer(frames->back()));
      }
    });
    REQUIRE(waitUntil([&] { return ready_.load(); }, 5s));
    REQUIRE(bound_);
  }
  ~FakeStandby() {
    done_ = true;
    thread_.join();
  }
  int asked() const { return asked_; }

 private:
  std::atomic<bool> ready_{false}, bound_{false}, done_{false};
  std::atomic<int> asked_{0};
  std::thread thread_;
};

// The agent protocol's answer of a standby: not_leader naming `leader`.
std::string notLeaderRefusal(const std::string& leader) {
  protocol::Refusal r;
  r.code = protocol::RefusalCode::kNotLeader;
  r.detail = leader;
  return protocol::encode(r);
}

// The control protocol's answer of a standby to the request in `frame`.
std::string notLeaderReply(const std::string& frame, const std::string& leader) {
  json req = json::parse(frame, nullptr, false);
  json reply = {{"type", "response"},
                {"req", req.is_object() ? req.value("req", 0) : 0},
                {"ok", false},
                {"error", {{"code", "not_leader"}, {"message", "this coordinator is a standby"}, {"leader", leader}}}};
  return reply.dump();
}

double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("an agent whose first endpoint is dead comes online at the next one", "[integration][ha]") {
  Fleet f;
  f.startCoordinator();
  const std::string dead = "tcp://127.0.0.1:" + std::to_string(freeTcpPort());
  setAgentEndpoints(f, {dead, f.agentsEndpoint()});
  const auto started = std::chrono::steady_clock::now();
  f.startAgent("h1");
  REQUIRE(f.waitOnline(1, 30s));
  WARN("online through the second endpoint after " << secondsSince(started) << " s");
}

TEST_CASE("an agent whose leader is killed comes online at the next coordinator of its list", "[integration][ha]") {
  // The standby here is a copy of the leader's directory (same keys, same
  // record) on another port, started when the leader dies: what the lease
  // makes of a standby, minus the lease.
  Fleet f;
  f.startCoordinator();
  const int port_b = freeTcpPort();
  const std::string b = "tcp://127.0.0.1:" + std::to_string(port_b);
  setAgentEndpoints(f, {f.agentsEndpoint(), b});
  f.startAgent("h1");
  REQUIRE(f.waitOnline(1));

  f.stopCoordinator(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  const auto dir_b = f.dir() / "coord-b";
  std::filesystem::create_directories(dir_b);
  // Files and directories only: the dead leader's control socket stays behind.
  for (const auto& e : std::filesystem::recursive_directory_iterator(f.dir() / "coord")) {
    const auto to = dir_b / std::filesystem::relative(e.path(), f.dir() / "coord");
    if (e.is_directory())
      std::filesystem::create_directories(to);
    else if (e.is_regular_file())
      std::filesystem::copy_file(e.path(), to);
  }
  std::string cfg = readText(dir_b / "coordinator.toml");
  const auto replaceLine = [&cfg](const std::string& prefix, const std::string& line) {
    const auto at = cfg.find("\n" + prefix);
    REQUIRE(at != std::string::npos);
    cfg.replace(at + 1, cfg.find('\n', at + 1) - at - 1, line);
  };
  replaceLine("listen = ", "listen = \"tcp://127.0.0.1:" + std::to_string(port_b) + "\"");
  const std::string control_b = "ipc://" + (dir_b / "control.sock").string();
  replaceLine("endpoint = ", "endpoint = \"" + control_b + "\"");
  std::ofstream(dir_b / "coordinator.toml") << cfg;
  Process coordinator_b({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config",
                         (dir_b / "coordinator.toml").string()},
                        f.dir() / "coordinator-b.log");
  const auto console = (binDir() / "coordinator/flotilla").string();
  const bool online = waitUntil(
      [&] {
        auto r = runCommand({console, "--control", control_b, "--json", "agents"});
        return r.exit_code == 0 && r.json["agents"].size() == 1 && r.json["agents"][0]["state"] == "online";
      },
      30s, 100ms);
  INFO(readText(f.dir() / "coordinator-b.log"));
  REQUIRE(online);
  WARN("online at the second coordinator " << secondsSince(killed) << " s after the first was killed");
  coordinator_b.stop();
}

TEST_CASE("selftest passes on a handshake with any endpoint of the list", "[integration][ha]") {
  Fleet f;
  f.startCoordinator();
  const std::string dead = "tcp://127.0.0.1:" + std::to_string(freeTcpPort());
  setAgentEndpoints(f, {dead, f.agentsEndpoint()});
  f.initAgent("h1");
  const std::string agent = (binDir() / "agent/flotilla-agent").string();
  const std::string config = (f.agentDir("h1") / "agent.toml").string();
  auto ok = runCommand({agent, "selftest", "--config", config, "--timeout", "10"});
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);

  f.stopCoordinator();
  auto none = runCommand({agent, "selftest", "--config", config, "--timeout", "1"});
  INFO(none.out << none.err);
  CHECK(none.exit_code != 0);
  CHECK_THAT(none.err + none.out, Catch::Contains(dead) && Catch::Contains(f.agentsEndpoint()));
}

TEST_CASE("a standby's not_leader sends the agent to the leader it names", "[integration][ha]") {
  Fleet f;
  f.startCoordinator();
  const std::string standby = "tcp://127.0.0.1:" + std::to_string(freeTcpPort());
  const std::string leader = f.agentsEndpoint();
  FakeStandby fake(f, standby, [&](const std::string&) { return notLeaderRefusal(leader); });
  // Only the standby is listed: the agent reaches the leader by following it.
  setAgentEndpoints(f, {standby});
  const auto started = std::chrono::steady_clock::now();
  f.startAgent("h1");
  REQUIRE(f.waitOnline(1, 30s));
  CHECK(fake.asked() >= 1);
  WARN("online at the named leader " << secondsSince(started) << " s after starting at the standby");

  // The leader goes away and comes back: the agent, at the followed leader, returns.
  f.stopCoordinator();
  REQUIRE(waitUntil([&] { return !f.coordinatorUp(); }, 10s));
  const auto restarted = std::chrono::steady_clock::now();
  f.startCoordinator();
  REQUIRE(f.waitOnline(1, 30s));
  WARN("online again " << secondsSince(restarted) << " s after the leader restarted");
}

TEST_CASE("the console follows a standby's not_leader to the leader", "[integration][ha][console]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h1");
  REQUIRE(f.waitOnline(1));
  const std::string standby = "ipc://" + (f.dir() / "standby.sock").string();
  const std::string leader = f.controlEndpoint();
  FakeStandby fake(f, standby, [&](const std::string& frame) { return notLeaderReply(frame, leader); });
  const auto console = (binDir() / "coordinator/flotilla").string();

  auto r = runCommand({console, "--control", standby, "--json", "agents"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.json["agents"].size() == 1);
  CHECK(fake.asked() == 1);

  // A dead endpoint first, the standby second: both passed, the leader answers.
  const std::string dead = "ipc://" + (f.dir() / "gone.sock").string();
  r = runCommand({console, "--control", dead + "," + standby, "--json", "agents"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fake.asked() == 2);
}

TEST_CASE("the console moves on from a coordinator that does not answer", "[integration][ha][console]") {
  Fleet f;
  f.startCoordinator();
  // A ROUTER that takes the request and never answers.
  const std::string silent = "ipc://" + (f.dir() / "silent.sock").string();
  std::atomic<bool> done{false};
  std::atomic<bool> bound{false};
  std::thread mute([&] {
    RawSocket router(ZMQ_ROUTER);
    bound = router.bind(silent);
    while (!done) (void)router.recv(100ms);
  });
  REQUIRE(waitUntil([&] { return bound.load(); }, 5s));
  auto r = runCommand({(binDir() / "coordinator/flotilla").string(), "--control", silent + "," + f.controlEndpoint(),
                       "--timeout", "5", "--json", "agents"});
  done = true;
  mute.join();
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("watch goes on across a coordinator restart", "[integration][ha][console][watch]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h1");
  REQUIRE(f.waitOnline(1));
  f.baseline("1");
  auto plan = f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [\"100%\"]\nbake = \"8s\"");
  const std::string id = f.submit(plan);
  const auto log = f.dir() / "watch.log";
  Process watch({(binDir() / "coordinator/flotilla").string(), "--control", f.controlEndpoint(), "watch", id}, log);
  REQUIRE(waitUntil([&] { return readText(log).find("wave 0") != std::string::npos; }, 20s));

  f.stopCoordinator();
  REQUIRE(watch.running());
  f.startCoordinator();
  REQUIRE(waitUntil([&] { return !watch.running(); }, 90s));
  const int status = watch.stop();
  INFO(readText(log));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(readText(log), Catch::Contains("succeeded"));
}
