#include <msgpack.hpp>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "flotilla/protocol/messages.h"

using namespace std::chrono_literals;
using flotilla::Errc;
using namespace flotilla::protocol;

namespace {

// msgpack bytes built by hand, for messages our encoder would never produce.
class Raw {
 public:
  Raw& array(std::uint32_t n) {
    p_.pack_array(n);
    return *this;
  }
  Raw& map(std::uint32_t n) {
    p_.pack_map(n);
    return *this;
  }
  Raw& u(std::uint64_t v) {
    p_.pack_uint64(v);
    return *this;
  }
  Raw& i(std::int64_t v) {
    p_.pack_int64(v);
    return *this;
  }
  Raw& str(std::string_view s) {
    p_.pack_str(static_cast<std::uint32_t>(s.size()));
    p_.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
    return *this;
  }
  Raw& bin(std::string_view s) {
    p_.pack_bin(static_cast<std::uint32_t>(s.size()));
    p_.pack_bin_body(s.data(), static_cast<std::uint32_t>(s.size()));
    return *this;
  }
  Raw& nil() {
    p_.pack_nil();
    return *this;
  }
  Raw& boolean(bool b) {
    if (b)
      p_.pack_true();
    else
      p_.pack_false();
    return *this;
  }
  // The envelope [version, type, <body follows>].
  Raw& envelope(std::uint64_t version, std::uint64_t type) { return array(3).u(version).u(type); }
  std::string bytes() const { return std::string(buf_.data(), buf_.size()); }

 private:
  msgpack::sbuffer buf_;
  msgpack::packer<msgpack::sbuffer> p_{buf_};
};

Hello sampleHello() {
  Hello m;
  m.agent_id = "web-01";
  m.labels = {{"role", "web"}, {"dc", "par1"}};
  m.releases = {{"web", "2.4.1"}, {"db", "1.0"}};
  m.join_token = "tok";
  m.agent_version = "0.1.0";
  return m;
}

Heartbeat sampleHeartbeat() {
  Heartbeat m;
  m.releases = {{"web", "2.4.1"}};
  m.health = {{"web", HealthState::kHealthy}, {"db", HealthState::kUnknown}, {"api", HealthState::kUnhealthy}};
  m.busy = "o-17";
  return m;
}

Report sampleReport() {
  Report m;
  m.order_id = "o-17";
  m.app = "web";
  m.version = "2.4.1";
  m.sequence = 1ULL << 40;
  m.phase = Phase::kProbation;
  m.message = "checks passing 3/10s";
  m.live_version = "2.4.1";
  m.at_ms = -5;  // host clocks can be anywhere; negative must survive too
  return m;
}

Fetch sampleFetch() { return Fetch{std::string(64, 'a'), 1ULL << 33, 8}; }

Welcome sampleWelcome() {
  Welcome m;
  m.status = WelcomeStatus::kPending;
  m.message = "waiting for an operator";
  m.heartbeat_interval_ms = 5000;
  m.server_time_ms = 1'795'000'000'000;
  return m;
}

SignedOrder sampleOrder() {
  SignedOrder m;
  m.body = std::string("\x9d\x00\xff body", 8);
  m.signature = std::string(64, '\x5a');
  m.spec = std::string("\x92\x93", 2);
  return m;
}

Chunk sampleChunk() {
  Chunk m;
  m.digest = std::string(64, 'b');
  m.offset = kChunkBytes;
  m.total = 3 * kChunkBytes;
  m.data = std::string(1000, '\0') + "tail";
  return m;
}

OrderSpec sampleSpec() {
  OrderSpec s;
  s.deploy.before_switch = {{"./bin/migrate", "--check"}, {"true"}};
  s.deploy.restart = {"systemctl", "restart", "web"};
  s.deploy.hook_timeout = 90s;
  s.health.interval = 500ms;
  s.health.healthy_for = 10s;
  s.health.deadline = 60s;
  HealthCheck http;
  http.kind = HealthCheck::Kind::kHttp;
  http.target = "http://127.0.0.1:8080/healthz";
  http.timeout = 2s;
  HealthCheck tcp;
  tcp.kind = HealthCheck::Kind::kTcp;
  tcp.target = "127.0.0.1:8080";
  tcp.timeout = 1s;
  HealthCheck exec;
  exec.kind = HealthCheck::Kind::kExec;
  exec.argv = {"./bin/selfcheck", "--quick"};
  exec.timeout = 3s;
  s.health.checks = {http, tcp, exec};
  return s;
}

OrderBody sampleBody() {
  OrderBody b;
  b.order_id = "o-17";
  b.target = "web-01";
  b.rollout_id = "r-1";
  b.app = "web";
  b.version = "2.4.1";
  b.action = "deploy";
  b.artifact_digest = std::string(64, 'c');
  b.artifact_size = 1234;
  b.spec_digest = std::string(64, 'd');
  b.sequence = 7;
  b.issued_at = 1'795'000'000;
  b.expires_at = 1'795'000'600;
  b.key_id = "0123456789abcdef";
  return b;
}

template <typename T>
T agentMessage(const std::string& bytes) {
  auto r = decodeAgentMessage(bytes);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  REQUIRE(std::holds_alternative<T>(*r));
  return std::get<T>(*r);
}

template <typename T>
T coordinatorMessage(const std::string& bytes) {
  auto r = decodeCoordinatorMessage(bytes);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  REQUIRE(std::holds_alternative<T>(*r));
  return std::get<T>(*r);
}

// Fails with kCorrupt from whichever decoder is asked; returns the message.
std::string agentError(std::string_view bytes) {
  auto r = decodeAgentMessage(bytes);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kCorrupt);
  CHECK_FALSE(r.error().message.empty());
  return r.error().message;
}

