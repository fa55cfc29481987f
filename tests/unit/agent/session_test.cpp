// Session: the agent's side of the protocol, driven with a fake clock and a
// port that records what it would send (no sockets).
#include "flotilla/agent/session.h"

#include <catch2/catch.hpp>
#include <limits>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "support/fake_clock.h"

using namespace flotilla;
using namespace std::chrono_literals;
using agent::Session;
using protocol::Phase;
using State = agent::Session::State;
using Kind = agent::Session::OrderDecision::Kind;

namespace {

// Records every frame (decoded) and answers jitter at one end of its range.
class RecordingPort final : public agent::SessionPort {
 public:
  void send(protocol::MsgType, std::string frame) override {
    auto m = protocol::decodeAgentMessage(frame);
    REQUIRE(m.ok());
    sent.push_back(*m);
  }
  common::Millis jitter(common::Millis max) override {
    jitter_asked.push_back(max);
    return max_jitter ? max : 0ms;
  }
  void identify(protocol::Hello& h) override {
    h.agent_id = "web-01";
    h.labels = {{"role", "web"}};
    h.join_token = "tok";
    h.agent_version = "test";
  }
  common::Millis heartbeatInterval(common::Millis offered) override { return heartbeat_override.value_or(offered); }
  void resent(const protocol::Report& r) override { resent_ids.push_back(r.order_id); }

  template <typename T>
  std::vector<T> take() {
    std::vector<T> out;
    for (const auto& m : sent)
      if (auto* p = std::get_if<T>(&m)) out.push_back(*p);
    sent.clear();
    return out;
  }

  std::vector<protocol::AgentMessage> sent;
  std::vector<common::Millis> jitter_asked;
  std::vector<std::string> resent_ids;  // reports the ledger sent again
  bool max_jitter = false;
  std::optional<common::Millis> heartbeat_override;
};

struct Fixture {
  Fixture() {
    REQUIRE(common::initCrypto().ok());
    plan = common::generateSigningKeyPair();
  }

  common::SteadyTime now() const { return clock.steadyNow(); }

  static protocol::Welcome welcome(protocol::WelcomeStatus st = protocol::WelcomeStatus::kAccepted,
                                   std::int64_t interval_ms = 5000) {
    protocol::Welcome w;
    w.status = st;
    w.heartbeat_interval_ms = interval_ms;
    return w;
  }

  void online() {
    session.connected(now(), port);
    session.onWelcome(welcome(), now(), port);
    port.sent.clear();
  }

  protocol::SignedOrder order(std::uint64_t seq, const std::string& id = "", const std::string& target = "web-01") {
    protocol::OrderBody b;
    b.order_id = id.empty() ? "r1/web-01/" + std::to_string(seq) : id;
    b.target = target;
    b.rollout_id = "r1";
    b.app = "web";
    b.version = std::to_string(seq + 1);
    b.action = "deploy";
    b.artifact_digest = std::string(64, 'a');
    b.sequence = seq;
    b.issued_at = common::toUnixSeconds(clock.systemNow());
    b.expires_at = b.issued_at + 3600;
    return protocol::signOrder(b, protocol::encodeSpec(protocol::OrderSpec{}), plan);
  }

  Session::OrderDecision receive(const protocol::SignedOrder& o) {
    protocol::VerifyContext ctx;
    ctx.plan_key = plan.public_key;
    ctx.agent_id = "web-01";
    return session.onOrder(o, ctx, clock.systemNow(), port);
  }

  static protocol::Report progress(const protocol::OrderBody& b, Phase phase, const std::string& live) {
    protocol::Report r;
    r.order_id = b.order_id;
    r.app = b.app;
    r.version = b.version;
    r.sequence = b.sequence;
    r.phase = phase;
    r.live_version = live;
    return r;
  }

  static protocol::Chunk chunk(const std::string& digest, std::uint64_t offset, std::uint64_t total,
                               std::size_t bytes = protocol::kChunkBytes) {
    return protocol::Chunk{digest, offset, total, std::string(bytes, 'x')};
  }

  testing::FakeClock clock;
  common::SigningKeyPair plan;
  RecordingPort port;
  Session session;
};

const std::string kDigest(64, 'd');

}  // namespace

