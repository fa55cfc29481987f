// Trust boundaries at the agents' port (docs/security.md), with a real
// coordinator: raw ZeroMQ peers without CURVE, with the wrong server key,
// unknown, pending, revoked or rejected keys, and the enrolment of real agents
// by join token or by an operator.
#include <zmq.h>

#include <catch2/catch.hpp>

#include <regex>

#include "flotilla/common/crypto.h"
#include "flotilla/protocol/messages.h"
#include "support/cluster.h"
#include "support/raw_peer.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
namespace proto = flotilla::protocol;
namespace common = flotilla::common;

// ================================================================ 1. transport

TEST_CASE("an unknown CURVE key without a token is pending and gets no order", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  RawAgent raw(f);
  raw.hello("intruder", "", "web");
  auto m = raw.next();
  REQUIRE(m);
  auto* w = std::get_if<proto::Welcome>(&*m);
  REQUIRE(w);
  CHECK(w->status == proto::WelcomeStatus::kPending);
  CHECK(f.agentState("intruder") == "pending");

  auto id = f.rollOut("2");
  auto st = f.waitFinished(id, 60s);
  CHECK(st["state"] == "succeeded");
  auto hosts = f.rolloutHosts(id);
  CHECK(std::find(hosts.begin(), hosts.end(), "intruder") == hosts.end());
  // Its heartbeats are refused as pending, and the answer to one sent after
  // the rollout comes after anything else the peer was sent: no order, no chunk.
  REQUIRE(raw.socket().sendBlocking(proto::encode(proto::Heartbeat{})));
  std::vector<proto::CoordinatorMessage> before;
  auto reason = raw.refusal(5s, &before);
  REQUIRE(reason);
  CHECK(reason->code == proto::RefusalCode::kPending);
  for (const auto& m : before) {
    CHECK(!std::holds_alternative<proto::SignedOrder>(m));
    CHECK(!std::holds_alternative<proto::Chunk>(m));
  }
  CHECK(f.coordinatorUp());
}

TEST_CASE("a peer without CURVE gets no reply from the agents' port", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  RawSocket plain(ZMQ_DEALER);
  plain.watchHandshakes();
  REQUIRE(plain.connect(f.agentsEndpoint()));
  proto::Hello h;
  h.agent_id = "plain";
  h.join_token = f.joinToken();
  plain.send(proto::encode(h));
  // The handshake fails, so nothing the peer sends is ever read.
  CHECK(plain.handshakeFailure(10s));
  CHECK(!plain.recv(0ms));
  CHECK(f.coordinatorUp());
  CHECK(f.agentState("plain") == "");
  CHECK(f.agentState("h0") == "online");
}

TEST_CASE("a client with the wrong server key gets nothing", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  auto other = common::generateCurveKeyPair();
  RawSocket raw(ZMQ_DEALER);
  raw.curveClient(std::string(reinterpret_cast<const char*>(other.public_key.data()), 32),
                  common::generateCurveKeyPair());
  raw.watchHandshakes();
  REQUIRE(raw.connect(f.agentsEndpoint()));
  proto::Hello h;
  h.agent_id = "mitm";
  h.join_token = f.joinToken();
  raw.send(proto::encode(h));
  // The handshake fails, so nothing the client sends is ever read.
  CHECK(raw.handshakeFailure(10s));
  CHECK(!raw.recv(0ms));
  CHECK(f.coordinatorUp());
  CHECK(f.agentState("mitm") == "");
}

// ================================================================ 2. enrolment

