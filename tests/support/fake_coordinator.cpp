#include "support/fake_coordinator.h"

#include <zmq.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <ctime>

#include "support/text_file.h"

namespace flotilla::testing {

using namespace std::chrono_literals;

std::int64_t nowSeconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

common::SigningKeyPair fleetPlanKey(const Fleet& fleet) {
  common::SigningKeyPair k;
  auto secret = keyBytes(readFile(fleet.dir() / "coord/keys/plan.key"), 64);
  std::memcpy(k.secret_key.data(), secret.data(), 64);
  std::memcpy(k.public_key.data(), secret.data() + 32, 32);
  return k;
}

protocol::OrderSpec goodSpec() {
  protocol::OrderSpec spec;
  spec.deploy.restart = {"./bin/restart"};
  spec.health.interval = 100ms;
  spec.health.healthy_for = 300ms;
  spec.health.deadline = 3s;
  protocol::HealthCheck c;
  c.kind = protocol::HealthCheck::Kind::kExec;
  c.argv = {"test", "-f", "HEALTHY"};
  spec.health.checks.push_back(c);
  return spec;
}

FakeCoordinator::FakeCoordinator(Fleet& fleet) : plan_key_(fleetPlanKey(fleet)), router_(ZMQ_ROUTER) {
  router_.curveServer(keyBytes(readFile(fleet.dir() / "coord/keys/curve.key"), 32));
  REQUIRE(router_.bind(fleet.agentsEndpoint()));
}

void FakeCoordinator::addArtifact(const std::filesystem::path& file) {
  auto d = common::digestFile(file);
  REQUIRE(d.ok());
  artifacts_[d->digest] = readFile(file);
  last_digest_ = d->digest;
  last_size_ = d->size;
}

void FakeCoordinator::serveAs(const std::string& digest, const std::string& bytes) { artifacts_[digest] = bytes; }

void FakeCoordinator::pump(std::chrono::milliseconds timeout) {
  auto frames = router_.recv(timeout);
  if (!frames || frames->size() != 2) return;
  const std::string& rid = (*frames)[0];
  auto m = protocol::decodeAgentMessage((*frames)[1]);
  if (!m) return;
  if (!std::holds_alternative<protocol::Hello>(*m) && rid != rid_) {
    // Like the real coordinator: a connection that has not said hello is asked to.
    router_.send(rid, true);
    router_.send(protocol::encode(protocol::Refusal{protocol::RefusalCode::kNotEnrolled, "say hello first"}));
    return;
  }
  if (std::holds_alternative<protocol::Hello>(*m)) {
    if (rid != rid_) ++sessions;
    rid_ = rid;
    ++hellos;
    protocol::Welcome w;
    w.status = protocol::WelcomeStatus::kAccepted;
    w.message = "welcome";
    w.heartbeat_interval_ms = 200;
    w.server_time_ms = nowSeconds() * 1000;
    w.epoch = welcome_epoch;
    sendRaw(protocol::encode(w));
  } else if (std::holds_alternative<protocol::Heartbeat>(*m)) {
    ++heartbeats;
  } else if (auto* r = std::get_if<protocol::Report>(&*m)) {
    reports.push_back(*r);
  } else if (auto* fe = std::get_if<protocol::Fetch>(&*m)) {
    onFetch(*fe);
  } else if (auto* s = std::get_if<protocol::Samples>(&*m)) {
    samples.push_back(*s);
  }
}

void FakeCoordinator::onFetch(const protocol::Fetch& fetch) {
  auto it = artifacts_.find(fetch.digest);
  if (it == artifacts_.end()) return;
  std::uint64_t off = fetch.offset;
  for (std::uint32_t i = 0; i < fetch.credit && off < it->second.size(); ++i) {
    protocol::Chunk c;
    c.digest = fetch.digest;
    c.offset = off;
    c.total = it->second.size();
    c.data = it->second.substr(off, protocol::kChunkBytes);
    off += c.data.size();
    sendRaw(protocol::encode(c));
  }
}

bool FakeCoordinator::pumpUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    pump(50ms);
  }
  return true;
}

void FakeCoordinator::sendRaw(const std::string& payload) {
  REQUIRE(!rid_.empty());
  router_.send(rid_, true);
  router_.send(payload);
}

protocol::OrderBody FakeCoordinator::body(const std::string& version, std::uint64_t sequence) {
  protocol::OrderBody b;
  b.order_id = "order-" + std::to_string(++orders_);
  b.target = target;
  b.rollout_id = "web-fake";
  b.app = "web";
  b.version = version;
  b.action = "deploy";
  b.artifact_digest = last_digest_;
  b.artifact_size = last_size_;
  b.sequence = sequence;
  b.issued_at = nowSeconds() - 5;
  b.expires_at = nowSeconds() + 3600;
  return b;
}

protocol::SignedOrder FakeCoordinator::sign(const protocol::OrderBody& b, const common::SigningKeyPair* key) {
  return protocol::signOrder(b, protocol::encodeSpec(goodSpec()), key ? *key : plan_key_);
}

std::optional<protocol::Report> FakeCoordinator::terminal(const std::string& order_id,
                                                          std::chrono::milliseconds timeout) {
  std::optional<protocol::Report> found;
  pumpUntil(
      [&] {
        for (const auto& r : reports)
          if ((order_id.empty() || r.order_id == order_id) && protocol::isTerminal(r.phase)) {
            found = r;
            return true;
          }
        return false;
      },
      timeout);
  return found;
}

bool FakeCoordinator::stillHeartbeats() {
  const int before = heartbeats;
  return pumpUntil([&] { return heartbeats > before; }, 3s);
}

FakeSetup::FakeSetup(const std::vector<std::string>& release_keys_hex) {
  fake.emplace(f);
  fake->target = "h0";
  f.initAgent({"h0"});
  if (!release_keys_hex.empty()) {
    std::string arr = "release_keys = [";
    for (std::size_t i = 0; i < release_keys_hex.size(); ++i) arr += (i ? ", \"" : "\"") + release_keys_hex[i] + "\"";
    setTomlLine(f.agentDir("h0") / "agent.toml", "release_keys", arr + "]");
  }
  f.startAgent({"h0"});
  REQUIRE(fake->pumpUntil([&] { return fake->hellos > 0; }, 10s));
  fake->addArtifact(f.makeRelease("1", true));
}

std::string FakeSetup::agentLog() { return readFile(f.dir() / "agent-h0.log"); }

void FakeSetup::deployGood() {
  auto o = fake->body("1", 1);
  good = fake->sign(o);
  good_id = o.order_id;
  fake->send(*good);
  auto r = fake->terminal(o.order_id);
  REQUIRE(r);
  INFO(r->message);
  REQUIRE(r->phase == protocol::Phase::kHealthy);
  REQUIRE(f.liveRelease("h0", "web") == "1");
  fake->addArtifact(f.makeRelease("2", true));
}

void FakeSetup::expectRefused(const protocol::SignedOrder& order, const std::string& order_id,
                              const std::string& prefix, const std::string& live) {
  fake->reports.clear();
  fake->send(order);
  auto r = fake->terminal(order_id);
  REQUIRE(r);
  INFO(r->message);
  CHECK(r->phase == protocol::Phase::kRefused);
  CHECK(r->message.rfind(prefix, 0) == 0);
  CHECK(f.liveRelease("h0", "web") == live);
  CHECK(f.agentRunning("h0"));
  CHECK(fake->stillHeartbeats());
}

}  // namespace flotilla::testing
