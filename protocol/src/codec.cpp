#include "codec_fields.h"
#include "flotilla/protocol/artifact_source.h"
#include "flotilla/protocol/flag_app.h"

#include <limits>

namespace flotilla::protocol {
namespace {

using namespace codec;  // NOLINT(google-build-using-namespace): the codec's own building blocks

// ---- bodies ----

void packBody(Packer& p, const Hello& m) {
  p.pack_array(5);
  packStr(p, m.agent_id);
  packMap(p, m.labels);
  packMap(p, m.releases);
  packStr(p, m.join_token);
  packStr(p, m.agent_version);
}
Hello readHello(const msgpack::object& o) {
  FieldReader r(o, 5, "hello");
  Hello m;
  m.agent_id = r.str();
  m.labels = r.map();
  m.releases = r.map();
  m.join_token = r.str();
  m.agent_version = r.str();
  return m;
}

void packBody(Packer& p, const Heartbeat& m) {
  p.pack_array(3);
  packMap(p, m.releases);
  p.pack_map(static_cast<std::uint32_t>(m.health.size()));
  for (const auto& [app, state] : m.health) {
    packStr(p, app);
    packStr(p, toString(state));
  }
  packStr(p, m.busy);
}
Heartbeat readHeartbeat(const msgpack::object& o) {
  FieldReader r(o, 3, "heartbeat");
  Heartbeat m;
  m.releases = r.map();
  // A health word from a newer agent reads as unknown, which no rollout acts on.
  for (auto& [app, word] : r.map()) m.health.emplace(app, healthStateFromString(word));
  m.busy = r.str();
  return m;
}

void packBody(Packer& p, const Report& m) {
  p.pack_array(8);
  packStr(p, m.order_id);
  packStr(p, m.app);
  packStr(p, m.version);
  p.pack_uint64(m.sequence);
  p.pack_uint8(static_cast<std::uint8_t>(m.phase));
  packStr(p, m.message);
  packStr(p, m.live_version);
  p.pack_int64(m.at_ms);
}
Report readReport(const msgpack::object& o) {
  FieldReader r(o, 8, "report");
  Report m;
  m.order_id = r.str();
  m.app = r.str();
  m.version = r.str();
  m.sequence = r.u64();
  auto phase = r.u64();
  if (phase > static_cast<std::uint64_t>(Phase::kRefused)) r.fail("unknown phase " + std::to_string(phase));
  m.phase = static_cast<Phase>(phase);
  m.message = r.str();
  m.live_version = r.str();
  m.at_ms = r.i64();
  return m;
}

void packBody(Packer& p, const Fetch& m) {
  p.pack_array(3);
  packStr(p, m.digest);
  p.pack_uint64(m.offset);
  p.pack_uint32(m.credit);
}
Fetch readFetch(const msgpack::object& o) {
  FieldReader r(o, 3, "fetch");
  Fetch m;
  m.digest = r.str();
  m.offset = r.u64();
  auto credit = r.u64();
  if (credit == 0 || credit > 64) r.fail("credit must be 1..64");
  m.credit = static_cast<std::uint32_t>(credit);
  return m;
}

void packBody(Packer& p, const Welcome& m) {
  p.pack_array(m.epoch != 0 ? 5 : 4);
  p.pack_uint8(static_cast<std::uint8_t>(m.status));
  packStr(p, m.message);
  p.pack_int64(m.heartbeat_interval_ms);
  p.pack_int64(m.server_time_ms);
  if (m.epoch != 0) p.pack_uint64(m.epoch);
}
Welcome readWelcome(const msgpack::object& o) {
  FieldReader r(o, 4, 5, "welcome");
  Welcome m;
  auto status = r.u64();
  if (status > 1) r.fail("unknown status");
  m.status = static_cast<WelcomeStatus>(status);
  m.message = r.str();
  m.heartbeat_interval_ms = r.i64();
  m.server_time_ms = r.i64();
  if (r.more()) m.epoch = r.u64();
  if (m.heartbeat_interval_ms <= 0) r.fail("heartbeat interval must be positive");
  return m;
}

void packBody(Packer& p, const SignedOrder& m) {
  p.pack_array(3);
  packBin(p, m.body);
  packBin(p, m.signature);
  packBin(p, m.spec);
}
SignedOrder readSignedOrder(const msgpack::object& o) {
  FieldReader r(o, 3, "order");
  SignedOrder m;
  m.body = r.bin();
  m.signature = r.bin();
  m.spec = r.bin();
  if (m.signature.size() != 64) r.fail("signature must be 64 bytes");
  return m;
}

void packBody(Packer& p, const Chunk& m) {
  p.pack_array(4);
  packStr(p, m.digest);
  p.pack_uint64(m.offset);
  p.pack_uint64(m.total);
  packBin(p, m.data);
}
Chunk readChunk(const msgpack::object& o) {
  FieldReader r(o, 4, "chunk");
  Chunk m;
  m.digest = r.str();
  m.offset = r.u64();
  m.total = r.u64();
  m.data = r.bin();
  if (m.data.size() > kChunkBytes) r.fail("chunk larger than " + std::to_string(kChunkBytes));
  return m;
}

// The code travels as its word, so a newer coordinator's code reads as kUnknown
// here instead of failing the whole message.
void packBody(Packer& p, const Refusal& m) {
  p.pack_array(2);
  packStr(p, toString(m.code));
  packStr(p, m.detail);
}
Refusal readRefusal(const msgpack::object& o) {
  FieldReader r(o, 2, "refusal");
  Refusal m;
  m.code = refusalCodeFromString(r.str());
  m.detail = r.str();
  return m;
}

void packBody(Packer& p, const Rotation& m) {
  p.pack_array(4);
  packBin(p, m.old_key);
  packBin(p, m.new_key);
  p.pack_int64(m.issued_at);
  packBin(p, m.signature);
}
Rotation readRotation(const msgpack::object& o) {
  FieldReader r(o, 4, "rotation");
  Rotation m;
  m.old_key = r.bin();
  m.new_key = r.bin();
  m.issued_at = r.i64();
  m.signature = r.bin();
  if (m.old_key.size() != 32 || m.new_key.size() != 32) r.fail("keys must be 32 bytes");
  if (m.signature.size() != 64) r.fail("signature must be 64 bytes");
  return m;
}

// Splits [version, type, body] and checks the version.
std::pair<MsgType, const msgpack::object*> openEnvelope(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 3)
    throw DecodeError("envelope: expected [version, type, body]");
  const auto& ver = o.via.array.ptr[0];
  const auto& type = o.via.array.ptr[1];
  if (ver.type != msgpack::type::POSITIVE_INTEGER || ver.via.u64 != kProtocolVersion)
    throw DecodeError("envelope: unsupported protocol version");
  if (type.type != msgpack::type::POSITIVE_INTEGER || type.via.u64 > 255)
    throw DecodeError("envelope: bad message type");
  return {static_cast<MsgType>(type.via.u64), &o.via.array.ptr[2]};
}

// A message whose body packBody() above writes.
template <typename M>
std::string encodeMessage(MsgType type, const M& m) {
  return encodeEnvelope(type, [&](Packer& p) { packBody(p, m); });
}

void packHealthCheck(Packer& p, const HealthCheck& c) {
  p.pack_array(4);
  p.pack_uint8(static_cast<std::uint8_t>(c.kind));
  packStr(p, c.target);
  packArgv(p, c.argv);
  packMillis(p, c.timeout);
}

}  // namespace

