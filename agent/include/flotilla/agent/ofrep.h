#pragma once
// The OpenFeature Remote Evaluation Protocol (OFREP, open-feature/protocol
// service/openapi.yaml) over one app's live flag set: request body in,
// status, JSON body and ETag out. The HTTP server (ofrep_server.h) routes
//   POST {base}/ofrep/v1/evaluate/flags/{key}  -> evaluateOne
//   POST {base}/ofrep/v1/evaluate/flags        -> evaluateAll
// with base = http://HOST:PORT/apps/APP, since one agent serves every app on
// its host.
//
// The context a rule sees is the request's `context` plus `$flotilla`: {"host":
// agent id, "labels": {the agent's labels}, "app": APP}, which replaces any
// `$flotilla` the request sent (targeting such as {"var":
// "$flotilla.labels.zone"} reads this host's truth). Every response's metadata
// (the flag's, or the bulk response's) carries how fresh the set is:
// flotillaFlagSetVersion, flotillaFlagSetAgeSeconds (since it was applied on
// this host) and flotillaCoordinatorSilentSeconds (0 while the agent has a
// session with the coordinator).
//
// Statuses as OFREP says: 200 with {key, value, reason, variant, metadata}
// (no value when the caller's code default applies: a disabled flag, or no
// default variant); 404 {key, errorCode: FLAG_NOT_FOUND, errorDetails} for an
// unknown flag or an app without a flag set; 400 {key, errorCode, errorDetails}
// for a body that is not {"context": {...}} (INVALID_CONTEXT) or a rule that
// fails (GENERAL). Bulk: 200 {flags: [...], metadata} with an ETag (the set's
// version and the context), 304 with no body when If-None-Match carries it,
// 400 {errorCode, errorDetails} for a bad body.
//
// Pure: no I/O, no clock (the caller passes the times); any thread.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "flotilla/agent/flag_store.h"

namespace flotilla::agent {

// Who this host is, for `$flotilla`.
struct OfrepHost {
  std::string agent_id;
  std::map<std::string, std::string> labels;
};

// The freshness and time of one request.
struct OfrepNow {
  std::int64_t unix_seconds = 0;          // $flagd.timestamp
  std::int64_t set_age_seconds = 0;       // since the live set was applied
  std::int64_t coordinator_silent_s = 0;  // 0 while in session
};

struct OfrepReply {
  int status = 200;
  std::string body;  // JSON; empty for 304
  std::string etag;  // bulk 200 and 304 only, quoted
  std::uint64_t evaluations = 0;
};

// `set` is the app's live flag set, null when it has none.
OfrepReply evaluateOne(const LiveFlagSet* set, std::string_view app, std::string_view key, std::string_view body,
                       const OfrepHost& host, const OfrepNow& now);
OfrepReply evaluateAll(const LiveFlagSet* set, std::string_view app, std::string_view body,
                       std::string_view if_none_match, const OfrepHost& host, const OfrepNow& now);

}  // namespace flotilla::agent