std::string coordinatorError(std::string_view bytes) {
  auto r = decodeCoordinatorMessage(bytes);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kCorrupt);
  CHECK_FALSE(r.error().message.empty());
  return r.error().message;
}

// Every decoder refuses `bytes` with kCorrupt.
void allDecodersRefuse(std::string_view bytes) {
  agentError(bytes);
  coordinatorError(bytes);
  auto b = decodeOrderBody(bytes);
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().code == Errc::kCorrupt);
  auto s = decodeSpec(bytes);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == Errc::kCorrupt);
}

std::vector<std::string> everyAgentMessage() {
  return {encode(sampleHello()), encode(sampleHeartbeat()), encode(sampleReport()), encode(sampleFetch())};
}
std::vector<std::string> everyCoordinatorMessage() {
  return {encode(sampleWelcome()), encode(sampleOrder()), encode(sampleChunk()),
          encode(Refusal{RefusalCode::kRevoked, "no"})};
}

}  // namespace

// ---- round trips ----

TEST_CASE("codec: hello round trip", "[protocol][codec]") {
  auto m = agentMessage<Hello>(encode(sampleHello()));
  auto want = sampleHello();
  CHECK(m.agent_id == want.agent_id);
  CHECK(m.labels == want.labels);
  CHECK(m.releases == want.releases);
  CHECK(m.join_token == want.join_token);
  CHECK(m.agent_version == want.agent_version);
}

TEST_CASE("codec: hello with empty fields round trips", "[protocol][codec]") {
  auto m = agentMessage<Hello>(encode(Hello{}));
  CHECK(m.agent_id.empty());
  CHECK(m.labels.empty());
  CHECK(m.releases.empty());
}

TEST_CASE("codec: heartbeat round trip", "[protocol][codec]") {
  auto m = agentMessage<Heartbeat>(encode(sampleHeartbeat()));
  auto want = sampleHeartbeat();
  CHECK(m.releases == want.releases);
  CHECK(m.health == want.health);
  CHECK(m.busy == want.busy);
}