const char* toString(Phase p) {
  switch (p) {
    case Phase::kAccepted:
      return "accepted";
    case Phase::kFetching:
      return "fetching";
    case Phase::kStaging:
      return "staging";
    case Phase::kBeforeSwitch:
      return "before_switch";
    case Phase::kSwitching:
      return "switching";
    case Phase::kRestarting:
      return "restarting";
    case Phase::kProbation:
      return "probation";
    case Phase::kHealthy:
      return "healthy";
    case Phase::kReverting:
      return "reverting";
    case Phase::kReverted:
      return "reverted";
    case Phase::kFailed:
      return "failed";
    case Phase::kRevertFailed:
      return "revert_failed";
    case Phase::kRefused:
      return "refused";
  }
  return "unknown";
}

bool isTerminal(Phase p) {
  return p == Phase::kHealthy || p == Phase::kReverted || p == Phase::kFailed || p == Phase::kRevertFailed ||
         p == Phase::kRefused;
}

std::string encode(const Hello& m) { return encodeMessage(MsgType::kHello, m); }
std::string encode(const Heartbeat& m) { return encodeMessage(MsgType::kHeartbeat, m); }
std::string encode(const Report& m) { return encodeMessage(MsgType::kReport, m); }
std::string encode(const Fetch& m) { return encodeMessage(MsgType::kFetch, m); }
std::string encode(const Welcome& m) { return encodeMessage(MsgType::kWelcome, m); }
std::string encode(const SignedOrder& m) { return encodeMessage(MsgType::kOrder, m); }
std::string encode(const Chunk& m) { return encodeMessage(MsgType::kChunk, m); }
std::string encode(const Refusal& m) { return encodeMessage(MsgType::kRefusal, m); }
std::string encode(const Rotation& m) { return encodeMessage(MsgType::kRotation, m); }

