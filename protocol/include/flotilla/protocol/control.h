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

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

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

// Message types (a message's "type"): the reply to a request, and what the
// coordinator pushes to a connection that watches a rollout.
inline constexpr const char* kTypeResponse = "response";
inline constexpr const char* kTypeEvent = "event";
inline constexpr const char* kTypeStatus = "status";
inline constexpr const char* kTypeEnd = "end";

// Rollout states that never change again.
inline constexpr std::array<std::string_view, 4> kTerminalRolloutStates{"succeeded", "failed", "rolled_back",
                                                                        "aborted"};
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

// ---------------------------------------------------------------- replies

struct ErrorReply {
  std::string code;  // errcName(): invalid_argument, not_found, conflict, ...
  std::string message;
};

struct EventDoc {
  std::int64_t seq = 0;
  std::string rollout;
  std::string at;
  std::string kind;
  std::optional<std::string> agent;
  std::optional<int> wave;
  std::string message;
  std::optional<std::string> actor;
};

struct WaveDoc {
  std::size_t index = 0, hosts = 0, done = 0, healthy = 0, failed = 0, unreachable = 0;
  std::size_t max_failed = 0, max_unreachable = 0;
  std::string state;
};

struct HostDoc {
  std::string id;
  std::size_t wave = 0;
  std::string state, phase, previous, message;
};

// The status document of a rollout.
struct RolloutStatus {
  std::string id, app, version, state, gate;
  std::size_t current_wave = 0;
  std::string submitted_by;
  std::optional<std::string> submitted_at, started_at, finished_at;
  std::string message;
  std::vector<WaveDoc> waves;
  std::optional<std::vector<HostDoc>> hosts;  // only when asked for, while the rollout is active
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
void to_json(json& j, const AgentDoc& a);
void to_json(json& j, const HistoryEntry& h);
// Replies carry "ok": true.
void to_json(json& j, const AgentsReply& r);
void to_json(json& j, const AgentStateReply& r);
void to_json(json& j, const RolloutReply& r);
void to_json(json& j, const RolloutListReply& r);
void to_json(json& j, const HistoryReply& r);
void to_json(json& j, const EventsReply& r);
void to_json(json& j, const WatchReply& r);

}  // namespace flotilla::protocol::control
