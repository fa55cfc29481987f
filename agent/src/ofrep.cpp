#include "flotilla/agent/ofrep.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "flotilla/flags/evaluator.h"
#include "flotilla/flags/js_value.h"
#include "flotilla/flags/json_logic.h"

namespace flotilla::agent {

namespace {

using Json = nlohmann::json;

// The body {"context": {...}} nests one level above the context, which the
// evaluator takes no deeper than LogicLimits::maxDepth. Checked on the text,
// before anything recursive (parse, dump for the ETag, copies) walks it: a
// 64 KB body of brackets would otherwise overflow a server thread's stack.
constexpr int kMaxBodyDepth = flags::LogicLimits{}.maxDepth + 1;

// The request's context with `$flotilla` set; an error naming what is wrong with the body.
Result<Json> contextOf(std::string_view body, std::string_view app, const OfrepHost& host) {
  Json context = Json::object();
  if (body.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    if (flags::jsonTextDeeperThan(body, kMaxBodyDepth))
      return Error(Errc::kInvalidArgument,
                   "the request body nests deeper than " + std::to_string(kMaxBodyDepth) + " levels");
    Json doc = Json::parse(body, nullptr, false);
    if (doc.is_discarded()) return Error(Errc::kInvalidArgument, "the request body is not JSON");
    if (!doc.is_object()) return Error(Errc::kInvalidArgument, "the request body is not a JSON object");
    if (auto it = doc.find("context"); it != doc.end() && !it->is_null()) {
      if (!it->is_object()) return Error(Errc::kInvalidArgument, "context is not a JSON object");
      context = std::move(*it);
    }
  }
  context["$flotilla"] = {{"host", host.agent_id}, {"labels", host.labels}, {"app", std::string(app)}};
  return context;
}

Json freshness(const LiveFlagSet* set, const OfrepNow& now) {
  return {{"flotillaFlagSetVersion", set ? set->version : std::string()},
          {"flotillaFlagSetAgeSeconds", set ? now.set_age_seconds : 0},
          {"flotillaCoordinatorSilentSeconds", now.coordinator_silent_s}};
}

Json withFreshness(const Json& metadata, const Json& fresh) {
  Json out = metadata.is_object() ? metadata : Json::object();
  for (const auto& [k, v] : fresh.items()) out[k] = v;
  return out;
}

const char* errorCodeOf(flags::ErrorCode code) {
  switch (code) {
    case flags::ErrorCode::kFlagNotFound:
      return "FLAG_NOT_FOUND";
    case flags::ErrorCode::kParseError:
      return "PARSE_ERROR";
    default:
      return "GENERAL";
  }
}

// One flag's evaluation as OFREP spells it; `status` its HTTP status when alone.
Json itemOf(std::string_view key, const flags::Resolution& r, const Json& fresh, int& status) {
  Json out = {{"key", std::string(key)}};
  if (r.reason == flags::Reason::kError) {
    out["errorCode"] = errorCodeOf(r.errorCode);
    out["errorDetails"] = r.errorMessage;
    status = r.errorCode == flags::ErrorCode::kFlagNotFound ? 404 : 400;
  } else {
    if (r.value) out["value"] = *r.value;
    out["reason"] = flags::reasonName(r.reason);
    if (r.variant) out["variant"] = *r.variant;
    status = 200;
  }
  out["metadata"] = withFreshness(r.metadata, fresh);
  return out;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// A quoted strong ETag for the set's version and the whole context (FNV-1a, 64 bits).
std::string etagOf(const LiveFlagSet* set, const Json& context) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(set ? set->version : std::string());
  mix("\n");
  mix(dump(context));
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return "\"" + std::string(buf) + "\"";
}

// If-None-Match: a list of ETags, or "*".
bool matches(std::string_view if_none_match, const std::string& etag) {
  while (!if_none_match.empty()) {
    auto comma = if_none_match.find(',');
    std::string_view one = if_none_match.substr(0, comma);
    if_none_match = comma == std::string_view::npos ? std::string_view() : if_none_match.substr(comma + 1);
    const auto b = one.find_first_not_of(" \t");
    if (b == std::string_view::npos) continue;
    one = one.substr(b, one.find_last_not_of(" \t") - b + 1);
    if (one.substr(0, 2) == "W/") one.remove_prefix(2);
    if (one == "*" || one == etag) return true;
  }
  return false;
}

}  // namespace

OfrepReply evaluateOne(const LiveFlagSet* set, std::string_view app, std::string_view key, std::string_view body,
                       const OfrepHost& host, const OfrepNow& now) {
  const Json fresh = freshness(set, now);
  OfrepReply reply;
  auto context = contextOf(body, app, host);
  if (!context) {
    reply.status = 400;
    reply.body = dump({{"key", std::string(key)},
                       {"errorCode", "INVALID_CONTEXT"},
                       {"errorDetails", context.error().message},
                       {"metadata", fresh}});
    return reply;
  }
  if (!set) {
    reply.status = 404;
    reply.body = dump({{"key", std::string(key)},
                       {"errorCode", "FLAG_NOT_FOUND"},
                       {"errorDetails", "app " + std::string(app) + " has no flag set on this host"},
                       {"metadata", fresh}});
    return reply;
  }
  flags::EvaluationRequest request;
  request.flagKey = key;
  request.context = &*context;
  request.timestampSeconds = now.unix_seconds;
  const auto r = flags::evaluateFlag(set->set, request);
  reply.body = dump(itemOf(key, r, fresh, reply.status));
  reply.evaluations = 1;
  return reply;
}

OfrepReply evaluateAll(const LiveFlagSet* set, std::string_view app, std::string_view body,
                       std::string_view if_none_match, const OfrepHost& host, const OfrepNow& now) {
  const Json fresh = freshness(set, now);
  OfrepReply reply;
  auto context = contextOf(body, app, host);
  if (!context) {
    reply.status = 400;
    reply.body = dump({{"errorCode", "INVALID_CONTEXT"}, {"errorDetails", context.error().message}});
    return reply;
  }
  reply.etag = etagOf(set, *context);
  if (matches(if_none_match, reply.etag)) {
    reply.status = 304;
    return reply;
  }
  Json items = Json::array();
  if (set) {
    for (const auto& [key, flag] : set->set.flags()) {
      flags::EvaluationRequest request;
      request.flagKey = key;
      request.context = &*context;
      request.timestampSeconds = now.unix_seconds;
      int ignored = 0;
      items.push_back(itemOf(key, flags::evaluateFlag(set->set, request), fresh, ignored));
      ++reply.evaluations;
    }
  }
  reply.body = dump({{"flags", std::move(items)}, {"metadata", fresh}});
  return reply;
}

}  // namespace flotilla::agent
