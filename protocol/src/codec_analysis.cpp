// The analysis messages on the wire (messages.h, docs/protocol.md):
// SampleRequest (coordinator -> agent) and Samples (agent -> coordinator).
#include "codec_fields.h"

namespace flotilla::protocol {
namespace codec {
namespace {

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

// A wave index, bounded like the engine's.
std::uint32_t readWave(FieldReader& r) {
  auto wave = r.u64();
  if (wave > 100000) r.fail("wave out of range");
  return static_cast<std::uint32_t>(wave);
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
}  // namespace

SampleRequest readSampleRequest(const msgpack::object& o) {
  FieldReader r(o, 7, "sample request");
  SampleRequest m;
  m.rollout_id = r.str();
  m.app = r.str();
  m.wave = readWave(r);
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

Samples readSamples(const msgpack::object& o) {
  FieldReader r(o, 6, "samples");
  Samples m;
  m.rollout_id = r.str();
  m.app = r.str();
  m.wave = readWave(r);
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

}  // namespace codec

std::string encode(const SampleRequest& m) {
  return codec::encodeEnvelope(MsgType::kSampleRequest, [&](codec::Packer& p) { codec::packBody(p, m); });
}
std::string encode(const Samples& m) {
  return codec::encodeEnvelope(MsgType::kSamples, [&](codec::Packer& p) { codec::packBody(p, m); });
}

}  // namespace flotilla::protocol