TEST_CASE_METHOD(Fixture, "session: hello carries identity and releases; a welcome starts heartbeats",
                 "[agent][session]") {
  session.restore({}, {{"web", 3}}, {{"web", "2"}});
  CHECK(session.state() == State::kIdle);
  session.connected(now(), port);
  auto hellos = port.take<protocol::Hello>();
  REQUIRE(hellos.size() == 1);
  CHECK(hellos[0].agent_id == "web-01");
  CHECK(hellos[0].labels.at("role") == "web");
  CHECK(hellos[0].join_token == "tok");
  CHECK(hellos[0].releases.at("web") == "2");
  CHECK(session.state() == State::kHelloSent);

  session.onWelcome(welcome(), now(), port);
  CHECK(session.online());
  CHECK(session.everWelcomed());
  REQUIRE(port.take<protocol::Heartbeat>().size() == 1);
  CHECK(session.nextDeadline() == now() + 5s);
}

TEST_CASE_METHOD(Fixture, "session: without a connection event the first hello goes out after the fallback",
                 "[agent][session]") {
  session.awaitConnection(now());
  CHECK(session.nextDeadline() == now() + agent::kFirstHelloFallback);
  clock.advance(agent::kFirstHelloFallback - 1ms);
  session.onTimer(now(), port);
  CHECK(port.sent.empty());
  clock.advance(1ms);
  session.onTimer(now(), port);
  CHECK(port.take<protocol::Hello>().size() == 1);
}

TEST_CASE_METHOD(Fixture, "session: pending waits with slow hellos, then an accepted welcome puts it online",
                 "[agent][session]") {
  session.connected(now(), port);
  port.sent.clear();
  session.onWelcome(welcome(protocol::WelcomeStatus::kPending), now(), port);
  CHECK(session.state() == State::kPending);
  CHECK(port.sent.empty());  // no heartbeat while pending
  CHECK(session.nextDeadline() == now() + agent::kPendingHelloInterval);
  clock.advance(agent::kPendingHelloInterval);
  session.onTimer(now(), port);
  CHECK(port.take<protocol::Hello>().size() == 1);
  CHECK(session.state() == State::kPending);

  session.onWelcome(welcome(), now(), port);
  CHECK(session.online());
  CHECK(port.take<protocol::Heartbeat>().size() == 1);
}

TEST_CASE_METHOD(Fixture, "session: pending hellos are jittered by up to kPendingHelloJitter", "[agent][session]") {
  const bool max_jitter = GENERATE(false, true);
  port.max_jitter = max_jitter;
  session.connected(now(), port);
  port.sent.clear();
  for (int i = 0; i < 3; ++i) {
    session.onWelcome(welcome(protocol::WelcomeStatus::kPending), now(), port);
    CHECK(port.jitter_asked.back() == agent::kPendingHelloJitter);
    const auto wait = session.nextDeadline() - now();
    CHECK(wait == agent::kPendingHelloInterval + (max_jitter ? agent::kPendingHelloJitter : 0ms));
    clock.advance(std::chrono::duration_cast<common::Millis>(wait) - 1ms);
    session.onTimer(now(), port);
    CHECK(port.take<protocol::Hello>().empty());
    clock.advance(1ms);
    session.onTimer(now(), port);
    CHECK(port.take<protocol::Hello>().size() == 1);
  }
  // Bounded: some spread, never more than half the interval again.
  CHECK(agent::kPendingHelloJitter > 0ms);
  CHECK(agent::kPendingHelloJitter <= agent::kPendingHelloInterval / 2);
}

TEST_CASE_METHOD(Fixture, "session: unanswered hellos back off, doubling to the cap, with jitter up to half",
                 "[agent][session]") {
  const bool max_jitter = GENERATE(false, true);
  port.max_jitter = max_jitter;
  session.connected(now(), port);
  common::Millis backoff = agent::kHelloBackoffMin;
  for (int i = 0; i < 8; ++i) {
    const auto wait = session.nextDeadline() - now();
    CHECK(port.jitter_asked.back() == backoff / 2);
    CHECK(wait == backoff + (max_jitter ? backoff / 2 : 0ms));
    clock.advance(std::chrono::duration_cast<common::Millis>(wait));
    session.onTimer(now(), port);
    backoff = std::min(backoff * 2, agent::kHelloBackoffMax);
  }
  CHECK(backoff == agent::kHelloBackoffMax);
  CHECK(port.take<protocol::Hello>().size() == 9);
  // The longest wait is the cap plus half of it.
  CHECK(session.nextDeadline() - now() <= agent::kHelloBackoffMax * 3 / 2);

  // A welcome resets the backoff for the next time.
  session.onWelcome(welcome(), now(), port);
  session.connected(now(), port);
  CHECK(port.jitter_asked.back() == agent::kHelloBackoffMin / 2);
}

