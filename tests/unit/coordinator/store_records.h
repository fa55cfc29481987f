#pragma once
// Records and checks shared by the store tests (store_contract.h,
// sqlite_store_test.cpp): sample agents, rollouts and events, and REQUIREs
// that print a failed Result's message.

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include "flotilla/coordinator/store.h"

namespace store_records {

using flotilla::coordinator::AgentRecord;
using flotilla::coordinator::AppRecord;
using flotilla::coordinator::EventRecord;
using flotilla::coordinator::ReleaseRecord;
using flotilla::coordinator::RolloutHostRecord;
using flotilla::coordinator::RolloutRecord;
using flotilla::coordinator::SampleRecord;
using flotilla::coordinator::Store;
using flotilla::coordinator::TokenRecord;
using flotilla::coordinator::VerdictRecord;

template <typename T>
T valueOf(flotilla::Result<T> r) {
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return std::move(*r);
}

inline void ok(const flotilla::Status& st) {
  INFO((st ? std::string() : st.error().message));
  REQUIRE(st.ok());
}

inline AgentRecord agent(const std::string& id) {
  AgentRecord a;
  a.id = id;
  a.curve_key = std::string(64, 'a');
  a.state = "accepted";
  a.labels = {{"role", "web"}, {"dc", "par1"}};
  a.releases = {{"web", "1.0"}};
  a.first_seen_ms = 1000;
  a.last_seen_ms = 2000;
  return a;
}

inline RolloutRecord rolloutRecord(const std::string& id, const std::string& app, std::int64_t submitted_at_ms) {
  RolloutRecord r;
  r.id = id;
  r.app = app;
  r.version = "2.0";
  r.state = "running";
  r.plan_name = app + ".toml";
  r.artifact_digest = std::string(64, 'd');
  r.submitted_by = "op-1";
  r.submitted_at_ms = submitted_at_ms;
  r.started_at_ms = submitted_at_ms + 1;
  r.commit = "9f2c1ab";
  r.snapshot = "{}";
  r.plan_text = "app = \"" + app + "\"\n";
  return r;
}

inline EventRecord event(const std::string& rollout_id, const std::string& kind, int wave, std::int64_t at_ms) {
  EventRecord e;
  e.rollout_id = rollout_id;
  e.kind = kind;
  e.wave = wave;
  e.at_ms = at_ms;
  return e;
}

}  // namespace store_records
