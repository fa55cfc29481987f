#include <msgpack.hpp>

#include <limits>
#include <stdexcept>

#include "flotilla/protocol/messages.h"

namespace flotilla::protocol {
namespace {

// Unpack limits: no legitimate message has more than a few thousand elements
// or nests deeper than a handful of levels. These stop size bombs (an array
// header claiming 2^32 elements) before anything is allocated.
const msgpack::unpack_limit kLimits(/*array=*/4096, /*map=*/1024, /*str=*/1 << 20,
                                    /*bin=*/1 << 20, /*ext=*/0, /*depth=*/8);

// Thrown only inside this file; converted to Error at the decode boundary.
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using Packer = msgpack::packer<msgpack::sbuffer>;

void packStr(Packer& p, std::string_view s) {
  p.pack_str(static_cast<std::uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}
void packBin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<std::uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<std::uint32_t>(s.size()));
}
void packMap(Packer& p, const StringMap& m) {
  p.pack_map(static_cast<std::uint32_t>(m.size()));
  for (const auto& [k, v] : m) {
    packStr(p, k);
    packStr(p, v);
  }
}
void packArgv(Packer& p, const std::vector<std::string>& argv) {
  p.pack_array(static_cast<std::uint32_t>(argv.size()));
  for (const auto& a : argv) packStr(p, a);
}
void packMillis(Packer& p, common::Millis d) { p.pack_int64(d.count()); }

// Reads the fields of one fixed-length msgpack array in order.
class FieldReader {
 public:
  FieldReader(const msgpack::object& o, std::size_t expected, const char* what) : what_(what) {
    if (o.type != msgpack::type::ARRAY) fail("expected an array");
    if (o.via.array.size != expected)
      fail("expected " + std::to_string(expected) + " fields, got " + std::to_string(o.via.array.size));
    arr_ = o.via.array.ptr;
    size_ = o.via.array.size;
  }

  const msgpack::object& next() {
    if (pos_ >= size_) fail("missing field");
    return arr_[pos_++];
  }
  std::string str() {
    const auto& o = next();
    if (o.type != msgpack::type::STR) fail(fieldName() + ": expected a string");
    return std::string(o.via.str.ptr, o.via.str.size);
  }
  std::string bin() {
    const auto& o = next();
    if (o.type != msgpack::type::BIN) fail(fieldName() + ": expected bytes");
    return std::string(o.via.bin.ptr, o.via.bin.size);
  }
  std::uint64_t u64() {
    const auto& o = next();
    if (o.type != msgpack::type::POSITIVE_INTEGER) fail(fieldName() + ": expected an unsigned integer");
    return o.via.u64;
  }
  std::int64_t i64() {
    const auto& o = next();
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
      if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(fieldName() + ": integer out of range");
      return static_cast<std::int64_t>(o.via.u64);
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    fail(fieldName() + ": expected an integer");
  }
  double f64() {
    const auto& o = next();
    if (o.type == msgpack::type::FLOAT64 || o.type == msgpack::type::FLOAT32) return o.via.f64;
    if (o.type == msgpack::type::POSITIVE_INTEGER) return static_cast<double>(o.via.u64);
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return static_cast<double>(o.via.i64);
    fail(fieldName() + ": expected a number");
  }
  // The elements of an array field, at most `max_size`.
  std::pair<const msgpack::object*, std::size_t> array(std::size_t max_size) {
    const auto& o = next();
    if (o.type != msgpack::type::ARRAY) fail(fieldName() + ": expected an array");
    if (o.via.array.size > max_size) fail(fieldName() + ": more than " + std::to_string(max_size) + " elements");
    return {o.via.array.ptr, o.via.array.size};
  }
  bool boolean() {
    const auto& o = next();
    if (o.type != msgpack::type::BOOLEAN) fail(fieldName() + ": expected a boolean");
    return o.via.boolean;
  }
  StringMap map() {
    const auto& o = next();
    if (o.type != msgpack::type::MAP) fail(fieldName() + ": expected a map");
    StringMap m;
    for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
      const auto& kv = o.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR || kv.val.type != msgpack::type::STR)
        fail(fieldName() + ": map entries must be strings");
      std::string key(kv.key.via.str.ptr, kv.key.via.str.size);
      if (!m.emplace(std::move(key), std::string(kv.val.via.str.ptr, kv.val.via.str.size)).second)
        fail(fieldName() + ": duplicate key");
    }
    return m;
  }
  std::vector<std::string> strings() {
    const auto& o = next();
    if (o.type != msgpack::type::ARRAY) fail(fieldName() + ": expected an array of strings");
    std::vector<std::string> out;
    out.reserve(o.via.array.size);
    for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
      const auto& e = o.via.array.ptr[i];
      if (e.type != msgpack::type::STR) fail(fieldName() + ": expected an array of strings");
      out.emplace_back(e.via.str.ptr, e.via.str.size);
    }
    return out;
  }
  common::Millis millis() {
    auto v = i64();
    if (v < 0) fail(fieldName() + ": negative duration");
    return common::Millis(v);
  }

  [[noreturn]] void fail(const std::string& msg) const { throw DecodeError(std::string(what_) + ": " + msg); }

 private:
  std::string fieldName() const { return "field " + std::to_string(pos_ - 1); }

  const char* what_;
  const msgpack::object* arr_ = nullptr;
  std::size_t size_ = 0;
  std::size_t pos_ = 0;
};