TEST_CASE("codec: report round trip, every phase", "[protocol][codec]") {
  auto want = sampleReport();
  auto m = agentMessage<Report>(encode(want));
  CHECK(m.order_id == want.order_id);
  CHECK(m.app == want.app);
  CHECK(m.version == want.version);
  CHECK(m.sequence == want.sequence);
  CHECK(m.phase == want.phase);
  CHECK(m.message == want.message);
  CHECK(m.live_version == want.live_version);
  CHECK(m.at_ms == want.at_ms);
  for (int p = 0; p <= static_cast<int>(Phase::kRefused); ++p) {
    want.phase = static_cast<Phase>(p);
    CHECK(agentMessage<Report>(encode(want)).phase == want.phase);
    CHECK(std::string(toString(want.phase)) != "unknown");
  }
}

TEST_CASE("codec: fetch round trip", "[protocol][codec]") {
  auto m = agentMessage<Fetch>(encode(sampleFetch()));
  CHECK(m.digest == std::string(64, 'a'));
  CHECK(m.offset == (1ULL << 33));
  CHECK(m.credit == 8);
  CHECK(agentMessage<Fetch>(encode(Fetch{"d", 0, 1})).credit == 1);
  CHECK(agentMessage<Fetch>(encode(Fetch{"d", 0, 64})).credit == 64);
}

TEST_CASE("codec: welcome round trip", "[protocol][codec]") {
  auto m = coordinatorMessage<Welcome>(encode(sampleWelcome()));
  CHECK(m.status == WelcomeStatus::kPending);
  CHECK(m.message == "waiting for an operator");
  CHECK(m.heartbeat_interval_ms == 5000);
  CHECK(m.server_time_ms == 1'795'000'000'000);
  CHECK(coordinatorMessage<Welcome>(encode(Welcome{})).status == WelcomeStatus::kAccepted);
}

TEST_CASE("codec: signed order round trip keeps exact bytes", "[protocol][codec]") {
  auto m = coordinatorMessage<SignedOrder>(encode(sampleOrder()));
  auto want = sampleOrder();
  CHECK(m.body == want.body);
  CHECK(m.signature == want.signature);
  CHECK(m.spec == want.spec);
}

TEST_CASE("codec: chunk round trip, binary data and full size", "[protocol][codec]") {
  auto m = coordinatorMessage<Chunk>(encode(sampleChunk()));
  auto want = sampleChunk();
  CHECK(m.digest == want.digest);
  CHECK(m.offset == want.offset);
  CHECK(m.total == want.total);
  CHECK(m.data == want.data);
  Chunk full = want;
  full.data = std::string(kChunkBytes, '\x7f');
  auto bytes = encode(full);
  CHECK(static_cast<std::int64_t>(bytes.size()) < kMaxAgentFrameBytes);
  CHECK(coordinatorMessage<Chunk>(bytes).data.size() == kChunkBytes);
}

TEST_CASE("codec: refusal round trip, every code", "[protocol][codec]") {
  for (auto code : {RefusalCode::kUnknown, RefusalCode::kMalformed, RefusalCode::kNotEnrolled, RefusalCode::kPending,
                    RefusalCode::kInvalidAgentId, RefusalCode::kIdTaken, RefusalCode::kRevoked, RefusalCode::kRejected,
                    RefusalCode::kFetchBadDigest, RefusalCode::kFetchNoArtifact}) {
    auto m = coordinatorMessage<Refusal>(encode(Refusal{code, "agent revoked"}));
    CHECK(m.code == code);
    CHECK(m.detail == "agent revoked");
  }
}

TEST_CASE("codec: a refusal code from a newer coordinator decodes as unknown", "[protocol][codec]") {
  auto bytes = Raw().envelope(kProtocolVersion, 19).array(2).str("rate_limited").str("slow down").bytes();
  auto m = coordinatorMessage<Refusal>(bytes);
  CHECK(m.code == RefusalCode::kUnknown);
  CHECK(m.detail == "slow down");
}

