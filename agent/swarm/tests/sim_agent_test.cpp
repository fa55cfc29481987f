// SimAgent: the simulated agent's protocol state machine, driven with made-up
// times and messages (no sockets).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <variant>

#include "flotilla/common/duration.h"
#include "flotilla/swarm/sim_agent.h"
#include "flotilla/swarm/timer_heap.h"

using namespace flotilla;
using namespace std::chrono_literals;
using protocol::Phase;

namespace {

class StepClock final : public common::Clock {
 public:
  common::SteadyTime steady{std::chrono::hours(1)};
  common::SysTime sys{std::chrono::seconds(1'900'000'000)};
  common::SteadyTime steadyNow() const override { return steady; }
  common::SysTime systemNow() const override { return sys; }
};

struct Fixture {
  Fixture() {
    REQUIRE(common::initCrypto().ok());
    plan = common::generateSigningKeyPair();
    config.plan_key = plan.public_key;
    config.join_token = "tok";
    config.labels = {{"role", "swarm"}};
  }

  swarm::SimNow now() const { return {clock.steady, clock.sys}; }
  void advance(common::Millis d) {
    clock.steady += d;
    clock.sys += d;
  }

  protocol::CoordinatorMessage order(const std::string& target, std::uint64_t seq, const std::string& version = "2",
                                     const std::string& digest = "", std::uint64_t size = 0) {
    protocol::OrderBody b;
    b.order_id = rollout + "/" + target + "/" + std::to_string(seq);
    b.target = target;
    b.rollout_id = rollout;
    b.app = "web";
    b.version = version;
    b.action = "deploy";
    b.artifact_digest = digest.empty() ? std::string(64, 'a') : digest;
    b.artifact_size = size;
    b.sequence = seq;
    b.issued_at = common::toUnixSeconds(clock.sys);
    b.expires_at = b.issued_at + 3600;
    return protocol::signOrder(b, protocol::encodeSpec(protocol::OrderSpec{}), plan);
  }

  static protocol::CoordinatorMessage welcome(protocol::WelcomeStatus st = protocol::WelcomeStatus::kAccepted) {
    protocol::Welcome w;
    w.status = st;
    w.heartbeat_interval_ms = 5000;
    return w;
  }

  // Decodes and clears the outbox.
  std::vector<protocol::AgentMessage> take() {
    std::vector<protocol::AgentMessage> msgs;
    for (const auto& bytes : out) {
      auto m = protocol::decodeAgentMessage(bytes);
      REQUIRE(m.ok());
      msgs.push_back(*m);
    }
    out.clear();
    return msgs;
  }

  std::vector<protocol::Report> reports() {
    std::vector<protocol::Report> r;
    for (auto& m : take())
      if (auto* p = std::get_if<protocol::Report>(&m)) r.push_back(*p);
    return r;
  }

  void online(swarm::SimAgent& a) {
    a.start(ctx, now(), out);
    a.onMessage(ctx, welcome(), now(), out);
    out.clear();
  }

  StepClock clock;
  std::string rollout = "web-1";
  common::SigningKeyPair plan;
  swarm::SimConfig config;
  swarm::SwarmStats stats;
  std::mt19937_64 rng{42};
  swarm::SimContext ctx{config, clock, stats, rng};
  std::vector<std::string> out;
};

}  // namespace

TEST_CASE_METHOD(Fixture, "hello carries the id, labels and join token; welcome starts heartbeats", "[swarm]") {
  swarm::SimAgent a("swarm-0");
  a.start(ctx, now(), out);
  auto msgs = take();
  REQUIRE(msgs.size() == 1);
  auto& hello = std::get<protocol::Hello>(msgs[0]);
  CHECK(hello.agent_id == "swarm-0");
  CHECK(hello.labels.at("role") == "swarm");
  CHECK(hello.join_token == "tok");
  CHECK(a.state() == swarm::SimAgent::State::kHelloSent);

  a.onMessage(ctx, welcome(), now(), out);
  CHECK(a.state() == swarm::SimAgent::State::kOnline);
  CHECK(stats.online == 1);
  msgs = take();
  REQUIRE(msgs.size() == 1);
  CHECK(std::holds_alternative<protocol::Heartbeat>(msgs[0]));
  CHECK(a.nextDeadline() == clock.steady + 5s);

  advance(5s);
  a.onTimer(ctx, now(), out);
  msgs = take();
  REQUIRE(msgs.size() == 1);
  CHECK(std::holds_alternative<protocol::Heartbeat>(msgs[0]));
  CHECK(stats.heartbeats == 2);
}

TEST_CASE_METHOD(Fixture, "an unanswered hello is repeated with backoff", "[swarm]") {
  // The agent's own backoff (agent::kHelloBackoffMin, doubling, jitter up to half).
  swarm::SimAgent a("swarm-0");
  a.start(ctx, now(), out);
  take();
  const auto first = a.nextDeadline();
  CHECK(first >= clock.steady + 1s);
  CHECK(first <= clock.steady + 1500ms);
  clock.steady = first;
  a.onTimer(ctx, now(), out);
  auto msgs = take();
  REQUIRE(msgs.size() == 1);
  CHECK(std::holds_alternative<protocol::Hello>(msgs[0]));
  CHECK(a.nextDeadline() >= clock.steady + 2s);
}

TEST_CASE_METHOD(Fixture, "a pending welcome waits, a 'not enrolled' refusal says hello again at once", "[swarm]") {
  swarm::SimAgent a("swarm-0");
  a.start(ctx, now(), out);
  a.onMessage(ctx, welcome(protocol::WelcomeStatus::kPending), now(), out);
  CHECK(a.state() == swarm::SimAgent::State::kPending);
  CHECK(stats.pending == 1);
  CHECK(stats.online == 0);
  a.onMessage(ctx, welcome(), now(), out);
  CHECK(stats.pending == 0);
  CHECK(stats.online == 1);
  take();
  a.onMessage(ctx, protocol::Refusal{protocol::RefusalCode::kNotEnrolled, "say hello first"}, now(), out);
  CHECK(stats.online == 0);
  CHECK(a.nextDeadline() == clock.steady);
  a.onTimer(ctx, now(), out);
  auto msgs = take();
  REQUIRE(msgs.size() == 1);
  CHECK(std::holds_alternative<protocol::Hello>(msgs[0]));
}

TEST_CASE_METHOD(Fixture, "a verified order is reported accepted then healthy after the apply time", "[swarm]") {
  config.apply_time = 300ms;
  swarm::SimAgent a("swarm-0");
  online(a);
  a.onMessage(ctx, order("swarm-0", 1), now(), out);
  auto r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kAccepted);
  CHECK(r[0].live_version.empty());
  CHECK(stats.orders_verified == 1);
  CHECK(a.busy());
  CHECK(a.nextDeadline() == clock.steady + 300ms);