// Unpacks exactly one msgpack value that spans all of `bytes`.
msgpack::object_handle unpackWhole(std::string_view bytes) {
  std::size_t off = 0;
  msgpack::object_handle h;
  try {
    h = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, kLimits);
  } catch (const msgpack::insufficient_bytes&) {
    throw DecodeError("truncated message");
  } catch (const std::bad_alloc&) {
    throw DecodeError("message too large");
  } catch (const std::exception& e) {
    throw DecodeError(std::string("malformed msgpack: ") + e.what());
  }
  if (off != bytes.size())
    throw DecodeError("trailing bytes after message (" + std::to_string(bytes.size() - off) + ")");
  return h;
}

template <typename Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const DecodeError& e) {
    return Error(Errc::kCorrupt, e.what());
  } catch (const std::exception& e) {
    return Error(Errc::kCorrupt, std::string("malformed message: ") + e.what());
  }
}

// Starts an envelope [version, type, body...]; the caller packs the body array.
Packer& begin(msgpack::sbuffer& buf, Packer& p, MsgType type) {
  (void)buf;
  p.pack_array(3);
  p.pack_uint32(kProtocolVersion);
  p.pack_uint8(static_cast<std::uint8_t>(type));
  return p;
}

std::string finish(const msgpack::sbuffer& buf) { return std::string(buf.data(), buf.size()); }

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
  p.pack_array(4);
  p.pack_uint8(static_cast<std::uint8_t>(m.status));
  packStr(p, m.message);
  p.pack_int64(m.heartbeat_interval_ms);
  p.pack_int64(m.server_time_ms);
}
Welcome readWelcome(const msgpack::object& o) {
  FieldReader r(o, 4, "welcome");
  Welcome m;
  auto status = r.u64();
  if (status > 1) r.fail("unknown status");
  m.status = static_cast<WelcomeStatus>(status);
  m.message = r.str();
  m.heartbeat_interval_ms = r.i64();
  m.server_time_ms = r.i64();
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

// Analysis: what to sample, and samples. Metric names and roles are checked
// here so neither side ever handles an empty or oversized one.
constexpr std::size_t kMaxSampleMetrics = 64;

std::string checkedName(FieldReader& r, std::string s, const char* what) {
  if (s.empty() || s.size() > 64) r.fail(std::string(what) + " must be 1-64 bytes");
  return s;
}
std::string checkedRole(FieldReader& r, std::string s) {
  if (s != "canary" && s != "baseline") r.fail("role must be canary or baseline");
  return s;
}

void packBody(Packer& p, const SampleRequest& m) {
  p.pack_array(7);
  packStr(p, m.rollout_id);
  packStr(p, m.app);
  p.pack_uint32(m.wave);
  packStr(p, m.role);
  p.pack_int64(m.interval_ms);
  p.pack_int64(m.duration_ms);
  p.pack_array(static_cast<std::uint32_t>(m.metrics.size()));
  for (const auto& x : m.metrics) {
    p.pack_array(6);
    packStr(p, x.name);
    packStr(p, x.url);
    p.pack_uint8(x.kind);
    packStr(p, x.series);
    packStr(p, x.per);
    p.pack_double(x.quantile);
  }
}
SampleRequest readSampleRequest(const msgpack::object& o) {
  FieldReader r(o, 7, "sample request");
  SampleRequest m;
  m.rollout_id = r.str();
  m.app = r.str();
  auto wave = r.u64();
  if (wave > 100000) r.fail("wave out of range");
  m.wave = static_cast<std::uint32_t>(wave);
  m.role = checkedRole(r, r.str());
  m.interval_ms = r.i64();
  if (m.interval_ms < 100 || m.interval_ms > 3600 * 1000) r.fail("interval must be 100 ms to 1 h");
  m.duration_ms = r.i64();
  if (m.duration_ms < 0 || m.duration_ms > 7 * 24 * 3600 * 1000LL) r.fail("duration must be 0 to 7 days");
  auto [items, count] = r.array(kMaxSampleMetrics);
  for (std::size_t i = 0; i < count; ++i) {
    FieldReader mr(items[i], 6, "sample request metric");
    ScrapeMetric x;
    x.name = checkedName(mr, mr.str(), "metric name");
    x.url = mr.str();
    auto kind = mr.u64();
    if (kind > 2) mr.fail("kind must be rate, gauge or histogram");
    x.kind = static_cast<std::uint8_t>(kind);
    x.series = mr.str();
    x.per = mr.str();
    x.quantile = mr.f64();
    if (!(x.quantile > 0 && x.quantile < 1)) mr.fail("quantile must be in (0, 1)");
    m.metrics.push_back(std::move(x));
  }
  return m;
}

void packBody(Packer& p, const Samples& m) {
  p.pack_array(6);
  packStr(p, m.rollout_id);
  packStr(p, m.app);
  p.pack_uint32(m.wave);
  packStr(p, m.role);
  p.pack_array(static_cast<std::uint32_t>(m.samples.size()));
  for (const auto& x : m.samples) {
    p.pack_array(5);
    packStr(p, x.metric);
    p.pack_int64(x.at_ms);
    p.pack_double(x.value);
    p.pack_double(x.num);
    p.pack_double(x.den);
  }
  p.pack_uint32(m.failed_scrapes);
}
Samples readSamples(const msgpack::object& o) {
  FieldReader r(o, 6, "samples");
  Samples m;
  m.rollout_id = r.str();
  m.app = r.str();
  auto wave = r.u64();
  if (wave > 100000) r.fail("wave out of range");
  m.wave = static_cast<std::uint32_t>(wave);
  m.role = checkedRole(r, r.str());
  auto [items, count] = r.array(kMaxSamplesPerBatch);
  m.samples.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    FieldReader sr(items[i], 5, "sample");
    Sample x;
    x.metric = checkedName(sr, sr.str(), "metric name");
    x.at_ms = sr.i64();
    x.value = sr.f64();
    x.num = sr.f64();
    x.den = sr.f64();
    m.samples.push_back(std::move(x));
  }
  auto failed = r.u64();
  if (failed > std::numeric_limits<std::uint32_t>::max()) r.fail("failed_scrapes out of range");
  m.failed_scrapes = static_cast<std::uint32_t>(failed);
  return m;
}