TEST_CASE("codec: a refusal code that is not a string is refused", "[protocol][codec][strict]") {
  CHECK(coordinatorError(Raw().envelope(kProtocolVersion, 19).array(2).u(3).str("x").bytes()).find("string") !=
        std::string::npos);
  coordinatorError(Raw().envelope(kProtocolVersion, 19).array(2).str("pending").u(1).bytes());
}

TEST_CASE("codec: a health word from a newer agent decodes as unknown", "[protocol][codec]") {
  auto bytes = Raw()
                   .envelope(kProtocolVersion, 2)
                   .array(3)
                   .map(0)
                   .map(2)
                   .str("web")
                   .str("degraded")
                   .str("db")
                   .str("unhealthy")
                   .str("")
                   .bytes();
  auto m = agentMessage<Heartbeat>(bytes);
  CHECK(m.health.at("web") == HealthState::kUnknown);
  CHECK(m.health.at("db") == HealthState::kUnhealthy);
}

TEST_CASE("codec: a health value that is not a string is refused", "[protocol][codec][strict]") {
  agentError(Raw().envelope(kProtocolVersion, 2).array(3).map(0).map(1).str("web").u(1).str("").bytes());
}

TEST_CASE("codec: order body round trip", "[protocol][codec]") {
  auto want = sampleBody();
  auto r = decodeOrderBody(encodeOrderBody(want));
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->order_id == want.order_id);
  CHECK(r->target == want.target);
  CHECK(r->rollout_id == want.rollout_id);
  CHECK(r->app == want.app);
  CHECK(r->version == want.version);
  CHECK(r->action == want.action);
  CHECK(r->artifact_digest == want.artifact_digest);
  CHECK(r->artifact_size == want.artifact_size);
  CHECK(r->spec_digest == want.spec_digest);
  CHECK(r->sequence == want.sequence);
  CHECK(r->issued_at == want.issued_at);
  CHECK(r->expires_at == want.expires_at);
  CHECK(r->key_id == want.key_id);
  want.action = "rollback";
  CHECK(decodeOrderBody(encodeOrderBody(want)).ok());
}

TEST_CASE("codec: an order body carries its leadership epoch, a body without one reads as epoch 0",
          "[protocol][codec]") {
  auto b = sampleBody();
  const std::string without = encodeOrderBody(b);
  auto old = decodeOrderBody(without);
  REQUIRE(old.ok());
  CHECK(old->epoch == 0);
  b.epoch = 42;
  const std::string with = encodeOrderBody(b);
  CHECK(with != without);  // the epoch is inside the signed bytes
  auto r = decodeOrderBody(with);
  REQUIRE(r.ok());
  CHECK(r->epoch == 42);
  CHECK(r->order_id == b.order_id);
}

TEST_CASE("codec: a welcome carries the leadership epoch, one without reads as epoch 0", "[protocol][codec]") {
  Welcome w = sampleWelcome();
  CHECK(coordinatorMessage<Welcome>(encode(w)).epoch == 0);
  w.epoch = 7;
  auto m = coordinatorMessage<Welcome>(encode(w));
  CHECK(m.epoch == 7);
  CHECK(m.server_time_ms == w.server_time_ms);
}

TEST_CASE("codec: order body with an unknown action or a bad app is refused", "[protocol][codec]") {
  auto b = sampleBody();
  b.action = "nuke";
  auto r = decodeOrderBody(encodeOrderBody(b));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kCorrupt);
  CHECK(r.error().message.find("nuke") != std::string::npos);
  b = sampleBody();
  b.app = "../etc";
  CHECK(decodeOrderBody(encodeOrderBody(b)).error().code == Errc::kCorrupt);
  b = sampleBody();
  b.version = "";
  CHECK(decodeOrderBody(encodeOrderBody(b)).error().code == Errc::kCorrupt);
}

