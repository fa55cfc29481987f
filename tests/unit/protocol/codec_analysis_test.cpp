// SampleRequest and Samples on the wire (messages.h): round trips, the
// direction each may travel, and strict refusals of out-of-range fields.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <msgpack.hpp>

#include "flotilla/protocol/messages.h"

using flotilla::Errc;
using namespace flotilla::protocol;

namespace {

SampleRequest request() {
  SampleRequest q;
  q.rollout_id = "web-7";
  q.app = "web";
  q.wave = 1;
  q.role = "baseline";
  q.interval_ms = 10000;
  q.duration_ms = 120000;
  q.metrics.push_back({"error_ratio", "http://127.0.0.1:${PORT}/metrics", 0, R"(http_requests_total{code=~"5.."})",
                       "http_requests_total", 0.99});
  q.metrics.push_back({"latency", "http://127.0.0.1:${PORT}/metrics", 2, "http_request_duration_seconds", "", 0.9});
  return q;
}

Samples samples() {
  Samples m;
  m.rollout_id = "web-7";
  m.app = "web";
  m.wave = 1;
  m.role = "canary";
  m.samples.push_back({"error_ratio", 1700000000000, 0.02, 2, 100});
  m.samples.push_back({"latency", 1700000000500, std::numeric_limits<double>::quiet_NaN(), 0, 0});
  m.failed_scrapes = 3;
  return m;
}

// The body of `frame` replaced by `edit(body)`, re-encoded.
template <typename Edit>
std::string rewrite(const std::string& frame, Edit edit) {
  auto h = msgpack::unpack(frame.data(), frame.size());
  msgpack::object o = h.get();
  std::vector<msgpack::object> fields(o.via.array.ptr[2].via.array.ptr,
                                      o.via.array.ptr[2].via.array.ptr + o.via.array.ptr[2].via.array.size);
  edit(fields);
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  p.pack_array(3);
  p.pack(o.via.array.ptr[0]);
  p.pack(o.via.array.ptr[1]);
  p.pack_array(static_cast<std::uint32_t>(fields.size()));
  for (const auto& f : fields) p.pack(f);
  return std::string(buf.data(), buf.size());
}

}  // namespace

TEST_CASE("a sample request round-trips and only a coordinator may send it", "[protocol][codec][analysis]") {
  const auto q = request();
  const std::string frame = encode(q);
  auto m = decodeCoordinatorMessage(frame);
  REQUIRE(m.ok());
  const auto* got = std::get_if<SampleRequest>(&*m);
  REQUIRE(got != nullptr);
  CHECK(got->rollout_id == q.rollout_id);
  CHECK(got->app == "web");
  CHECK(got->wave == 1);
  CHECK(got->role == "baseline");
  CHECK(got->interval_ms == 10000);
  CHECK(got->duration_ms == 120000);
  REQUIRE(got->metrics.size() == 2);
  CHECK(got->metrics[0].url == q.metrics[0].url);
  CHECK(got->metrics[0].series == q.metrics[0].series);
  CHECK(got->metrics[0].per == "http_requests_total");
  CHECK(got->metrics[1].kind == 2);
  CHECK(got->metrics[1].quantile == Approx(0.9));
  auto wrong_way = decodeAgentMessage(frame);
  REQUIRE_FALSE(wrong_way.ok());
  CHECK(wrong_way.error().code == Errc::kCorrupt);
}

TEST_CASE("samples round-trip, NaN included, and only an agent may send them", "[protocol][codec][analysis]") {
  const auto s = samples();
  const std::string frame = encode(s);
  auto m = decodeAgentMessage(frame);
  REQUIRE(m.ok());
  const auto* got = std::get_if<Samples>(&*m);
  REQUIRE(got != nullptr);
  CHECK(got->role == "canary");
  CHECK(got->failed_scrapes == 3);
  REQUIRE(got->samples.size() == 2);
  CHECK(got->samples[0].metric == "error_ratio");
  CHECK(got->samples[0].at_ms == 1700000000000);
  CHECK(got->samples[0].value == Approx(0.02));
  CHECK(got->samples[0].num == 2);
  CHECK(got->samples[0].den == 100);
  CHECK(std::isnan(got->samples[1].value));
  CHECK_FALSE(decodeCoordinatorMessage(frame).ok());
}

TEST_CASE("out-of-range analysis fields are refused", "[protocol][codec][analysis]") {
  SECTION("a role other than canary or baseline") {
    auto s = samples();
    s.role = "other";
    CHECK_FALSE(decodeAgentMessage(encode(s)).ok());
  }
  SECTION("an empty or long metric name") {
    auto s = samples();
    s.samples[0].metric = "";
    CHECK_FALSE(decodeAgentMessage(encode(s)).ok());
    s.samples[0].metric = std::string(65, 'm');
    CHECK_FALSE(decodeAgentMessage(encode(s)).ok());
  }
  SECTION("more samples than a batch holds") {
    auto s = samples();
    s.samples.assign(kMaxSamplesPerBatch + 1, s.samples[0]);
    auto r = decodeAgentMessage(encode(s));
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("more than"));
  }
  SECTION("an interval too short, a negative duration, a kind or quantile out of range") {
    auto q = request();
    q.interval_ms = 10;
    CHECK_FALSE(decodeCoordinatorMessage(encode(q)).ok());
    q = request();
    q.duration_ms = -1;
    CHECK_FALSE(decodeCoordinatorMessage(encode(q)).ok());
    q = request();
    q.metrics[0].kind = 3;
    CHECK_FALSE(decodeCoordinatorMessage(encode(q)).ok());
    q = request();
    q.metrics[1].quantile = 1;
    CHECK_FALSE(decodeCoordinatorMessage(encode(q)).ok());
  }
  SECTION("a field of the wrong type") {
    const std::string frame = rewrite(encode(samples()), [](std::vector<msgpack::object>& f) {
      f[2] = msgpack::object(true);  // wave as a boolean
    });
    CHECK_FALSE(decodeAgentMessage(frame).ok());
  }
}