TEST_CASE_METHOD(Fixture, "session: heartbeats follow the welcome's interval, the port's override and the floor",
                 "[agent][session]") {
  session.connected(now(), port);
  session.onWelcome(welcome(protocol::WelcomeStatus::kAccepted, 2000), now(), port);
  port.sent.clear();
  for (int i = 0; i < 3; ++i) {
    CHECK(session.nextDeadline() == now() + 2s);
    clock.advance(1999ms);
    session.onTimer(now(), port);
    CHECK(port.sent.empty());
    clock.advance(1ms);
    session.onTimer(now(), port);
    CHECK(port.take<protocol::Heartbeat>().size() == 1);
  }
  port.heartbeat_override = 1ms;
  session.onWelcome(welcome(protocol::WelcomeStatus::kAccepted, 2000), now(), port);
  CHECK(session.nextDeadline() == now() + agent::kMinHeartbeatInterval);
}

TEST_CASE_METHOD(Fixture, "session: a welcome's interval past the ceiling heartbeats at the ceiling, not in a loop",
                 "[agent][session]") {
  const std::int64_t offered = GENERATE(std::numeric_limits<std::int64_t>::max(), std::int64_t{24} * 3600 * 1000);
  session.connected(now(), port);
  session.onWelcome(welcome(protocol::WelcomeStatus::kAccepted, offered), now(), port);
  port.sent.clear();
  CHECK(session.nextDeadline() == now() + agent::kMaxHeartbeatInterval);
  session.onTimer(now(), port);
  CHECK(port.sent.empty());
}

TEST_CASE_METHOD(Fixture, "session: a state change is heartbeated at once when online, only when it changed",
                 "[agent][session]") {
  session.updateState({{"web", "2"}}, {{"web", protocol::HealthState::kHealthy}}, "", now(), port);
  CHECK(port.sent.empty());  // not online yet
  online();
  session.updateState({{"web", "2"}}, {{"web", protocol::HealthState::kHealthy}}, "", now(), port);
  CHECK(port.sent.empty());
  session.updateState({{"web", "2"}}, {{"web", protocol::HealthState::kUnhealthy}}, "o-1", now(), port);
  auto hb = port.take<protocol::Heartbeat>();
  REQUIRE(hb.size() == 1);
  CHECK(hb[0].health.at("web") == protocol::HealthState::kUnhealthy);
  CHECK(hb[0].busy == "o-1");
}

TEST_CASE_METHOD(Fixture, "session: not_enrolled and pending refusals say hello again at once", "[agent][session]") {
  const auto code = GENERATE(protocol::RefusalCode::kNotEnrolled, protocol::RefusalCode::kPending);
  online();
  CHECK_FALSE(session.onRefusal({code, "say hello first"}, now(), port).has_value());
  CHECK(session.state() == State::kHelloSent);
  CHECK(session.nextDeadline() == now());
  session.onTimer(now(), port);
  CHECK(port.take<protocol::Hello>().size() == 1);
  CHECK(port.sent.empty());  // no heartbeat until welcomed again
}

TEST_CASE_METHOD(Fixture, "session: revoked, id_taken and unknown refusals retry the hello slowly",
                 "[agent][session]") {
  const auto code =
      GENERATE(protocol::RefusalCode::kRevoked, protocol::RefusalCode::kIdTaken, protocol::RefusalCode::kUnknown);
  const bool max_jitter = GENERATE(false, true);
  port.max_jitter = max_jitter;
  online();
  CHECK_FALSE(session.onRefusal({code, ""}, now(), port).has_value());
  CHECK_FALSE(session.online());
  CHECK(port.jitter_asked.back() == agent::kRefusedHelloJitter);
  const auto wait = agent::kRefusedHelloDelay + (max_jitter ? agent::kRefusedHelloJitter : 0ms);
  CHECK(session.nextDeadline() == now() + wait);
  port.sent.clear();
  clock.advance(wait - 1ms);
  session.onTimer(now(), port);
  CHECK(port.take<protocol::Hello>().empty());
  clock.advance(1ms);
  session.onTimer(now(), port);
  CHECK(port.take<protocol::Hello>().size() == 1);
  CHECK(agent::kRefusedHelloJitter > 0ms);
  CHECK(agent::kRefusedHelloJitter <= agent::kRefusedHelloDelay / 2);
}

