#pragma once
// The control protocol between the console (`flotilla`) and the coordinator:
// command names, message types, the rollout states that are final, and every
// request and reply as a struct with nlohmann-json to_json/from_json. Both
// programs use these; docs/protocol.md describes the wire form.
//
// On the wire a request is one JSON object {"req": N, "cmd": ..., "operator":
// ..., fields...} (the client adds "req" and "operator"), a reply is
// {"type": "response", "req": N, "ok": true, fields...} or {..., "ok": false,
// "error": {"code", "message"}}. Optional request fields that are empty are
// left out. Times are RFC 3339 strings, or null when not yet known.
//
// from_json of a request is lenient the way the coordinator always was: a
// missing or non-string text field reads as "", a missing number or bool as
// its default; a number or bool of the wrong type throws nlohmann's
// type_error, which the coordinator answers as a bad request.
//
// from_json of a reply (and of a pushed event or status) is strict, because
// the console prints what it reads: every field the struct carries must be
// present with its JSON type (a nullable one may be null), else it throws
// MalformedReply naming the field. parseReply() turns that into a Result.
// ErrorReply alone stays lenient: a refusal is reported even when mangled.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "flotilla/common/result.h"

namespace flotilla::protocol::control {

// Command names (a request's "cmd").
inline constexpr const char* kAgents = "agents";
inline constexpr const char* kAgentAccept = "agent_accept";
inline constexpr const char* kAgentReject = "agent_reject";
inline constexpr const char* kAgentRevoke = "agent_revoke";
inline constexpr const char* kRollout = "rollout";
inline constexpr const char* kStatus = "status";
inline constexpr const char* kPause = "pause";
inline constexpr const char* kResume = "resume";
inline constexpr const char* kPromote = "promote";
inline constexpr const char* kAbort = "abort";
inline constexpr const char* kRollback = "rollback";
inline constexpr const char* kHistory = "history";
inline constexpr const char* kEvents = "events";
inline constexpr const char* kWatch = "watch";
inline constexpr const char* kMetrics = "metrics";
inline constexpr const char* kPing = "ping";
inline constexpr const char* kAnalysis = "analysis";
inline constexpr const char* kPolicy = "policy";
// Approves a rollout awaiting approval (docs/policy.md "Approvals"); the reply is a RolloutReply.
inline constexpr const char* kApprove = "approve";
// Artifact upload (docs/protocol.md "Artifact upload"): upload_chunk carries
// the chunk's bytes as a second frame after its JSON.
inline constexpr const char* kUploadBegin = "upload_begin";
inline constexpr const char* kUploadChunk = "upload_chunk";
inline constexpr const char* kUploadEnd = "upload_end";

// Message types (a message's "type"): the reply to a request, and what the
// coordinator pushes to a connection that watches a rollout.
inline constexpr const char* kTypeResponse = "response";
inline constexpr const char* kTypeEvent = "event";
inline constexpr const char* kTypeStatus = "status";
inline constexpr const char* kTypeEnd = "end";

// Rollout states that never change again. "refused": a policy gate refused
// it before anything started (recorded so the refusal is in history).
inline constexpr std::array<std::string_view, 5> kTerminalRolloutStates{"succeeded", "failed", "rolled_back", "aborted",
                                                                        "refused"};
bool isTerminalRolloutState(std::string_view state);

// ---------------------------------------------------------------- requests

struct AgentsRequest {};
// cmd: kAgentAccept, kAgentReject or kAgentRevoke.
struct AgentActionRequest {
  std::string cmd;
  std::string id;
};
// The artifact was uploaded before (upload_begin/upload_chunk/upload_end,
// docs/protocol.md); the request names it by digest.
struct RolloutRequest {
  std::string plan;               // TOML text
  std::string plan_name;          // "" = "plan.toml"
  std::string artifact_digest;    // BLAKE2b-256 hex of the uploaded artifact
  std::string release_signature;  // hex, optional
  // The text of the plan's artifact.ci_signature file (protocol/provenance.h);
  // optional: "" (or absent, from an older console) = none.
  std::string ci_signature;
  std::string break_glass;  // the operator's reason to override closed policy gates; "" = none
  // A plan with artifact.url and artifact.file: the console computed
  // artifact_digest (BLAKE2b-256) and this length from the local copy and
  // uploaded nothing. 0 (or absent) otherwise.
  std::uint64_t artifact_size = 0;
};
struct StatusRequest {
  std::string rollout;  // "" = every active rollout
  bool hosts = false;
};
// cmd: kPause, kResume, kPromote or kAbort.
struct RolloutActionRequest {
  std::string cmd;
  std::string rollout;
};
struct RollbackRequest {
  std::string app;
  std::string to;  // "" = the release before the current one
};
struct HistoryRequest {
  std::string app;  // "" = every app
  std::int64_t limit = 50;
};
struct EventsRequest {
  std::string rollout;
  std::int64_t after = 0;  // events with a higher seq
};
struct WatchRequest {
  std::string rollout;
  std::int64_t after = 0;
};
struct MetricsRequest {
  std::string app;  // "" = the fleet and every app
  std::int64_t days = 30;
};
// Announces an artifact; the coordinator answers "stored" or grants an upload.
struct UploadBeginRequest {
  std::string digest;  // BLAKE2b-256 hex of the whole artifact
  std::uint64_t size = 0;
};
// Followed by one frame: the bytes at `offset`.
struct UploadChunkRequest {
  std::string upload_id;
  std::uint64_t offset = 0;
};
struct UploadEndRequest {
  std::string upload_id;
};

// The analysis of a rollout: every wave's verdict, or one wave's (docs/analysis.md).
struct AnalysisRequest {
  std::string rollout;
  std::int64_t wave = -1;  // -1 = every wave
};

// The policy gates now (docs/policy.md); with a plan, each gate's decision for it.
struct ApproveRequest {
  std::string rollout;
};
struct PolicyRequest {
  std::string plan;       // TOML text; "" = every gate
  std::string plan_name;  // for errors
};

// ---------------------------------------------------------------- replies

struct ErrorReply {
  ErrorReply() = default;
  ErrorReply(std::string c, std::string m, std::string l = {})
      : code(std::move(c)), message(std::move(m)), leader(std::move(l)) {}