  advance(300ms);
  a.onTimer(ctx, now(), out);
  auto msgs = take();
  REQUIRE(msgs.size() == 2);  // the terminal report, then a heartbeat with the new state
  auto& done = std::get<protocol::Report>(msgs[0]);
  CHECK(done.phase == Phase::kHealthy);
  CHECK(done.live_version == "2");
  auto& hb = std::get<protocol::Heartbeat>(msgs[1]);
  CHECK(hb.releases.at("web") == "2");
  CHECK(hb.health.at("web") == protocol::HealthState::kHealthy);
  CHECK(a.releases().at("web") == "2");
  CHECK(a.highestSequence("web") == 1);
  CHECK_FALSE(a.busy());
  CHECK(stats.orders_healthy == 1);
  CHECK(stats.done_us.size() == 1);
}

TEST_CASE_METHOD(Fixture, "with report_probation the apply time is reported as probation, as the agent does",
                 "[swarm]") {
  // The coordinator asks an analysed wave's canaries to sample when they
  // report probation: without it a swarm's canaries would never sample.
  config.apply_time = 300ms;
  config.report_probation = true;
  swarm::SimAgent a("swarm-0");
  online(a);
  a.onMessage(ctx, order("swarm-0", 1), now(), out);
  auto r = reports();
  REQUIRE(r.size() == 2);
  CHECK(r[0].phase == Phase::kAccepted);
  CHECK(r[1].phase == Phase::kProbation);
  CHECK(r[1].live_version == "2");
  advance(300ms);
  a.onTimer(ctx, now(), out);
  r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kHealthy);
}

TEST_CASE_METHOD(Fixture, "taking an order up is heartbeated at once with its id as busy, as the agent does",
                 "[swarm]") {
  // The agent's worker publishes its state (busy = the order) before it runs
  // the order, and the reactor heartbeats the change: the swarm sends the same.
  swarm::SimAgent a("swarm-0");
  online(a);
  a.onMessage(ctx, order("swarm-0", 1), now(), out);
  auto msgs = take();
  REQUIRE(msgs.size() == 2);
  auto* hb = std::get_if<protocol::Heartbeat>(&msgs[0]);
  REQUIRE(hb != nullptr);
  CHECK(hb->busy == "web-1/swarm-0/1");
  CHECK(std::get<protocol::Report>(msgs[1]).phase == Phase::kAccepted);
}