TEST_CASE("codec: spec round trip", "[protocol][codec][spec]") {
  auto want = sampleSpec();
  auto bytes = encodeSpec(want);
  auto r = decodeSpec(bytes);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->deploy.before_switch == want.deploy.before_switch);
  CHECK(r->deploy.restart == want.deploy.restart);
  CHECK(r->deploy.hook_timeout == want.deploy.hook_timeout);
  CHECK(r->health.interval == want.health.interval);
  CHECK(r->health.healthy_for == want.health.healthy_for);
  CHECK(r->health.deadline == want.health.deadline);
  REQUIRE(r->health.checks.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(r->health.checks[i].kind == want.health.checks[i].kind);
    CHECK(r->health.checks[i].target == want.health.checks[i].target);
    CHECK(r->health.checks[i].argv == want.health.checks[i].argv);
    CHECK(r->health.checks[i].timeout == want.health.checks[i].timeout);
  }
  // Deterministic: the digest an order commits to depends only on the spec.
  CHECK(encodeSpec(*r) == bytes);
}

TEST_CASE("codec: minimal spec round trip", "[protocol][codec][spec]") {
  OrderSpec s;  // no hooks, no restart, no checks
  auto r = decodeSpec(encodeSpec(s));
  REQUIRE(r.ok());
  CHECK(r->deploy.before_switch.empty());
  CHECK(r->deploy.restart.empty());
  CHECK(r->health.checks.empty());
  CHECK(r->health.interval == s.health.interval);
}

TEST_CASE("codec: invalid specs are refused", "[protocol][codec][spec]") {
  auto refused = [](const OrderSpec& s) {
    auto r = decodeSpec(encodeSpec(s));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::kCorrupt);
  };
  auto s = sampleSpec();
  s.health.checks[2].argv.clear();  // exec without a command
  refused(s);
  s = sampleSpec();
  s.deploy.before_switch.push_back({});  // empty hook
  refused(s);
  s = sampleSpec();
  s.health.interval = 0ms;
  refused(s);
  s = sampleSpec();
  s.health.deadline = -1ms;
  refused(s);
  s = sampleSpec();
  s.health.checks[0].kind = static_cast<HealthCheck::Kind>(3);
  refused(s);
}

TEST_CASE("codec: spec with a hook that is not an array is refused", "[protocol][codec][spec]") {
  // [[[ "x" ], [], 1000], [1000, 1000, 1000, []]] with the hook a bare string.
  auto bytes =
      Raw().array(2).array(3).array(1).str("x").array(0).i(1000).array(4).i(1000).i(1000).i(1000).array(0).bytes();
  auto r = decodeSpec(bytes);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kCorrupt);
}

// ---- strict decoding ----

TEST_CASE("codec: every prefix of every message is refused cleanly", "[protocol][codec][strict]") {
  for (const auto& m : everyAgentMessage()) {
    for (std::size_t n = 0; n < m.size(); ++n) {
      auto r = decodeAgentMessage(std::string_view(m).substr(0, n));
      REQUIRE_FALSE(r.ok());
      REQUIRE(r.error().code == Errc::kCorrupt);
    }
  }
  for (const auto& m : everyCoordinatorMessage()) {
    std::size_t step = m.size() > 4096 ? 7 : 1;
    for (std::size_t n = 0; n < m.size(); n += step) {
      auto r = decodeCoordinatorMessage(std::string_view(m).substr(0, n));
      REQUIRE_FALSE(r.ok());
      REQUIRE(r.error().code == Errc::kCorrupt);
    }
  }
  auto body = encodeOrderBody(sampleBody());
  for (std::size_t n = 0; n < body.size(); ++n) REQUIRE_FALSE(decodeOrderBody(body.substr(0, n)).ok());
  auto spec = encodeSpec(sampleSpec());
  for (std::size_t n = 0; n < spec.size(); ++n) REQUIRE_FALSE(decodeSpec(spec.substr(0, n)).ok());
}

TEST_CASE("codec: empty input is refused", "[protocol][codec][strict]") { allDecodersRefuse(""); }