TEST_CASE_METHOD(Fixture, "session: a fetch refusal fails the download in hand and nothing else", "[agent][session]") {
  online();
  // No download in hand: a late refusal changes nothing.
  CHECK_FALSE(session.onRefusal({protocol::RefusalCode::kFetchNoArtifact, "no artifact"}, now(), port).has_value());
  CHECK(session.online());

  session.beginFetch(kDigest, 1000, now() + 1min, port);
  CHECK(session.fetching());
  auto failed = session.onRefusal({protocol::RefusalCode::kFetchNoArtifact, "no artifact " + kDigest}, now(), port);
  REQUIRE(failed.has_value());
  CHECK(failed->code == Errc::kNotFound);
  CHECK(failed->message.find("no artifact") != std::string::npos);
  CHECK_FALSE(session.fetching());
  CHECK(session.online());
}

TEST_CASE_METHOD(Fixture, "session: orders before an accepted welcome are ignored", "[agent][session]") {
  session.connected(now(), port);
  port.sent.clear();
  CHECK(receive(order(1)).kind == Kind::kNotOnline);
  CHECK(port.sent.empty());
}

TEST_CASE_METHOD(Fixture, "session: a verified order is the owner's; its sequence is remembered", "[agent][session]") {
  online();
  auto d = receive(order(4));
  REQUIRE(d.kind == Kind::kAccepted);
  CHECK(d.order.body.order_id == "r1/web-01/4");
  CHECK(session.highestSequence("web") == 4);
  CHECK(port.sent.empty());  // the owner reports its progress
}

TEST_CASE_METHOD(Fixture, "session: an order that does not verify is reported refused, not remembered",
                 "[agent][session]") {
  session.restore({}, {}, {{"web", "1"}});
  online();
  auto d = receive(order(1, "", "web-02"));
  CHECK(d.kind == Kind::kRefused);
  auto r = port.take<protocol::Report>();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kRefused);
  CHECK(r[0].message.rfind("wrong_target: ", 0) == 0);
  CHECK(r[0].live_version == "1");
  CHECK(session.highestSequence("web") == 0);
  // A new session re-sends the ledger's reports: the refusal is not one of them.
  session.connected(now(), port);
  session.onWelcome(welcome(), now(), port);
  CHECK(port.take<protocol::Report>().empty());
}

TEST_CASE_METHOD(Fixture, "session: a repeated order id is answered from the ledger, never run twice",
                 "[agent][session]") {
  online();
  const auto o = order(2);
  auto first = receive(o);
  REQUIRE(first.kind == Kind::kAccepted);
  // Still queued: nothing to say yet.
  CHECK(receive(order(2)).kind == Kind::kRepeatQueued);
  CHECK(port.sent.empty());

  session.report(progress(first.order.body, Phase::kAccepted, ""), port);
  session.report(progress(first.order.body, Phase::kHealthy, "3"), port);
  port.sent.clear();
  auto again = receive(order(2));  // freshly signed copy, same id and sequence
  CHECK(again.kind == Kind::kRepeatAnswered);
  auto r = port.take<protocol::Report>();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kHealthy);
  CHECK(r[0].live_version == "3");

  // A different order id with the spent sequence is a replay.
  auto replay = receive(order(2, "r2/web-01/2"));
  CHECK(replay.kind == Kind::kRefused);
  r = port.take<protocol::Report>();
  REQUIRE(r.size() == 1);
  CHECK(r[0].message.rfind("replay: ", 0) == 0);

  // A copy whose signature does not verify is dropped without a report.
  auto forged = order(2);
  forged.signature[0] = static_cast<char>(forged.signature[0] ^ 1);
  CHECK(receive(forged).kind == Kind::kBadCopy);
  CHECK(port.sent.empty());
}