TEST_CASE_METHOD(Fixture, "with fail rate 1 every order ends reverted on the previous release", "[swarm]") {
  config.fail_rate = 1.0;
  swarm::SimAgent a("swarm-0");
  online(a);
  a.onMessage(ctx, order("swarm-0", 1), now(), out);
  a.onTimer(ctx, now(), out);
  auto r = reports();
  REQUIRE(r.size() == 2);
  CHECK(r[1].phase == Phase::kReverted);
  CHECK(r[1].live_version.empty());
  CHECK(a.releases().count("web") == 0);
  CHECK(stats.orders_reverted == 1);
}

TEST_CASE_METHOD(Fixture, "orders for another agent, replays and bad signatures are refused", "[swarm]") {
  swarm::SimAgent a("swarm-0");
  online(a);
  a.onMessage(ctx, order("swarm-1", 1), now(), out);
  auto r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kRefused);
  CHECK(r[0].message.rfind("wrong_target", 0) == 0);

  a.onMessage(ctx, order("swarm-0", 5), now(), out);
  a.onTimer(ctx, now(), out);
  reports();
  rollout = "web-2";  // another order with the spent sequence (the same order id would be a repeat)
  a.onMessage(ctx, order("swarm-0", 5), now(), out);
  r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].message.rfind("replay", 0) == 0);
  CHECK(r[0].live_version == "2");

  auto forged = std::get<protocol::SignedOrder>(order("swarm-0", 6));
  forged.signature[0] = static_cast<char>(forged.signature[0] ^ 1);
  a.onMessage(ctx, forged, now(), out);
  r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].message.rfind("bad_signature", 0) == 0);
  CHECK(stats.orders_refused == 3);
}

TEST_CASE_METHOD(Fixture, "a repeated order id is answered with its latest report, as the agent does", "[swarm]") {
  swarm::SimAgent a("swarm-0");
  online(a);
  a.onMessage(ctx, order("swarm-0", 3), now(), out);
  a.onTimer(ctx, now(), out);
  reports();
  a.onMessage(ctx, order("swarm-0", 3), now(), out);  // a restarted coordinator resends it
  auto r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kHealthy);
  CHECK(stats.orders_verified == 1);
  CHECK(stats.orders_refused == 0);
  CHECK_FALSE(a.busy());
}

TEST_CASE_METHOD(Fixture, "reports wait for a welcome; a new session starts with the latest ones", "[swarm]") {
  swarm::SimAgent a("swarm-0");
  online(a);
  a.onMessage(ctx, order("swarm-0", 1), now(), out);
  take();
  a.onMessage(ctx, protocol::Refusal{protocol::RefusalCode::kNotEnrolled, "say hello first"}, now(), out);
  a.onTimer(ctx, now(), out);  // the hello again, and the order's end, held
  auto msgs = take();
  REQUIRE(msgs.size() == 1);
  CHECK(std::holds_alternative<protocol::Hello>(msgs[0]));
  a.onMessage(ctx, welcome(), now(), out);
  auto r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kHealthy);
  CHECK(stats.online == 1);
}

TEST_CASE_METHOD(Fixture, "orders arriving while busy queue behind the one in hand", "[swarm]") {
  config.apply_time = 100ms;
  swarm::SimAgent a("swarm-0");
  online(a);
  a.onMessage(ctx, order("swarm-0", 1, "2"), now(), out);
  a.onMessage(ctx, order("swarm-0", 2, "3"), now(), out);
  CHECK(reports().size() == 1);  // only the first is accepted so far
  advance(100ms);
  a.onTimer(ctx, now(), out);
  auto r = reports();
  REQUIRE(r.size() == 2);
  CHECK(r[0].phase == Phase::kHealthy);
  CHECK(r[1].phase == Phase::kAccepted);
  CHECK(r[1].version == "3");
  CHECK(r[1].live_version == "2");
  advance(100ms);
  a.onTimer(ctx, now(), out);
  r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].live_version == "3");
}