TEST_CASE("accept moves a pending agent online and it then takes orders", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.initAgent({"h0"});
  setTomlLine(f.agentDir("h0") / "agent.toml", "token", "token = ''");
  f.startAgent("h0");
  REQUIRE(waitUntil([&] { return f.agentState("h0") == "pending"; }, 10s));
  auto r = f.console({"agents", "accept", "h0"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(f.waitOnline(1));
  f.baseline("1");
  CHECK(f.liveRelease("h0", "web") == "1");
}

TEST_CASE("reject refuses a pending agent for good", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.initAgent({"h0"});
  setTomlLine(f.agentDir("h0") / "agent.toml", "token", "token = ''");
  f.startAgent("h0");
  REQUIRE(waitUntil([&] { return f.agentState("h0") == "pending"; }, 10s));
  auto r = f.console({"agents", "reject", "h0"});
  REQUIRE(r.exit_code == 0);
  CHECK(waitUntil([&] { return f.agentState("h0") == "rejected"; }, 5s));
  // A restart of the rejected agent does not bring it back: its key is
  // turned down at the handshake, before any hello is read.
  f.stopAgent("h0");
  f.startAgent("h0");
  CHECK(coordinatorRefusesKey(f, agentCurveKey(f, "h0")));
  CHECK(f.agentState("h0") == "rejected");
  CHECK(f.agentRunning("h0"));
  CHECK(f.coordinatorUp());
}

TEST_CASE("a revoked agent is left out of later rollouts and keeps its release", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  f.startAgent("h1");
  REQUIRE(f.waitOnline(2));
  f.baseline("1");
  auto r = f.console({"agents", "revoke", "h1"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(waitUntil([&] { return f.agentState("h1") == "revoked"; }, 5s));
  auto id = f.rollOut("2");
  auto st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  CHECK(st["state"] == "succeeded");
  auto hosts = f.rolloutHosts(id);
  CHECK(std::find(hosts.begin(), hosts.end(), "h1") == hosts.end());
  CHECK(f.liveRelease("h0", "web") == "2");
  CHECK(f.liveRelease("h1", "web") == "1");
  CHECK(f.agentState("h1") == "revoked");
  CHECK(f.agentRunning("h1"));
}

TEST_CASE("a second process claiming an enrolled id with another key is refused", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  auto before = f.console({"agents"});
  std::string key_before = before.json["agents"][0].value("key", "");
  RawAgent impostor(f);
  impostor.hello("h0", f.joinToken(), "web");
  auto reason = impostor.refusal();
  REQUIRE(reason);
  CHECK(reason->code == proto::RefusalCode::kIdTaken);
  CHECK(f.agentState("h0") == "online");
  auto after = f.console({"agents"});
  CHECK(after.json["agents"][0].value("key", "") == key_before);
  f.baseline("1");
  CHECK(f.liveRelease("h0", "web") == "1");
}

TEST_CASE("a second agent process with the same id and a fresh key stays out", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  // Same id, its own key pair (a separate init).
  auto dir = f.dir() / "agents/h0-clone";
  auto r = runCommand({(binDir() / "agent/flotilla-agent").string(), "init", dir.string(), "--join",
                       (f.dir() / "coord/join.toml").string(), "--id", "h0", "--label", "role=web"});
  REQUIRE(r.exit_code == 0);
  Process clone({(binDir() / "agent/flotilla-agent").string(), "run", "--config", (dir / "agent.toml").string()},
                f.dir() / "agent-clone.log");
  // The clone is told no (and says so in its log).
  CHECK(waitUntil(
      [&] { return readFile(f.dir() / "agent-clone.log").find("is enrolled with another key") != std::string::npos; },
      10s));
  CHECK(f.agentState("h0") == "online");
  f.baseline("1");
  CHECK(f.liveRelease("h0", "web") == "1");
  std::error_code ec;
  CHECK(!fs::exists(dir / "apps/web/current", ec));
  clone.stop();
}

TEST_CASE("an expired join token leaves the agent pending", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  auto t = runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "token", "create", "--config",
                       (f.dir() / "coord/coordinator.toml").string(), "--ttl", "1s"});
  INFO(t.out << t.err);
  REQUIRE(t.exit_code == 0);
  std::smatch m;
  std::string out = t.out;
  REQUIRE(std::regex_search(out, m, std::regex("[0-9a-f]{64}")));
  // Raw peers present the token until the coordinator holds it expired.
  int probes = 0;
  REQUIRE(waitUntil(
      [&] {
        RawAgent probe(f);
        probe.hello("probe" + std::to_string(++probes), m[0].str());
        auto w = probe.next();
        return w && std::holds_alternative<proto::Welcome>(*w) &&
               std::get<proto::Welcome>(*w).status == proto::WelcomeStatus::kPending;
      },
      10s, 200ms));
  f.initAgent({"h0"});
  setTomlLine(f.agentDir("h0") / "agent.toml", "token", "token = '" + m[0].str() + "'");
  f.startAgent("h0");
  // The coordinator lists an agent once its hello is handled, token checked.
  REQUIRE(waitUntil([&] { return f.agentState("h0") != ""; }, 10s));
  CHECK(f.agentState("h0") == "pending");
  CHECK(f.agentRunning("h0"));
}

TEST_CASE("a join token with one use enrolls one agent only", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  auto t = runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "token", "create", "--config",
                       (f.dir() / "coord/coordinator.toml").string(), "--ttl", "1h", "--uses", "1"});
  REQUIRE(t.exit_code == 0);
  std::smatch m;
  std::string out = t.out;
  REQUIRE(std::regex_search(out, m, std::regex("[0-9a-f]{64}")));
  for (std::string id : {"h0", "h1"}) {
    f.initAgent({id});
    setTomlLine(f.agentDir(id) / "agent.toml", "token", "token = '" + m[0].str() + "'");
  }
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  f.startAgent("h1");
  REQUIRE(waitUntil([&] { return f.agentState("h1") == "pending"; }, 10s));
  CHECK(f.agentState("h0") == "online");
}