TEST_CASE("codec: trailing bytes are refused", "[protocol][codec][strict]") {
  for (const auto& m : everyAgentMessage()) {
    auto msg = agentError(m + '\xc0');
    CHECK(msg.find("trailing") != std::string::npos);
    agentError(m + m);
  }
  for (const auto& m : everyCoordinatorMessage()) coordinatorError(m + '\x00');
  CHECK_FALSE(decodeOrderBody(encodeOrderBody(sampleBody()) + '\x01').ok());
  CHECK_FALSE(decodeSpec(encodeSpec(sampleSpec()) + '\x01').ok());
}

TEST_CASE("codec: another protocol version is refused", "[protocol][codec][strict]") {
  auto v2 = Raw().envelope(kProtocolVersion + 1, 4).array(3).str("d").u(0).u(1).bytes();
  CHECK(agentError(v2).find("version") != std::string::npos);
  auto v0 = Raw().envelope(0, 4).array(3).str("d").u(0).u(1).bytes();
  agentError(v0);
  // The same body with the right version decodes: only the version was wrong.
  auto v1 = Raw().envelope(kProtocolVersion, 4).array(3).str("d").u(0).u(1).bytes();
  CHECK(agentMessage<Fetch>(v1).credit == 1);
  auto negative = Raw().array(3).i(-1).u(4).array(3).str("d").u(0).u(1).bytes();
  agentError(negative);
  auto text = Raw().array(3).str("1").u(4).array(3).str("d").u(0).u(1).bytes();
  agentError(text);
}

TEST_CASE("codec: unknown message types are refused", "[protocol][codec][strict]") {
  for (std::uint64_t type : {0ULL, 5ULL, 15ULL, 20ULL, 99ULL, 255ULL, 256ULL, 1ULL << 40}) {
    auto bytes = Raw().envelope(kProtocolVersion, type).array(1).str("x").bytes();
    agentError(bytes);
    coordinatorError(bytes);
  }
}

TEST_CASE("codec: a coordinator-only type sent as an agent message is refused", "[protocol][codec][strict]") {
  for (const auto& m : everyCoordinatorMessage()) CHECK(agentError(m).find("not allowed") != std::string::npos);
}

TEST_CASE("codec: an agent-only type sent as a coordinator message is refused", "[protocol][codec][strict]") {
  for (const auto& m : everyAgentMessage()) CHECK(coordinatorError(m).find("not allowed") != std::string::npos);
}

TEST_CASE("codec: the envelope must be a 3-element array", "[protocol][codec][strict]") {
  agentError(Raw().array(2).u(kProtocolVersion).u(1).bytes());
  agentError(Raw().array(4).u(kProtocolVersion).u(4).array(3).str("d").u(0).u(1).nil().bytes());
  agentError(Raw().map(0).bytes());
  agentError(Raw().str("hello").bytes());
  agentError(Raw().u(1).bytes());
}

TEST_CASE("codec: wrong field counts are refused", "[protocol][codec][strict]") {
  // hello has 5 fields
  auto four = Raw().envelope(kProtocolVersion, 1).array(4).str("a").map(0).map(0).str("t").bytes();
  CHECK(agentError(four).find("fields") != std::string::npos);
  auto six = Raw().envelope(kProtocolVersion, 1).array(6).str("a").map(0).map(0).str("t").str("v").str("x").bytes();
  agentError(six);
  // fetch has 3, refusal 2, chunk 4
  agentError(Raw().envelope(kProtocolVersion, 4).array(2).str("d").u(0).bytes());
  coordinatorError(Raw().envelope(kProtocolVersion, 19).array(0).bytes());
  coordinatorError(Raw().envelope(kProtocolVersion, 19).array(1).str("not enrolled: say hello first").bytes());
  coordinatorError(Raw().envelope(kProtocolVersion, 18).array(3).str("d").u(0).u(0).bytes());
  // a body that is not an array
  agentError(Raw().envelope(kProtocolVersion, 2).map(0).bytes());
  // order body has 13
  Raw body12;
  body12.array(12);
  for (int k = 0; k < 12; ++k) body12.str("x");
  CHECK(decodeOrderBody(body12.bytes()).error().code == Errc::kCorrupt);
}