  std::string code;  // errcName(): invalid_argument, not_found, conflict, ...; "not_leader" from a standby
  std::string message;
  std::string leader;  // with "not_leader": the leader's control endpoint ("" = unknown); absent otherwise
};
inline constexpr const char* kNotLeaderCode = "not_leader";

struct EventDoc {
  std::int64_t seq = 0;
  std::string rollout;
  std::string at;
  std::string kind;
  std::optional<std::string> agent;
  std::optional<int> wave;
  std::string message;
  std::optional<std::string> actor;
  bool operator==(const EventDoc&) const = default;
};

struct WaveDoc {
  std::size_t index = 0, hosts = 0, done = 0, healthy = 0, failed = 0, unreachable = 0;
  std::size_t max_failed = 0, max_unreachable = 0;
  std::string state;
  bool operator==(const WaveDoc&) const = default;
};

struct HostDoc {
  std::string id;
  std::size_t wave = 0;
  std::string state, phase, previous, message;
  bool operator==(const HostDoc&) const = default;
};

// One metric of a wave's verdict, as the judge left it (judge.h). Figures the
// judge could not compute are null.
struct AnalysisMetricDoc {
  std::string metric, verdict, test, tolerance, why;
  bool critical = false, bound_failed = false;
  double weight = 1;
  std::size_t canary_n = 0, baseline_n = 0, outliers = 0;
  std::optional<double> canary, baseline, shift, ci_low, ci_high, p_value, change, max, min;
  bool operator==(const AnalysisMetricDoc&) const = default;
};
struct AnalysisWaveDoc {
  std::int64_t wave = 0;
  bool final = false;             // false: the verdict so far of a wave still sampled
  std::optional<std::string> at;  // when a final verdict was reached
  std::string outcome, reason;    // pass | marginal | fail
  double score = 0;
  std::vector<AnalysisMetricDoc> metrics;
  bool operator==(const AnalysisWaveDoc&) const = default;
};
// The status document of a rollout.
// A rollout's approvals (policy.approvals): those that count now.
struct ApprovalsDoc {
  std::size_t required = 0, have = 0;
  std::vector<std::string> by;  // identities whose approval counts now
  std::string ttl;              // "4h"
  bool operator==(const ApprovalsDoc&) const = default;
};

struct RolloutStatus {
  std::string id, app, version, state, gate;
  std::size_t current_wave = 0;
  std::string submitted_by;
  std::optional<std::string> submitted_at, started_at, finished_at;
  std::string message;
  std::vector<WaveDoc> waves;
  std::optional<std::vector<HostDoc>> hosts;  // only when asked for, while the rollout is active
  // The current wave's verdict so far while it is analysed (pushed to watchers only).
  std::optional<AnalysisWaveDoc> analysis;
  // Present when the rollout needed approvals (policy.approvals).
  std::optional<ApprovalsDoc> approvals;
  bool operator==(const RolloutStatus&) const = default;
};

struct AgentDoc {
  std::string id;
  std::string state;  // online, lost, pending, rejected, revoked
  std::map<std::string, std::string> labels, releases, health;
  std::string key;  // the first 16 hex digits of its CURVE key
  std::optional<std::string> busy, last_seen;
};

struct HistoryEntry {
  std::string id, app, version, state, submitted_by;
  std::optional<std::string> submitted_at, started_at, finished_at;
  std::string message, commit;
  std::optional<std::string> committed_at;
  std::optional<double> duration;  // seconds, once finished
};

struct AgentsReply {
  std::vector<AgentDoc> agents;
};
struct AgentStateReply {
  std::string id, state;
};
// Reply to rollout, status of one rollout, pause/resume/promote/abort and rollback.
struct RolloutReply {
  RolloutStatus rollout;
};
struct RolloutListReply {
  std::vector<RolloutStatus> rollouts;
};
struct HistoryReply {
  std::vector<HistoryEntry> rollouts;
};
struct EventsReply {
  std::vector<EventDoc> events;
};
struct WatchReply {
  RolloutStatus rollout;
  std::vector<EventDoc> events;
  bool finished = false;
};

// The DORA report of a metrics reply (docs/metrics.md). Figures without data
// are null; a band is "elite", "high", "medium", "low" or "n/a".
struct DeploymentFrequencyDoc {
  double per_day = 0;
  std::int64_t deployments = 0;
  std::string band;
  std::int64_t flag_changes = 0;  // of the deployments, flag rollouts (docs/metrics.md); absent = 0
};
struct LeadTimeDoc {
  std::optional<double> median_seconds;
  std::int64_t rollouts = 0, from_submission = 0;
  std::string band;
};
struct ChangeFailureRateDoc {
  std::optional<double> rate;
  std::int64_t failed = 0, finished = 0, aborted = 0;
  std::string band;
  std::int64_t flag_failed = 0;  // of the failures, flag changes; absent = 0
};
struct RecoveryTimeDoc {
  std::optional<double> median_seconds;
  std::int64_t recoveries = 0, unrecovered = 0;
  std::string band;
};
// Deployment rework rate (DORA 2024): no bands.
struct ReworkRateDoc {
  std::optional<double> rate;
  std::int64_t unplanned = 0, deployments = 0;
};
struct DoraScopeDoc {
  DeploymentFrequencyDoc deployment_frequency;
  LeadTimeDoc lead_time;
  ChangeFailureRateDoc change_failure_rate;
  RecoveryTimeDoc recovery_time;
  ReworkRateDoc rework_rate;
};
struct MetricsReply {
  std::optional<std::string> app;  // null = the fleet and every app
  std::int64_t window_days = 0;
  std::string window_start, generated_at;  // RFC 3339
  std::optional<DoraScopeDoc> fleet;       // null when an app was asked for
  std::map<std::string, DoraScopeDoc> apps;
};

struct AnalysisReply {
  std::string rollout, app;
  double pass_score = 0, marginal_score = 0;
  std::vector<AnalysisWaveDoc> waves;
};

// One policy gate's decision now.
struct GateDoc {
  std::string gate;  // "freeze weekend"
  bool open = true;
  bool applies = true;                    // with a plan: the gate covers it
  std::string why;                        // "frozen until Mon 2026-12-07 08:00 CET (07:00 UTC)"
  std::optional<std::string> changes_at;  // RFC 3339 UTC; null = never
  bool operator==(const GateDoc&) const = default;
};
struct PolicyReply {
  std::string now;  // RFC 3339 UTC
  std::vector<GateDoc> gates;
};

// Either the artifact is stored already (nothing to send) or an upload is
// granted: chunks of at most chunk_bytes, at most `credit` unacknowledged.
struct UploadBeginReply {
  bool stored = false;
  std::string upload_id;
  std::uint64_t chunk_bytes = 0;
  std::uint32_t credit = 0;
};
// Bytes of the artifact received in order so far.
struct UploadChunkReply {
  std::uint64_t received = 0;
};
// The artifact is stored under its digest.
struct UploadEndReply {
  std::string digest;
  std::uint64_t size = 0;
};

// What a reply's from_json throws: `field` is the path of the first field
// that is missing or of the wrong type ("rollout.waves[1].hosts").
class MalformedReply : public std::runtime_error {
 public:
  MalformedReply(std::string field, const std::string& problem);
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

using nlohmann::json;

void to_json(json& j, const AgentsRequest& r);
void to_json(json& j, const AgentActionRequest& r);
void from_json(const json& j, AgentActionRequest& r);
void to_json(json& j, const RolloutRequest& r);
void from_json(const json& j, RolloutRequest& r);
void to_json(json& j, const StatusRequest& r);
void from_json(const json& j, StatusRequest& r);
void to_json(json& j, const RolloutActionRequest& r);
void from_json(const json& j, RolloutActionRequest& r);
void to_json(json& j, const RollbackRequest& r);
void from_json(const json& j, RollbackRequest& r);
void to_json(json& j, const HistoryRequest& r);
void from_json(const json& j, HistoryRequest& r);
void to_json(json& j, const EventsRequest& r);
void from_json(const json& j, EventsRequest& r);
void to_json(json& j, const WatchRequest& r);
void from_json(const json& j, WatchRequest& r);
void to_json(json& j, const MetricsRequest& r);
void from_json(const json& j, MetricsRequest& r);
void to_json(json& j, const UploadBeginRequest& r);
void from_json(const json& j, UploadBeginRequest& r);
void to_json(json& j, const UploadChunkRequest& r);
void from_json(const json& j, UploadChunkRequest& r);
void to_json(json& j, const UploadEndRequest& r);
void from_json(const json& j, UploadEndRequest& r);

// {"ok": false, "error": {"code", "message"}}
void to_json(json& j, const ErrorReply& r);
void from_json(const json& j, ErrorReply& r);
void to_json(json& j, const EventDoc& e);
void from_json(const json& j, EventDoc& e);
void to_json(json& j, const WaveDoc& w);
void from_json(const json& j, WaveDoc& w);
void to_json(json& j, const HostDoc& h);
void from_json(const json& j, HostDoc& h);
void to_json(json& j, const RolloutStatus& s);
void from_json(const json& j, RolloutStatus& s);
// A stored status snapshot, read leniently: an older coordinator may have
// left fields out; they read as empty.
RolloutStatus storedRolloutStatus(const json& j);
void to_json(json& j, const AgentDoc& a);
void from_json(const json& j, AgentDoc& a);
void to_json(json& j, const HistoryEntry& h);
void from_json(const json& j, HistoryEntry& h);
void to_json(json& j, const DoraScopeDoc& s);
void from_json(const json& j, DoraScopeDoc& s);
// Replies carry "ok": true (from_json ignores "ok", "type" and "req").
void to_json(json& j, const AgentsReply& r);
void from_json(const json& j, AgentsReply& r);
void to_json(json& j, const AgentStateReply& r);
void from_json(const json& j, AgentStateReply& r);
void to_json(json& j, const RolloutReply& r);
void from_json(const json& j, RolloutReply& r);
void to_json(json& j, const RolloutListReply& r);
void from_json(const json& j, RolloutListReply& r);
void to_json(json& j, const HistoryReply& r);
void from_json(const json& j, HistoryReply& r);
void to_json(json& j, const EventsReply& r);
void from_json(const json& j, EventsReply& r);
void to_json(json& j, const WatchReply& r);
void from_json(const json& j, WatchReply& r);
void to_json(json& j, const MetricsReply& r);
void from_json(const json& j, MetricsReply& r);
void to_json(json& j, const ApproveRequest& r);
void from_json(const json& j, ApproveRequest& r);
void to_json(json& j, const ApprovalsDoc& r);
void from_json(const json& j, ApprovalsDoc& r);
void to_json(json& j, const PolicyRequest& r);
void from_json(const json& j, PolicyRequest& r);
void to_json(json& j, const GateDoc& r);
void from_json(const json& j, GateDoc& r);
void to_json(json& j, const PolicyReply& r);
void from_json(const json& j, PolicyReply& r);
void to_json(json& j, const AnalysisRequest& r);
void from_json(const json& j, AnalysisRequest& r);
void to_json(json& j, const AnalysisMetricDoc& r);
void from_json(const json& j, AnalysisMetricDoc& r);
void to_json(json& j, const AnalysisWaveDoc& r);
void from_json(const json& j, AnalysisWaveDoc& r);
void to_json(json& j, const AnalysisReply& r);
void from_json(const json& j, AnalysisReply& r);
void to_json(json& j, const UploadBeginReply& r);
void from_json(const json& j, UploadBeginReply& r);
void to_json(json& j, const UploadChunkReply& r);
void from_json(const json& j, UploadChunkReply& r);
void to_json(json& j, const UploadEndReply& r);
void from_json(const json& j, UploadEndReply& r);

// Reads a reply or a pushed message into T without throwing: kCorrupt
// "unexpected reply from the coordinator: <field>: <problem>" when it does
// not have T's shape.
template <typename T>
Result<T> parseReply(const json& j) {
  try {
    return j.get<T>();
  } catch (const MalformedReply& e) {
    return Error(Errc::kCorrupt, std::string("unexpected reply from the coordinator: ") + e.what());
  } catch (const json::exception& e) {
    return Error(Errc::kCorrupt, std::string("unexpected reply from the coordinator: ") + e.what());
  }
}

}  // namespace flotilla::protocol::control
