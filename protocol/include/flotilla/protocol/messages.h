#pragma once
// The agent <-> coordinator wire protocol (docs/protocol.md).
//
// Every message is one ZeroMQ frame holding one msgpack array
//   [protocol_version, type, body]
// where body is a fixed-length msgpack array whose layout is given by `type`.
// Decoding is strict: unpack limits on sizes and depth, exact array lengths,
// exact types, no trailing bytes, and dispatch only for the types listed here.
// This file is pure: no sockets, threads or clocks, so it can be fuzzed.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/plan.h"
#include "flotilla/protocol/words.h"

namespace flotilla::protocol {

inline constexpr std::uint32_t kProtocolVersion = 1;
// Largest frame accepted on the agent socket (ZMQ_MAXMSGSIZE): a chunk plus headers.
inline constexpr std::size_t kChunkBytes = 256 * 1024;
inline constexpr std::int64_t kMaxAgentFrameBytes = 1024 * 1024;

enum class MsgType : std::uint8_t {
  // agent -> coordinator
  kHello = 1,
  kHeartbeat = 2,
  kReport = 3,
  kFetch = 4,
  kSamples = 5,
  // coordinator -> agent
  kWelcome = 16,
  kOrder = 17,
  kChunk = 18,
  kRefusal = 19,
  kRotation = 20,
  kSampleRequest = 21,
};

using StringMap = std::map<std::string, std::string>;

struct Hello {
  std::string agent_id;
  StringMap labels;
  StringMap releases;  // app -> live version
  std::string join_token;
  std::string agent_version;
};

using HealthMap = std::map<std::string, HealthState>;

struct Heartbeat {
  StringMap releases;  // app -> live version
  HealthMap health;    // app -> health; on the wire the state's word (words.h)
  std::string busy;    // order id in hand, empty when idle
};

// What happened to an order. Terminal phases end the order.
enum class Phase : std::uint8_t {
  kAccepted = 0,  // verified, queued
  kFetching = 1,
  kStaging = 2,  // digest checked, extracting
  kBeforeSwitch = 3,
  kSwitching = 4,
  kRestarting = 5,
  kProbation = 6,
  kHealthy = 7,  // terminal, success: the new release is live and healthy
  kReverting = 8,
  kReverted = 9,       // terminal, failure: the previous release is live again
  kFailed = 10,        // terminal, failure before the switch: nothing changed
  kRevertFailed = 11,  // terminal, failure: could not restore the previous release
  kRefused = 12,       // terminal: the order failed verification; nothing changed
};
const char* toString(Phase p);
bool isTerminal(Phase p);

struct Report {
  std::string order_id;
  std::string app;
  std::string version;
  std::uint64_t sequence = 0;
  Phase phase = Phase::kAccepted;
  std::string message;
  std::string live_version;  // the app's live release on the host after this phase
  std::int64_t at_ms = 0;    // unix milliseconds, host clock
};

// Ask for `credit` chunks of the artifact with `digest` starting at `offset`
// (credit-based flow control: the agent never has more than its window in flight).
struct Fetch {
  std::string digest;
  std::uint64_t offset = 0;
  std::uint32_t credit = 1;
};

enum class WelcomeStatus : std::uint8_t { kAccepted = 0, kPending = 1 };
struct Welcome {
  WelcomeStatus status = WelcomeStatus::kAccepted;
  std::string message;
  std::int64_t heartbeat_interval_ms = 5000;
  std::int64_t server_time_ms = 0;
  // The leadership epoch of the coordinator that answered (docs/ha.md); 0 when
  // it leads alone (SQLite store). Encoded only when not 0.
  std::uint64_t epoch = 0;
};

// What the coordinator signs. Compact: digests, not bodies.
struct OrderBody {
  std::string order_id;
  std::string target;  // agent id
  std::string rollout_id;
  std::string app;
  std::string version;
  std::string action;           // "deploy" | "rollback"
  std::string artifact_digest;  // BLAKE2b-256 hex
  std::uint64_t artifact_size = 0;
  std::string spec_digest;        // BLAKE2b-256 hex of the OrderSpec bytes
  std::uint64_t sequence = 0;     // per-app, strictly increasing
  std::int64_t issued_at = 0;     // unix seconds
  std::int64_t expires_at = 0;    // unix seconds
  std::string key_id;             // which plan key signed it
  std::string release_signature;  // hex Ed25519 by an offline release key, "" = unsigned
  // The leadership epoch of the coordinator that signed it (docs/ha.md); 0 =
  // no leadership (SQLite store). Signed with the rest; encoded only when not
  // 0, so a coordinator without a lease sends the bodies it always did.
  std::uint64_t epoch = 0;
  // After the epoch (codec.cpp): a body without these names an artifact
  // fetched from the coordinator by its BLAKE2b-256.
  // "" = fetched from the coordinator; else the agent downloads it from this
  // http(s) URL itself (docs/artifacts.md).
  std::string artifact_url;
  // What made artifact_digest: BLAKE2b-256, or SHA-256 for a URL artifact whose store names it so.
  common::DigestAlgorithm artifact_digest_algorithm = common::DigestAlgorithm::kBlake2b256;
};

// What an offline release key signs: the app, version and exact artifact.
std::string releaseStatement(const std::string& app, const std::string& version, const std::string& digest,
                             std::uint64_t size);

// An order on the wire: the exact signed bytes, the signature, and the spec
// (deploy + health) the body's spec_digest commits to.
struct SignedOrder {
  std::string body;       // msgpack OrderBody
  std::string signature;  // 64 bytes Ed25519 over kOrderDomain + body
  std::string spec;       // msgpack OrderSpec
};
inline constexpr std::string_view kOrderDomain = "flotilla-order-v1\n";

struct Chunk {
  std::string digest;
  std::uint64_t offset = 0;
  std::uint64_t total = 0;
  std::string data;
};

// The coordinator would not act on an agent's message. The agent acts on
// `code` only; `detail` is for people (logs), never parsed.
struct Refusal {
  RefusalCode code = RefusalCode::kUnknown;
  std::string detail;
};

// "The plan key `old_key` hands over to `new_key`", signed by old_key. Agents
// pinning old_key move their pin to new_key; nothing else can change the pin.
struct Rotation {
  std::string old_key;         // 32 bytes
  std::string new_key;         // 32 bytes
  std::int64_t issued_at = 0;  // unix seconds
  std::string signature;       // 64 bytes Ed25519 over rotationStatement(...)
};
std::string rotationStatement(const Rotation& r);

// The part of a plan a host executes.
struct OrderSpec {
  DeploySpec deploy;
  HealthSpec health;
};

// One metric an agent samples for analysis: what AnalysisMetric says of a
// scrape source, with the URL still holding host variables ("${PORT}").
struct ScrapeMetric {
  std::string name;
  std::string url;
  std::uint8_t kind = 0;  // AnalysisMetric::Kind: rate, gauge or histogram
  std::string series;
  std::string per;
  double quantile = 0.99;
};

// "Sample these metrics of `app` every interval for `duration_ms` from now,
// for this rollout's wave." A request replaces any earlier one for the same
// app; duration 0 stops sampling the app. Sent to canary hosts once they
// report probation and to baseline hosts (still on the previous release) when
// the wave's analysis window opens. The agent reads loopback URLs only.
struct SampleRequest {
  std::string rollout_id;
  std::string app;
  std::uint32_t wave = 0;
  std::string role;  // "canary" | "baseline"
  std::int64_t interval_ms = 10000;
  std::int64_t duration_ms = 0;
  std::vector<ScrapeMetric> metrics;
};

// One sample: a metric's value over the interval that ended at `at_ms`.
// For rates, `num` and `den` are the counts behind it (the increase of the
// counters, and of `per`'s counters or the interval's seconds without one), so
// the judge can test summed counts when they are near zero.
struct Sample {
  std::string metric;
  std::int64_t at_ms = 0;  // unix milliseconds, host clock
  double value = 0;
  double num = 0;
  double den = 0;
};

// A batch of samples for one request, plus the scrapes that failed so far
// (a failed scrape is a missing sample, counted).
struct Samples {
  std::string rollout_id;
  std::string app;
  std::uint32_t wave = 0;
  std::string role;
  std::vector<Sample> samples;
  std::uint32_t failed_scrapes = 0;
};
// Most samples in one Samples message (the agent sends more in several).
inline constexpr std::size_t kMaxSamplesPerBatch = 512;

using AgentMessage = std::variant<Hello, Heartbeat, Report, Fetch, Samples>;
using CoordinatorMessage = std::variant<Welcome, SignedOrder, Chunk, Refusal, Rotation, SampleRequest>;

std::string encode(const Hello& m);
std::string encode(const Heartbeat& m);
std::string encode(const Report& m);
std::string encode(const Fetch& m);
std::string encode(const Welcome& m);
std::string encode(const SignedOrder& m);
std::string encode(const Chunk& m);
std::string encode(const Refusal& m);
std::string encode(const Rotation& m);
std::string encode(const SampleRequest& m);
std::string encode(const Samples& m);

// Untrusted bytes in; a message or a kCorrupt error saying what was wrong.
Result<AgentMessage> decodeAgentMessage(std::string_view bytes);
Result<CoordinatorMessage> decodeCoordinatorMessage(std::string_view bytes);

std::string encodeOrderBody(const OrderBody& body);
Result<OrderBody> decodeOrderBody(std::string_view bytes);
std::string encodeSpec(const OrderSpec& spec);
Result<OrderSpec> decodeSpec(std::string_view bytes);

}  // namespace flotilla::protocol