TEST_CASE("codec: wrong field types are refused", "[protocol][codec][strict]") {
  // hello.agent_id as an integer
  auto bytes = Raw().envelope(kProtocolVersion, 1).array(5).u(7).map(0).map(0).str("t").str("v").bytes();
  CHECK(agentError(bytes).find("string") != std::string::npos);
  // hello.labels as an array
  agentError(Raw().envelope(kProtocolVersion, 1).array(5).str("a").array(0).map(0).str("t").str("v").bytes());
  // a label value that is not a string
  agentError(
      Raw().envelope(kProtocolVersion, 1).array(5).str("a").map(1).str("k").u(1).map(0).str("t").str("v").bytes());
  // report.sequence negative, and as a string
  agentError(Raw()
                 .envelope(kProtocolVersion, 3)
                 .array(8)
                 .str("o")
                 .str("web")
                 .str("1")
                 .i(-1)
                 .u(7)
                 .str("")
                 .str("")
                 .i(0)
                 .bytes());
  agentError(Raw()
                 .envelope(kProtocolVersion, 3)
                 .array(8)
                 .str("o")
                 .str("web")
                 .str("1")
                 .str("1")
                 .u(7)
                 .str("")
                 .str("")
                 .i(0)
                 .bytes());
  // fetch.offset as a boolean
  agentError(Raw().envelope(kProtocolVersion, 4).array(3).str("d").boolean(true).u(1).bytes());
  // order fields as strings instead of bytes
  coordinatorError(Raw().envelope(kProtocolVersion, 17).array(3).str("b").str(std::string(64, 's')).str("x").bytes());
  // chunk data as a string
  coordinatorError(Raw().envelope(kProtocolVersion, 18).array(4).str("d").u(0).u(1).str("data").bytes());
  // welcome.heartbeat_interval_ms as nil
  coordinatorError(Raw().envelope(kProtocolVersion, 16).array(4).u(0).str("").nil().i(0).bytes());
}

TEST_CASE("codec: out-of-range values are refused", "[protocol][codec][strict]") {
  // report phase beyond the last one
  agentError(Raw()
                 .envelope(kProtocolVersion, 3)
                 .array(8)
                 .str("o")
                 .str("web")
                 .str("1")
                 .u(1)
                 .u(13)
                 .str("")
                 .str("")
                 .i(0)
                 .bytes());
  // report at_ms beyond int64
  agentError(Raw()
                 .envelope(kProtocolVersion, 3)
                 .array(8)
                 .str("o")
                 .str("web")
                 .str("1")
                 .u(1)
                 .u(7)
                 .str("")
                 .str("")
                 .u(1ULL << 63)
                 .bytes());
  // welcome status unknown, interval not positive
  coordinatorError(Raw().envelope(kProtocolVersion, 16).array(4).u(2).str("").i(5000).i(0).bytes());
  Welcome w = sampleWelcome();
  w.heartbeat_interval_ms = 0;
  coordinatorError(encode(w));
  // an order signature that is not 64 bytes
  SignedOrder o = sampleOrder();
  o.signature.resize(63);
  coordinatorError(encode(o));
  o.signature.assign(65, 'x');
  coordinatorError(encode(o));
}

TEST_CASE("codec: duplicate map keys are refused", "[protocol][codec][strict]") {
  auto bytes = Raw()
                   .envelope(kProtocolVersion, 2)
                   .array(3)
                   .map(2)
                   .str("web")
                   .str("1")
                   .str("web")
                   .str("2")
                   .map(0)
                   .str("")
                   .bytes();
  CHECK(agentError(bytes).find("duplicate") != std::string::npos);
}