std::string rotationStatement(const Rotation& r) {
  return "flotilla-rotate-v1\n" + r.old_key + r.new_key + std::to_string(r.issued_at) + "\n";
}

Result<AgentMessage> decodeAgentMessage(std::string_view bytes) {
  return guarded([&]() -> Result<AgentMessage> {
    auto h = unpackWhole(bytes);
    auto [type, body] = openEnvelope(h.get());
    switch (type) {
      case MsgType::kHello:
        return AgentMessage(readHello(*body));
      case MsgType::kHeartbeat:
        return AgentMessage(readHeartbeat(*body));
      case MsgType::kReport:
        return AgentMessage(readReport(*body));
      case MsgType::kFetch:
        return AgentMessage(readFetch(*body));
      case MsgType::kSamples:
        return AgentMessage(readSamples(*body));
      default:
        break;
    }
    throw DecodeError("message type " + std::to_string(static_cast<int>(type)) + " is not allowed from an agent");
  });
}

Result<CoordinatorMessage> decodeCoordinatorMessage(std::string_view bytes) {
  return guarded([&]() -> Result<CoordinatorMessage> {
    auto h = unpackWhole(bytes);
    auto [type, body] = openEnvelope(h.get());
    switch (type) {
      case MsgType::kWelcome:
        return CoordinatorMessage(readWelcome(*body));
      case MsgType::kOrder:
        return CoordinatorMessage(readSignedOrder(*body));
      case MsgType::kChunk:
        return CoordinatorMessage(readChunk(*body));
      case MsgType::kRefusal:
        return CoordinatorMessage(readRefusal(*body));
      case MsgType::kRotation:
        return CoordinatorMessage(readRotation(*body));
      case MsgType::kSampleRequest:
        return CoordinatorMessage(readSampleRequest(*body));
      default:
        break;
    }
    throw DecodeError("message type " + std::to_string(static_cast<int>(type)) + " is not allowed from a coordinator");
  });
}

std::string releaseStatement(const std::string& app, const std::string& version, const std::string& digest,
                             std::uint64_t size) {
  return "flotilla-release-v1\n" + app + "\n" + version + "\n" + digest + "\n" + std::to_string(size) + "\n";
}