TEST_CASE("a revoked agent's key is refused at its next handshake", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  f.startAgent("h1");
  REQUIRE(f.waitOnline(2));
  REQUIRE(f.console({"agents", "revoke", "h1"}).exit_code == 0);
  f.stopAgent("h1");
  f.startAgent("h1");
  CHECK(coordinatorRefusesKey(f, agentCurveKey(f, "h1")));
  CHECK(f.agentState("h1") == "revoked");
  CHECK(f.agentRunning("h1"));
  f.baseline("1");
  CHECK(f.liveRelease("h0", "web") == "1");
  CHECK(f.liveRelease("h1", "web") == "");
}

TEST_CASE("a peer that never said hello is refused and asked to say hello", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  RawAgent raw(f);
  REQUIRE(raw.socket().sendBlocking(proto::encode(proto::Heartbeat{})));
  auto reason = raw.refusal();
  REQUIRE(reason);
  CHECK(reason->code == proto::RefusalCode::kNotEnrolled);
  proto::Report rep;
  rep.order_id = "web-1/h0";
  rep.phase = proto::Phase::kHealthy;
  REQUIRE(raw.socket().sendBlocking(proto::encode(rep)));
  CHECK(raw.refusal());
  CHECK(f.coordinatorUp());
  auto agents = f.console({"agents"});
  CHECK(agents.json["agents"].empty());
}

TEST_CASE("a pending peer cannot fetch artifacts", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  f.baseline("1");
  auto d = common::digestFile(f.dir() / "app-1.tar.gz");
  REQUIRE(d.ok());
  RawAgent raw(f);
  raw.hello("lurker", "");
  auto w = raw.next();
  REQUIRE(w);
  proto::Fetch fe;
  fe.digest = d->digest;
  fe.credit = 4;
  REQUIRE(raw.socket().sendBlocking(proto::encode(fe)));
  REQUIRE(raw.socket().sendBlocking(proto::encode(proto::Heartbeat{})));
  // Both are refused as pending, with no chunk before the second refusal.
  std::vector<proto::CoordinatorMessage> before;
  auto reason = raw.refusal(5s, &before);
  REQUIRE(reason);
  CHECK(reason->code == proto::RefusalCode::kPending);
  reason = raw.refusal(5s, &before);
  REQUIRE(reason);
  CHECK(reason->code == proto::RefusalCode::kPending);
  for (const auto& m : before) CHECK(!std::holds_alternative<proto::Chunk>(m));
  CHECK(f.agentState("lurker") == "pending");
}

TEST_CASE("a revoked raw peer's messages are refused and it gets no orders", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  RawAgent raw(f);
  raw.hello("raw0", f.joinToken(), "web");
  auto w = raw.next();
  REQUIRE(w);
  REQUIRE(std::holds_alternative<proto::Welcome>(*w));
  REQUIRE(f.console({"agents", "revoke", "raw0"}).exit_code == 0);
  REQUIRE(waitUntil([&] { return f.agentState("raw0") == "revoked"; }, 5s));
  raw.socket().send(proto::encode(proto::Heartbeat{}));
  f.baseline("1");
  while (auto m = raw.next(300ms)) {
    CHECK(!std::holds_alternative<proto::SignedOrder>(*m));
    CHECK(!std::holds_alternative<proto::Chunk>(*m));
  }
  CHECK(f.agentState("raw0") == "revoked");
  CHECK(f.coordinatorUp());
}

TEST_CASE("a rejected key gets no welcome on a new connection", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  auto key = common::generateCurveKeyPair();
  RawSocket first(ZMQ_DEALER);
  first.curveClient(keyBytes(readFile(f.dir() / "coord/keys/curve.pub"), 32), key);
  REQUIRE(first.connect(f.agentsEndpoint()));
  proto::Hello h;
  h.agent_id = "shady";
  REQUIRE(first.sendBlocking(proto::encode(h)));
  REQUIRE(first.recv(2s));
  REQUIRE(waitUntil([&] { return f.agentState("shady") == "pending"; }, 5s));
  REQUIRE(f.console({"agents", "reject", "shady"}).exit_code == 0);
  RawSocket second(ZMQ_DEALER);
  second.curveClient(keyBytes(readFile(f.dir() / "coord/keys/curve.pub"), 32), key);
  second.watchHandshakes();
  REQUIRE(second.connect(f.agentsEndpoint()));
  h.join_token = f.joinToken();
  second.send(proto::encode(h));
  // The new connection never gets past the handshake, so nothing it sent is read.
  CHECK(second.handshakeFailure(10s) == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  CHECK(!second.recv(std::chrono::milliseconds(0)));
  CHECK(f.agentState("shady") == "rejected");
  CHECK(f.coordinatorUp());
}