TEST_CASE("codec: fetch credit 0 is refused", "[protocol][codec][strict]") {
  CHECK(agentError(encode(Fetch{"d", 0, 0})).find("credit") != std::string::npos);
  agentError(encode(Fetch{"d", 0, 65}));
  agentError(Raw().envelope(kProtocolVersion, 4).array(3).str("d").u(0).u(1ULL << 32).bytes());
}

TEST_CASE("codec: oversized chunk data is refused", "[protocol][codec][strict]") {
  Chunk c = sampleChunk();
  c.data = std::string(kChunkBytes + 1, 'x');
  CHECK(coordinatorError(encode(c)).find("chunk") != std::string::npos);
  c.data = std::string(2 * kChunkBytes, 'x');
  coordinatorError(encode(c));
}

TEST_CASE("codec: a 5-byte array32 bomb is refused", "[protocol][codec][strict][bomb]") {
  allDecodersRefuse(std::string("\xdd\xff\x00\x00\x00", 5));
  allDecodersRefuse(std::string("\xdd\xff\xff\xff\xff", 5));
  // The same header inside a valid envelope.
  auto inner = Raw().envelope(kProtocolVersion, 1).bytes() + std::string("\xdd\xff\x00\x00\x00", 5);
  agentError(inner);
}

TEST_CASE("codec: map32, str32 and bin32 bombs are refused", "[protocol][codec][strict][bomb]") {
  allDecodersRefuse(std::string("\xdf\xff\xff\xff\xff", 5));
  allDecodersRefuse(std::string("\xdf\x00\x10\x00\x00", 5));
  allDecodersRefuse(std::string("\xdb\xff\xff\xff\xff", 5));
  allDecodersRefuse(std::string("\xc6\xff\xff\xff\xff", 5));
  allDecodersRefuse(std::string("\xc9\xff\xff\xff\xff\x01", 6));  // ext32
  // A hello whose labels map claims 2^32-1 entries.
  auto labels = Raw().envelope(kProtocolVersion, 1).array(5).str("a").bytes() + std::string("\xdf\xff\xff\xff\xff", 5);
  agentError(labels);
}

TEST_CASE("codec: arrays over the element limit are refused even when complete", "[protocol][codec][strict][bomb]") {
  // 5000 nils: a valid msgpack value, over the unpack limit.
  auto bytes = Raw().array(5000).bytes() + std::string(5000, '\xc0');
  allDecodersRefuse(bytes);
}

TEST_CASE("codec: deep nesting is refused", "[protocol][codec][strict][bomb]") {
  std::string nested(100, '\x91');
  nested += '\xc0';
  allDecodersRefuse(nested);
  // Deep nesting inside the body of an otherwise valid envelope.
  std::string body(100, '\x91');
  body += '\xc0';
  agentError(Raw().envelope(kProtocolVersion, 1).bytes() + body);
  // And very deep, with no end.
  allDecodersRefuse(std::string(100000, '\x91'));
}

TEST_CASE("codec: garbage bytes never crash a decoder", "[protocol][codec][strict]") {
  // Every single byte, and every message with one byte flipped: each decodes or
  // is refused as corrupt; nothing throws or crashes.
  for (int c = 0; c < 256; ++c) {
    std::string one(1, static_cast<char>(c));
    CHECK_FALSE(decodeAgentMessage(one).ok());
    CHECK_FALSE(decodeCoordinatorMessage(one).ok());
  }
  auto all = everyAgentMessage();
  for (const auto& m : everyCoordinatorMessage())
    if (m.size() < 4096) all.push_back(m);
  for (const auto& m : all) {
    for (std::size_t i = 0; i < m.size(); ++i) {
      for (unsigned char x : {0x01, 0x80, 0xff}) {
        auto bad = m;
        bad[i] = static_cast<char>(bad[i] ^ x);
        auto a = decodeAgentMessage(bad);
        if (!a.ok()) REQUIRE(a.error().code == Errc::kCorrupt);
        auto c = decodeCoordinatorMessage(bad);
        if (!c.ok()) REQUIRE(c.error().code == Errc::kCorrupt);
      }
    }
  }
}
