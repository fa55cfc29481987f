// The control protocol's flag commands and their documents (control_flags.h).
#include "flotilla/protocol/control_flags.h"

#include "reply_fields.h"

namespace flotilla::protocol::control {
namespace {

using detail::Fields;

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void putIfSet(json& j, const char* key, const std::string& v) {
  if (!v.empty()) j[key] = v;
}

json nullable(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

void readFlag(const Fields& f, FlagDoc& d) {
  d.key = f.str("key");
  d.state = f.str("state");
  d.default_variant = f.optStr("default_variant");
  d.variants = f.strings("variants");
  d.targeted = f.boolean("targeted");
  d.killed = f.boolean("killed");
}

void readVersion(const Fields& f, FlagVersionDoc& d) {
  d.version = f.str("version");
  d.hosts = f.count("hosts");
}

void readHost(const Fields& f, FlagHostDoc& d) {
  d.host = f.str("host");
  d.version = f.str("version");
}

void readHistory(const Fields& f, FlagHistoryEntry& e) {
  e.id = f.str("id");
  e.kind = f.str("kind");
  e.version = f.str("version");
  e.state = f.str("state");
  e.submitted_by = f.str("submitted_by");
  e.submitted_at = f.optStr("submitted_at");
  e.finished_at = f.optStr("finished_at");
  e.message = f.str("message");
  e.added = f.strings("added");
  e.removed = f.strings("removed");
  e.changed = f.strings("changed");
}

}  // namespace

void to_json(json& j, const FlagsPushRequest& r) {
  j = {{"cmd", kFlagsPush}, {"app", r.app}, {"flags", r.flags}, {"waves", r.waves}};
  putIfSet(j, "source", r.source);
  putIfSet(j, "bake", r.bake);
  putIfSet(j, "break_glass", r.break_glass);
}
void from_json(const json& j, FlagsPushRequest& r) {
  r.app = text(j, "app");
  r.flags = text(j, "flags");
  r.source = text(j, "source");
  r.bake = text(j, "bake");
  r.break_glass = text(j, "break_glass");
  r.waves.clear();
  if (auto it = j.find("waves"); it != j.end()) r.waves = it->get<std::vector<std::string>>();
}

void to_json(json& j, const FlagsKillRequest& r) {
  j = {{"cmd", kFlagsKill}, {"app", r.app}, {"flag", r.flag}};
  putIfSet(j, "variant", r.variant);
}
void from_json(const json& j, FlagsKillRequest& r) {
  r.app = text(j, "app");
  r.flag = text(j, "flag");
  r.variant = text(j, "variant");
}

void to_json(json& j, const FlagsShowRequest& r) {
  j = {{"cmd", kFlagsShow}, {"app", r.app}};
  putIfSet(j, "host", r.host);
}
void from_json(const json& j, FlagsShowRequest& r) {
  r.app = text(j, "app");
  r.host = text(j, "host");
}

void to_json(json& j, const FlagsHistoryRequest& r) {
  j = {{"cmd", kFlagsHistory}, {"app", r.app}, {"limit", r.limit}};
}
void from_json(const json& j, FlagsHistoryRequest& r) {
  r.app = text(j, "app");
  r.limit = j.value("limit", std::int64_t{50});
}

void to_json(json& j, const FlagDoc& d) {
  j = {{"key", d.key},           {"state", d.state},       {"default_variant", nullable(d.default_variant)},
       {"variants", d.variants}, {"targeted", d.targeted}, {"killed", d.killed}};
}
void from_json(const json& j, FlagDoc& d) { readFlag(Fields(j, "", true), d); }

void to_json(json& j, const FlagVersionDoc& d) { j = {{"version", d.version}, {"hosts", d.hosts}}; }
void from_json(const json& j, FlagVersionDoc& d) { readVersion(Fields(j, "", true), d); }

void to_json(json& j, const FlagHostDoc& d) { j = {{"host", d.host}, {"version", d.version}}; }
void from_json(const json& j, FlagHostDoc& d) { readHost(Fields(j, "", true), d); }

void to_json(json& j, const FlagsShowReply& r) {
  j = {{"ok", true},       {"app", r.app},    {"version", r.version}, {"versions", r.versions},
       {"hosts", r.hosts}, {"flags", r.flags}};
}
void from_json(const json& j, FlagsShowReply& r) {
  Fields f(j, "", true);
  r.app = f.str("app");
  r.version = f.str("version");
  r.versions = f.list<FlagVersionDoc>("versions", readVersion);
  r.hosts = f.list<FlagHostDoc>("hosts", readHost);
  r.flags = f.list<FlagDoc>("flags", readFlag);
}

void to_json(json& j, const FlagHistoryEntry& e) {
  j = {{"id", e.id},
       {"kind", e.kind},
       {"version", e.version},
       {"state", e.state},
       {"submitted_by", e.submitted_by},
       {"submitted_at", nullable(e.submitted_at)},
       {"finished_at", nullable(e.finished_at)},
       {"message", e.message},
       {"added", e.added},
       {"removed", e.removed},
       {"changed", e.changed}};
}
void from_json(const json& j, FlagHistoryEntry& e) { readHistory(Fields(j, "", true), e); }

void to_json(json& j, const FlagsHistoryReply& r) { j = {{"ok", true}, {"app", r.app}, {"rollouts", r.rollouts}}; }
void from_json(const json& j, FlagsHistoryReply& r) {
  Fields f(j, "", true);
  r.app = f.str("app");
  r.rollouts = f.list<FlagHistoryEntry>("rollouts", readHistory);
}

}  // namespace flotilla::protocol::control