TEST_CASE_METHOD(Fixture, "session: reports wait for a welcome and are sent again after each welcome",
                 "[agent][session]") {
  online();
  auto o = receive(order(1));
  REQUIRE(o.kind == Kind::kAccepted);
  // The connection drops and comes back: no welcome yet, so reports wait.
  session.connected(now(), port);
  port.sent.clear();
  session.report(progress(o.order.body, Phase::kAccepted, ""), port);
  session.report(progress(o.order.body, Phase::kHealthy, "2"), port);
  CHECK(port.take<protocol::Report>().empty());
  CHECK(session.releases().at("web") == "2");

  session.onWelcome(welcome(), now(), port);
  auto r = port.take<protocol::Report>();
  REQUIRE(r.size() == 2);  // the held ones, in order; the ledger's latest is one of them
  CHECK(r[0].phase == Phase::kAccepted);
  CHECK(r[1].phase == Phase::kHealthy);
  CHECK(port.resent_ids.empty());

  // A welcome while online is no new session.
  session.onWelcome(welcome(), now(), port);
  CHECK(port.take<protocol::Report>().empty());

  // Each new session starts with the latest report again.
  session.connected(now(), port);
  session.onWelcome(welcome(), now(), port);
  r = port.take<protocol::Report>();
  REQUIRE(r.size() == 1);
  CHECK(r[0].phase == Phase::kHealthy);
  CHECK(port.resent_ids == std::vector<std::string>{"r1/web-01/1"});
}

TEST_CASE_METHOD(Fixture, "session: a terminal report without a live version forgets the app's release",
                 "[agent][session]") {
  session.restore({}, {}, {{"web", "1"}, {"db", "7"}});
  online();
  protocol::OrderBody b;
  b.order_id = "o";
  b.app = "web";
  session.report(progress(b, Phase::kRevertFailed, ""), port);
  CHECK(session.releases().count("web") == 0);
  CHECK(session.releases().at("db") == "7");
}

TEST_CASE_METHOD(Fixture, "session: the fetch window keeps at most eight chunks in flight", "[agent][session]") {
  online();
  const std::uint64_t total = 12 * protocol::kChunkBytes;
  session.beginFetch(kDigest, total, now() + 1min, port);
  auto f = port.take<protocol::Fetch>();
  REQUIRE(f.size() == 1);
  CHECK(f[0].digest == kDigest);
  CHECK(f[0].offset == 0);
  CHECK(f[0].credit == agent::kFetchWindowChunks);
  // Topped up only once half the window has landed.
  for (int i = 0; i < 4; ++i) {
    auto fit = session.onChunk(chunk(kDigest, i * protocol::kChunkBytes, total), port);
    REQUIRE(fit.ok());
    CHECK(*fit == agent::FetchWindow::Fit::kMore);
    if (i < 3) CHECK(port.sent.empty());
  }
  f = port.take<protocol::Fetch>();
  REQUIRE(f.size() == 1);
  CHECK(f[0].offset == 8 * protocol::kChunkBytes);
  CHECK(f[0].credit == 4);  // what is left of the artifact
  for (int i = 4; i < 11; ++i) REQUIRE(session.onChunk(chunk(kDigest, i * protocol::kChunkBytes, total), port).ok());
  auto last = session.onChunk(chunk(kDigest, 11 * protocol::kChunkBytes, total), port);
  REQUIRE(last.ok());
  CHECK(*last == agent::FetchWindow::Fit::kComplete);
  CHECK_FALSE(session.fetching());
  CHECK(port.take<protocol::Fetch>().empty());  // never more than the artifact
}

TEST_CASE_METHOD(Fixture, "session: chunks that do not fit end the download; stale ones are ignored",
                 "[agent][session]") {
  online();
  const std::uint64_t total = 3 * protocol::kChunkBytes;
  session.beginFetch(kDigest, total, now() + 1min, port);
  auto stale = session.onChunk(chunk(std::string(64, 'e'), 0, total), port);
  REQUIRE(stale.ok());
  CHECK(*stale == agent::FetchWindow::Fit::kStale);
  CHECK(session.fetching());

  SECTION("wrong offset") {
    auto bad = session.onChunk(chunk(kDigest, protocol::kChunkBytes, total), port);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == Errc::kCorrupt);
  }
  SECTION("wrong total") { REQUIRE_FALSE(session.onChunk(chunk(kDigest, 0, total + 1), port).ok()); }
  SECTION("more than the artifact") {
    REQUIRE(session.onChunk(chunk(kDigest, 0, total), port).ok());
    REQUIRE(session.onChunk(chunk(kDigest, protocol::kChunkBytes, total), port).ok());
    REQUIRE_FALSE(
        session.onChunk(chunk(kDigest, 2 * protocol::kChunkBytes, total, protocol::kChunkBytes + 1), port).ok());
  }
  CHECK_FALSE(session.fetching());
}