namespace {

// An order body's first fields, and its fields with the artifact's URL and digest algorithm appended.
// 14 fields: every body before epochs and artifact URLs. 15: with the
// leadership epoch. 17: with the epoch (0 when the coordinator leads alone)
// and the artifact URL fields.
constexpr std::uint32_t kOrderBodyFields = 14;
constexpr std::uint32_t kOrderBodyFieldsWithEpoch = 15;
constexpr std::uint32_t kOrderBodyFieldsWithUrl = 17;

void readUrlFields(FieldReader& r, OrderBody& b) {
  b.artifact_url = r.str();
  const std::string name = r.str();
  auto algorithm = digestAlgorithmFromName(name);
  if (!algorithm) r.fail("unknown artifact digest algorithm '" + name + "'");
  b.artifact_digest_algorithm = *algorithm;
  if (!b.artifact_url.empty()) {
    if (auto st = checkArtifactUrl(b.artifact_url); !st.ok()) r.fail("artifact_url: " + st.error().message);
    if (b.artifact_digest.empty()) r.fail("an artifact_url needs an artifact_digest");
  } else if (b.artifact_digest_algorithm != common::DigestAlgorithm::kBlake2b256) {
    r.fail("an artifact from the coordinator is named by BLAKE2b-256");
  }
}

}  // namespace

std::string encodeOrderBody(const OrderBody& b) {
  msgpack::sbuffer buf;
  Packer p(buf);
  // The fields after the first 14 are written only when they say something,
  // so an order of an uploaded artifact stays readable by agents that predate them.
  const bool url_fields =
      !b.artifact_url.empty() || b.artifact_digest_algorithm != common::DigestAlgorithm::kBlake2b256;
  p.pack_array(url_fields ? kOrderBodyFieldsWithUrl : b.epoch != 0 ? kOrderBodyFieldsWithEpoch : kOrderBodyFields);
  packStr(p, b.order_id);
  packStr(p, b.target);
  packStr(p, b.rollout_id);
  packStr(p, b.app);
  packStr(p, b.version);
  packStr(p, b.action);
  packStr(p, b.artifact_digest);
  p.pack_uint64(b.artifact_size);
  packStr(p, b.spec_digest);
  p.pack_uint64(b.sequence);
  p.pack_int64(b.issued_at);
  p.pack_int64(b.expires_at);
  packStr(p, b.key_id);
  packStr(p, b.release_signature);
  if (b.epoch != 0 || url_fields) p.pack_uint64(b.epoch);
  if (url_fields) {
    packStr(p, b.artifact_url);
    packStr(p, digestAlgorithmName(b.artifact_digest_algorithm));
  }
  return finish(buf);
}

Result<OrderBody> decodeOrderBody(std::string_view bytes) {
  return guarded([&]() -> Result<OrderBody> {
    auto h = unpackWhole(bytes);
    FieldReader r(h.get(), kOrderBodyFields, kOrderBodyFieldsWithUrl, "order body");
    OrderBody b;
    b.order_id = r.str();
    b.target = r.str();
    b.rollout_id = r.str();
    b.app = r.str();
    b.version = r.str();
    b.action = r.str();
    b.artifact_digest = r.str();
    b.artifact_size = r.u64();
    b.spec_digest = r.str();
    b.sequence = r.u64();
    b.issued_at = r.i64();
    b.expires_at = r.i64();
    b.key_id = r.str();
    b.release_signature = r.str();
    if (r.more()) {
      b.epoch = r.u64();
      if (r.more())
        readUrlFields(r, b);
      else if (b.epoch == 0)
        r.fail("epoch 0 is sent as no epoch field");
    }
    if (!b.release_signature.empty() &&
        (b.release_signature.size() != 128 ||
         b.release_signature.find_first_not_of("0123456789abcdef") != std::string::npos))
      r.fail("release_signature must be empty or 128 hex characters");
    if (b.action != "deploy" && b.action != "rollback") r.fail("unknown action '" + b.action + "'");
    // Digests name files on the host: exactly 64 lowercase hex characters
    // (a rollback to a release already on disk may name none).
    auto isDigest = [](const std::string& d) {
      return d.size() == 64 && d.find_first_not_of("0123456789abcdef") == std::string::npos;
    };
    if (!(isDigest(b.artifact_digest) || (b.artifact_digest.empty() && b.action == "rollback")))
      r.fail("artifact_digest must be 64 lowercase hex characters");
    if (!isDigest(b.spec_digest)) r.fail("spec_digest must be 64 lowercase hex characters");
    if (!validOrderApp(b.app)) r.fail("invalid app name");
    if (!validVersion(b.version)) r.fail("invalid version");
    return b;
  });
}

