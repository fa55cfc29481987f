// The console's view of feature flags (docs/flags.md): `flags show` and
// `flags history`.
#include "flotilla/console/render.h"

namespace flotilla::console {

namespace control = protocol::control;

namespace {

std::string cell(const std::string& text, const std::string& fallback = "-") {
  auto s = sanitize(text);
  return s.empty() ? fallback : s;
}

std::string joined(const std::vector<std::string>& items, const std::string& prefix = "") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + prefix + sanitize(i);
  return out;
}

}  // namespace

std::string renderFlagsShow(const control::FlagsShowReply& reply, bool one_host) {
  std::string out;
  if (one_host) {
    const auto& h = reply.hosts.front();
    out += "host " + cell(h.host) + ": flag set " + cell(h.version, "(none)") + "\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& v : reply.versions) rows.push_back({cell(v.version, "(none)"), std::to_string(v.hosts)});
    out += renderTable({"FLAG SET", "HOSTS"}, rows);
  }
  if (reply.version.empty()) return out + "no flag set of " + cell(reply.app) + " yet\n";
  out += "\nflags of " + cell(reply.app) + " " + cell(reply.version) + (one_host ? "" : " (the newest set)") + ":\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : reply.flags)
    rows.push_back({cell(f.key), cell(f.state), f.default_variant ? cell(*f.default_variant) : "(caller's)",
                    joined(f.variants), f.targeted ? "yes" : "no", f.killed ? "killed" : ""});
  return out + renderTable({"KEY", "STATE", "DEFAULT", "VARIANTS", "TARGETED", "NOTE"}, rows);
}

std::string renderFlagsHistory(const control::FlagsHistoryReply& reply) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : reply.rollouts) {
    std::string changes = joined(e.added, "+");
    for (const auto& part : {joined(e.removed, "-"), joined(e.changed, "~")})
      if (!part.empty()) changes += (changes.empty() ? "" : ",") + part;
    rows.push_back({cell(e.id), cell(e.kind), cell(e.version), cell(e.state),
                    e.submitted_at ? cell(*e.submitted_at) : "-", cell(e.submitted_by), cell(changes)});
  }
  return renderTable({"ID", "KIND", "VERSION", "STATE", "SUBMITTED", "BY", "CHANGES"}, rows);
}

}  // namespace flotilla::console