TEST_CASE_METHOD(Fixture, "with fetch the artifact comes in credit-sized chunks and its digest is checked", "[swarm]") {
  config.fetch = true;
  const std::string artifact(600 * 1024, 'x');
  const std::string digest = common::blake2bHex(common::asBytes(artifact));
  swarm::SimAgent a("swarm-0");
  online(a);
  a.onMessage(ctx, order("swarm-0", 1, "2", digest, artifact.size()), now(), out);
  auto msgs = take();
  REQUIRE(msgs.size() == 4);  // heartbeat (busy), accepted, fetching, fetch
  CHECK(std::get<protocol::Report>(msgs[2]).phase == Phase::kFetching);
  auto& f = std::get<protocol::Fetch>(msgs[3]);
  CHECK(f.offset == 0);
  CHECK(f.credit == 3);
  for (std::uint64_t off = 0; off < artifact.size(); off += protocol::kChunkBytes) {
    protocol::Chunk c;
    c.digest = digest;
    c.offset = off;
    c.total = artifact.size();
    c.data = artifact.substr(off, protocol::kChunkBytes);
    a.onMessage(ctx, c, now(), out);
  }
  CHECK(stats.fetched_bytes == artifact.size());
  a.onTimer(ctx, now(), out);
  auto r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kHealthy);
}

TEST_CASE_METHOD(Fixture, "a corrupted artifact fails the order before the switch", "[swarm]") {
  config.fetch = true;
  const std::string artifact(1000, 'x');
  swarm::SimAgent a("swarm-0");
  online(a);
  const std::string digest = common::blake2bHex(common::asBytes(artifact));
  a.onMessage(ctx, order("swarm-0", 1, "2", digest, artifact.size()), now(), out);
  take();
  protocol::Chunk c{digest, 0, artifact.size(), std::string(1000, 'y')};
  a.onMessage(ctx, c, now(), out);
  auto r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kFailed);
  CHECK(stats.orders_failed == 1);
  CHECK_FALSE(a.busy());
}

TEST_CASE("the timer heap returns due slots in deadline order and skips replaced deadlines", "[swarm]") {
  const common::SteadyTime t0{std::chrono::seconds(100)};
  swarm::TimerHeap h(3);
  h.schedule(0, t0 + 3s);
  h.schedule(1, t0 + 1s);
  h.schedule(2, t0 + 2s);
  h.schedule(1, t0 + 5s);  // replaces 1s
  CHECK(h.next() == t0 + 2s);
  CHECK_FALSE(h.popDue(t0 + 1s));
  CHECK(h.popDue(t0 + 10s) == 2u);
  CHECK(h.popDue(t0 + 10s) == 0u);
  CHECK(h.popDue(t0 + 10s) == 1u);
  CHECK_FALSE(h.popDue(t0 + 10s));
  h.schedule(0, t0);
  h.cancel(0);
  CHECK_FALSE(h.next());
}

TEST_CASE_METHOD(Fixture, "a rotation signed by the pinned plan key moves the pin; others are ignored", "[swarm]") {
  swarm::SimAgent a("swarm-0");
  online(a);
  auto next = common::generateSigningKeyPair();
  auto stranger = common::generateSigningKeyPair();
  const auto now_s = common::toUnixSeconds(clock.sys);
  a.onMessage(ctx, protocol::makeRotation(stranger, next.public_key, now_s), now(), out);
  CHECK(a.planKey(config) == plan.public_key);
  a.onMessage(ctx, protocol::makeRotation(plan, next.public_key, now_s), now(), out);
  CHECK(a.planKey(config) == next.public_key);
  CHECK(stats.rotations == 1);
  plan = next;  // orders are now signed by the new key
  a.onMessage(ctx, order("swarm-0", 1), now(), out);
  auto r = reports();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kAccepted);
}

TEST_CASE_METHOD(Fixture, "a sample request is answered with synthetic samples while online", "[swarm]") {
  swarm::SimAgent a("agent-1");
  online(a);
  protocol::SampleRequest r;
  r.rollout_id = rollout;
  r.app = "web";
  r.role = "canary";
  r.interval_ms = 1000;
  r.duration_ms = 2000;
  protocol::ScrapeMetric m;
  m.name = "rps";
  r.metrics = {m};
  a.onMessage(ctx, r, now(), out);
  CHECK(a.nextDeadline() <= clock.steady + 1s);
  advance(1s);
  a.onTimer(ctx, now(), out);
  std::size_t batches = 0;
  for (auto& msg : take())
    if (auto* s = std::get_if<protocol::Samples>(&msg)) {
      ++batches;
      CHECK(s->samples.size() == 1);
      CHECK(s->samples[0].metric == "rps");
    }
  CHECK(batches == 1);
  CHECK(stats.samples == 1);
  CHECK(stats.sample_requests == 1);
}