std::string encodeSpec(const OrderSpec& s) {
  msgpack::sbuffer buf;
  Packer p(buf);
  p.pack_array(2);
  // deploy
  p.pack_array(3);
  p.pack_array(static_cast<std::uint32_t>(s.deploy.before_switch.size()));
  for (const auto& argv : s.deploy.before_switch) packArgv(p, argv);
  packArgv(p, s.deploy.restart);
  packMillis(p, s.deploy.hook_timeout);
  // health
  p.pack_array(4);
  packMillis(p, s.health.interval);
  packMillis(p, s.health.healthy_for);
  packMillis(p, s.health.deadline);
  p.pack_array(static_cast<std::uint32_t>(s.health.checks.size()));
  for (const auto& c : s.health.checks) packHealthCheck(p, c);
  return finish(buf);
}

Result<OrderSpec> decodeSpec(std::string_view bytes) {
  return guarded([&]() -> Result<OrderSpec> {
    auto h = unpackWhole(bytes);
    FieldReader top(h.get(), 2, "spec");
    OrderSpec s;
    FieldReader deploy(top.next(), 3, "spec.deploy");
    const auto& hooks = deploy.next();
    if (hooks.type != msgpack::type::ARRAY) deploy.fail("before_switch: expected an array");
    for (std::uint32_t i = 0; i < hooks.via.array.size; ++i) {
      FieldReader one(hooks.via.array.ptr[i],
                      hooks.via.array.ptr[i].type == msgpack::type::ARRAY ? hooks.via.array.ptr[i].via.array.size : 0,
                      "spec.deploy.before_switch");
      std::vector<std::string> argv;
      for (std::uint32_t j = 0; j < hooks.via.array.ptr[i].via.array.size; ++j) argv.push_back(one.str());
      if (argv.empty()) deploy.fail("before_switch: empty command");
      s.deploy.before_switch.push_back(std::move(argv));
    }
    s.deploy.restart = deploy.strings();
    s.deploy.hook_timeout = deploy.millis();
    FieldReader health(top.next(), 4, "spec.health");
    s.health.interval = health.millis();
    s.health.healthy_for = health.millis();
    s.health.deadline = health.millis();
    const auto& checks = health.next();
    if (checks.type != msgpack::type::ARRAY) health.fail("checks: expected an array");
    for (std::uint32_t i = 0; i < checks.via.array.size; ++i) {
      FieldReader c(checks.via.array.ptr[i], 4, "spec.health.check");
      HealthCheck hc;
      auto kind = c.u64();
      if (kind > static_cast<std::uint64_t>(HealthCheck::Kind::kExec)) c.fail("unknown check kind");
      hc.kind = static_cast<HealthCheck::Kind>(kind);
      hc.target = c.str();
      hc.argv = c.strings();
      hc.timeout = c.millis();
      if (hc.kind == HealthCheck::Kind::kExec && hc.argv.empty()) c.fail("exec check without a command");
      s.health.checks.push_back(std::move(hc));
    }
    if (s.health.interval.count() <= 0) health.fail("interval must be positive");
    return s;
  });
}

}  // namespace flotilla::protocol