TEST_CASE_METHOD(Fixture, "session: a new session asks again for the chunks the old one lost", "[agent][session]") {
  online();
  const std::uint64_t total = 12 * protocol::kChunkBytes;
  session.beginFetch(kDigest, total, now() + 5min, port);
  REQUIRE(port.take<protocol::Fetch>().size() == 1);
  REQUIRE(session.onChunk(chunk(kDigest, 0, total), port).ok());
  REQUIRE(session.onChunk(chunk(kDigest, protocol::kChunkBytes, total), port).ok());
  // The connection drops with six chunks in flight (a coordinator restart, a
  // network cut): they never come. A new session asks from what has landed.
  session.connected(now(), port);
  session.onWelcome(welcome(), now(), port);
  auto f = port.take<protocol::Fetch>();
  REQUIRE(f.size() == 1);
  CHECK(f[0].offset == 2 * protocol::kChunkBytes);
  CHECK(f[0].credit == agent::kFetchWindowChunks);
  // An answer to the old request that arrives anyway repeats bytes already in:
  // ignored, not corrupt.
  auto late = session.onChunk(chunk(kDigest, protocol::kChunkBytes, total), port);
  REQUIRE(late.ok());
  CHECK(*late == agent::FetchWindow::Fit::kStale);
  for (std::uint64_t i = 2; i < 12; ++i) {
    auto fit = session.onChunk(chunk(kDigest, i * protocol::kChunkBytes, total), port);
    REQUIRE(fit.ok());
    CHECK(*fit == (i == 11 ? agent::FetchWindow::Fit::kComplete : agent::FetchWindow::Fit::kMore));
  }
  // A chunk that straddles what has landed does not fit the transfer.
  session.beginFetch(kDigest, total, now() + 5min, port);
  REQUIRE(session.onChunk(chunk(kDigest, 0, total), port).ok());
  REQUIRE_FALSE(session.onChunk(chunk(kDigest, protocol::kChunkBytes / 2, total), port).ok());
}

TEST_CASE_METHOD(Fixture, "session: an empty artifact is asked for once and completes with its empty chunk",
                 "[agent][session]") {
  online();
  session.beginFetch(kDigest, 0, now() + 1min, port);
  auto f = port.take<protocol::Fetch>();
  REQUIRE(f.size() == 1);
  CHECK(f[0].credit == 1);
  auto fit = session.onChunk(chunk(kDigest, 0, 0, 0), port);
  REQUIRE(fit.ok());
  CHECK(*fit == agent::FetchWindow::Fit::kComplete);
}

TEST_CASE_METHOD(Fixture, "session: a download past its deadline is over", "[agent][session]") {
  online();
  session.beginFetch(kDigest, protocol::kChunkBytes, now() + 30s, port);
  CHECK(session.nextDeadline() == now() + 5s);  // the heartbeat comes first
  clock.advance(29s);
  CHECK_FALSE(session.onTimer(now(), port).fetch_expired);
  CHECK(session.nextDeadline() == now() + 1s);
  clock.advance(1s);
  CHECK(session.onTimer(now(), port).fetch_expired);
  CHECK_FALSE(session.fetching());
}

TEST_CASE_METHOD(Fixture, "session: a dropped connection not back by the check asks for a reconnect",
                 "[agent][session]") {
  port.max_jitter = true;
  online();
  session.disconnected(now(), port);
  const auto check = now() + agent::kReconnectCheckDelay + agent::kReconnectCheckJitter;
  session.disconnected(now() + 1s, port);  // already armed: unchanged
  clock.advance(agent::kReconnectCheckDelay + agent::kReconnectCheckJitter - 1ms);
  CHECK_FALSE(session.onTimer(now(), port).reconnect);
  CHECK(session.nextDeadline() == check);
  clock.advance(1ms);
  CHECK(session.onTimer(now(), port).reconnect);
  CHECK_FALSE(session.onTimer(now(), port).reconnect);  // once

  // A new connection in time disarms it.
  session.disconnected(now(), port);
  session.connected(now(), port);
  clock.advance(agent::kReconnectCheckDelay + agent::kReconnectCheckJitter);
  CHECK_FALSE(session.onTimer(now(), port).reconnect);
}