template <typename M>
std::string encodeEnvelope(MsgType type, const M& m) {
  msgpack::sbuffer buf;
  Packer p(buf);
  begin(buf, p, type);
  packBody(p, m);
  return finish(buf);
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

std::string encode(const Hello& m) { return encodeEnvelope(MsgType::kHello, m); }
std::string encode(const Heartbeat& m) { return encodeEnvelope(MsgType::kHeartbeat, m); }
std::string encode(const Report& m) { return encodeEnvelope(MsgType::kReport, m); }
std::string encode(const Fetch& m) { return encodeEnvelope(MsgType::kFetch, m); }
std::string encode(const Welcome& m) { return encodeEnvelope(MsgType::kWelcome, m); }
std::string encode(const SignedOrder& m) { return encodeEnvelope(MsgType::kOrder, m); }
std::string encode(const Chunk& m) { return encodeEnvelope(MsgType::kChunk, m); }
std::string encode(const Refusal& m) { return encodeEnvelope(MsgType::kRefusal, m); }
std::string encode(const Rotation& m) { return encodeEnvelope(MsgType::kRotation, m); }
std::string encode(const SampleRequest& m) { return encodeEnvelope(MsgType::kSampleRequest, m); }
std::string encode(const Samples& m) { return encodeEnvelope(MsgType::kSamples, m); }

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

std::string encodeOrderBody(const OrderBody& b) {
  msgpack::sbuffer buf;
  Packer p(buf);
  p.pack_array(14);
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
  return finish(buf);
}

Result<OrderBody> decodeOrderBody(std::string_view bytes) {
  return guarded([&]() -> Result<OrderBody> {
    auto h = unpackWhole(bytes);
    FieldReader r(h.get(), 14, "order body");
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
    if (!validAppName(b.app)) r.fail("invalid app name");
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
