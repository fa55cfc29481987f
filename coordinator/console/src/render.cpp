#include "flotilla/console/render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "flotilla/common/duration.h"
#include "flotilla/protocol/control.h"

namespace flotilla::console {

namespace {

const json* field(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(std::string(key));
  return it == j.end() ? nullptr : &*it;
}

// A cell or a message part: strings sanitized, numbers and booleans printed,
// null and anything else as `fallback`.
std::string text(const json& j, std::string_view key, const std::string& fallback = "-") {
  const json* v = field(j, key);
  if (!v) return fallback;
  if (v->is_string()) {
    auto s = sanitize(v->get_ref<const std::string&>());
    return s.empty() ? fallback : s;
  }
  if (v->is_number_integer() || v->is_number_unsigned() || v->is_boolean()) return v->dump();
  if (v->is_number_float()) return formatSeconds(v->get<double>());
  return fallback;
}

std::size_t count(const json& j, std::string_view key) {
  auto v = jsonInt(j, key, 0);
  return v > 0 ? static_cast<std::size_t>(v) : 0;
}

// {"k": "v", ...} -> "k=v,k2=v2"; "-" when empty.
std::string pairs(const json& j, std::string_view key) {
  const json* v = field(j, key);
  if (!v || !v->is_object() || v->empty()) return "-";
  std::string out;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!out.empty()) out += ",";
    out += sanitize(it.key()) + "=" +
           (it->is_string() ? sanitize(it->get_ref<const std::string&>()) : sanitize(it->dump()));
  }
  return out;
}

}  // namespace

bool isTerminalState(std::string_view state) { return protocol::control::isTerminalRolloutState(state); }

int exitCodeForState(std::string_view state) { return state == "succeeded" ? kExitOk : kExitNotSucceeded; }

int exitCodeForError(Errc code) {
  switch (code) {
    case Errc::kPermission:
    case Errc::kUnavailable:
    case Errc::kTimeout:
      return kExitUnreachable;
    default:
      return kExitUsage;
  }
}

Errc errcFromName(std::string_view name) {
  for (auto c : {Errc::kInvalidArgument, Errc::kNotFound, Errc::kAlreadyExists, Errc::kPermission, Errc::kIo,
                 Errc::kCorrupt, Errc::kTimeout, Errc::kUnavailable, Errc::kConflict, Errc::kRefused, Errc::kInternal})
    if (name == errcName(c)) return c;
  return Errc::kInternal;
}

json errorDoc(const Error& e) { return {{"error", {{"code", errcName(e.code)}, {"message", e.message}}}}; }

std::string jsonString(const json& j, std::string_view key) {
  const json* v = field(j, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

std::int64_t jsonInt(const json& j, std::string_view key, std::int64_t fallback) {
  const json* v = field(j, key);
  if (!v) return fallback;
  if (v->is_number_integer()) return v->get<std::int64_t>();
  if (v->is_number_unsigned()) {
    auto u = v->get<std::uint64_t>();
    return u > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(u);
  }
  return fallback;
}

std::string sanitize(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

std::string progressBar(std::size_t done, std::size_t total, std::size_t width) {
  std::size_t filled = 0;
  if (total > 0) {
    done = std::min(done, total);
    filled = done == total ? width : std::min(width - (width > 0 ? 1 : 0), done * width / total);
  }
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

std::string waveLine(const json& wave) {
  const std::size_t hosts = count(wave, "hosts");
  // Older snapshots may lack "done"; it is the sum of the outcomes.
  const std::size_t done = field(wave, "done")
                               ? count(wave, "done")
                               : count(wave, "healthy") + count(wave, "failed") + count(wave, "unreachable");
  return "wave " + text(wave, "index", "?") + ": " + progressBar(done, hosts) + " " + std::to_string(done) + "/" +
         std::to_string(hosts) + " hosts healthy " + std::to_string(count(wave, "healthy")) + " failed " +
         std::to_string(count(wave, "failed")) + " unreachable " + std::to_string(count(wave, "unreachable")) + " " +
         text(wave, "state");
}

std::string statusHeadline(const json& status) {
  std::string line = "rollout " + text(status, "id", "?") + ": " + text(status, "app", "?") + " " +
                     text(status, "version", "?") + " " + text(status, "state", "?");
  return line;
}

std::string gateText(std::string_view gate) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    auto end = gate.find(' ', start);
    if (end == std::string_view::npos) end = gate.size();
    std::string word(gate.substr(start, end - start));
    if (word.find("ms") != std::string::npos) {
      if (auto d = common::parseDuration(word); d.ok()) {
        const auto secs = std::max<std::int64_t>(1, (d->count() + 999) / 1000);
        word = common::formatDuration(std::chrono::seconds(secs));
      }
    }
    if (start > 0) out += ' ';
    out += word;
    if (end == gate.size()) break;
    start = end + 1;
  }
  return sanitize(out);
}

std::vector<std::string> statusBlock(const json& status) {
  std::vector<std::string> lines{statusHeadline(status)};
  const std::string gate = gateText(jsonString(status, "gate"));
  if (!gate.empty()) lines.push_back("  gate: " + gate);
  const std::string state = jsonString(status, "state");
  const bool live = !isTerminalState(state);
  const std::int64_t current = jsonInt(status, "current_wave", -1);
  if (const json* waves = field(status, "waves"); waves && waves->is_array()) {
    for (const auto& w : *waves) {
      const bool mark = live && jsonInt(w, "index", -2) == current;
      lines.push_back((mark ? "> " : "  ") + waveLine(w));
    }
  }
  if (const json* hosts = field(status, "hosts"); hosts && hosts->is_array()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& h : *hosts)
      rows.push_back({text(h, "id"), text(h, "wave"), text(h, "state"), text(h, "phase"), text(h, "previous"),
                      text(h, "message", "")});
    std::string table = renderTable({"HOST", "WAVE", "STATE", "PHASE", "PREVIOUS", "MESSAGE"}, rows);
    std::size_t start = 0;
    while (start < table.size()) {
      auto end = table.find('\n', start);
      if (end == std::string::npos) end = table.size();
      lines.push_back("  " + table.substr(start, end - start));
      start = end + 1;
    }
  }
  return lines;
}

std::string renderStatus(const json& status) {
  std::string out;
  for (const auto& l : statusBlock(status)) out += l + "\n";
  return out;
}

std::string renderTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(headers.size(), 0);
  for (std::size_t i = 0; i < headers.size(); ++i) widths[i] = headers[i].size();
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : std::string();
      out += cell;
      if (i + 1 < widths.size()) out += std::string(widths[i] - cell.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers);
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string renderAgents(const json& agents) {
  std::vector<std::vector<std::string>> rows;
  if (agents.is_array())
    for (const auto& a : agents)
      rows.push_back({text(a, "id"), text(a, "state"), pairs(a, "labels"), pairs(a, "releases"), pairs(a, "health")});
  return renderTable({"ID", "STATE", "LABELS", "RELEASES", "HEALTH"}, rows);
}

std::string renderRolloutList(const json& rollouts) {
  std::vector<std::vector<std::string>> rows;
  if (rollouts.is_array())
    for (const auto& r : rollouts)
      rows.push_back({text(r, "id"), text(r, "app"), text(r, "version"), text(r, "state"), text(r, "current_wave"),
                      gateText(jsonString(r, "gate")).empty() ? "-" : gateText(jsonString(r, "gate"))});
  return renderTable({"ID", "APP", "VERSION", "STATE", "WAVE", "GATE"}, rows);
}

std::string renderHistory(const json& rollouts) {
  std::vector<std::vector<std::string>> rows;
  if (rollouts.is_array())
    for (const auto& r : rollouts)
      rows.push_back({text(r, "id"), text(r, "app"), text(r, "version"), text(r, "state"), text(r, "submitted_at"),
                      text(r, "submitted_by"), text(r, "duration")});
  return renderTable({"ID", "APP", "VERSION", "STATE", "SUBMITTED", "BY", "DURATION"}, rows);
}

namespace {

std::string fixed(double v, const char* fmt) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// A JSON number as a double, or nullopt (null, absent, not a number).
std::optional<double> number(const json& j, std::string_view key) {
  const json* v = field(j, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

void metricsRows(const std::string& scope, const json& m, std::vector<std::vector<std::string>>& rows) {
  const json* df = field(m, "deployment_frequency");
  const json* lt = field(m, "lead_time");
  const json* cfr = field(m, "change_failure_rate");
  const json* rt = field(m, "recovery_time");
  const json empty = json::object();
  const json& d = df ? *df : empty;
  const json& l = lt ? *lt : empty;
  const json& c = cfr ? *cfr : empty;
  const json& r = rt ? *rt : empty;
  auto per_day = number(d, "per_day");
  rows.push_back({scope, "deployment frequency", per_day ? fixed(*per_day, "%.2f/day") : "-", text(d, "band"),
                  std::to_string(jsonInt(d, "deployments")) + " deployments"});
  auto lead = number(l, "median_seconds");
  std::string lead_basis = std::to_string(jsonInt(l, "rollouts")) + " rollouts";
  if (auto fs = jsonInt(l, "from_submission"); fs > 0) lead_basis += " (" + std::to_string(fs) + " from submission)";
  rows.push_back({scope, "lead time", lead ? formatSeconds(*lead) : "-", text(l, "band"), lead_basis});
  auto rate = number(c, "rate");
  std::string rate_basis =
      std::to_string(jsonInt(c, "failed")) + " of " + std::to_string(jsonInt(c, "finished")) + " finished";
  if (auto ab = jsonInt(c, "aborted"); ab > 0) rate_basis += ", " + std::to_string(ab) + " aborted apart";
  rows.push_back(
      {scope, "change failure rate", rate ? fixed(*rate * 100, "%.1f%%") : "-", text(c, "band"), rate_basis});
  auto rec = number(r, "median_seconds");
  rows.push_back({scope, "recovery time", rec ? formatSeconds(*rec) : "-", text(r, "band"),
                  std::to_string(jsonInt(r, "recoveries")) + " recovered, " +
                      std::to_string(jsonInt(r, "unrecovered")) + " unrecovered"});
}

}  // namespace

std::string renderMetrics(const json& report) {
  std::string out = "DORA metrics over " + text(report, "window_days", "?") + " days, " + text(report, "window_start") +
                    " to " + text(report, "generated_at") + "\n";
  std::vector<std::vector<std::string>> rows;
  if (const json* fleet = field(report, "fleet"); fleet && fleet->is_object()) metricsRows("fleet", *fleet, rows);
  if (const json* apps = field(report, "apps"); apps && apps->is_object())
    for (auto it = apps->begin(); it != apps->end(); ++it) metricsRows(sanitize(it.key()), *it, rows);
  return out + renderTable({"SCOPE", "KEY", "VALUE", "BAND", "BASIS"}, rows);
}

std::string eventLine(const json& event, bool time_of_day) {
  std::string at = text(event, "at");
  // "2026-11-26T09:12:00Z" -> "09:12:00"
  if (time_of_day && at.size() >= 19 && at[10] == 'T') at = at.substr(11, 8);
  std::string line = at + " " + text(event, "kind", "?");
  if (auto agent = text(event, "agent", ""); !agent.empty()) line += " " + agent;
  if (const json* w = field(event, "wave"); w && w->is_number()) line += " wave " + w->dump();
  if (auto msg = text(event, "message", ""); !msg.empty()) line += " " + msg;
  if (auto actor = text(event, "actor", ""); !actor.empty()) line += " (" + actor + ")";
  return line;
}

std::string renderEvents(const json& events) {
  std::string out;
  if (events.is_array())
    for (const auto& e : events) out += eventLine(e) + "\n";
  return out;
}

std::string formatSeconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  char buf[32];
  if (seconds < 59.95) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  } else if (seconds < 3600) {
    auto s = static_cast<long>(std::lround(seconds));
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    auto m = static_cast<long>(std::lround(seconds / 60));
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", m / 60, m % 60);
  }
  return buf;
}

std::optional<double> elapsedSeconds(const json& status) {
  auto from = common::parseRfc3339(jsonString(status, "submitted_at"));
  auto to = common::parseRfc3339(jsonString(status, "finished_at"));
  if (!from || !to || *to < *from) return std::nullopt;
  return std::chrono::duration<double>(*to - *from).count();
}

std::string summaryLine(std::string_view id, std::string_view state, std::optional<double> seconds,
                        std::string_view message) {
  std::string line = "rollout " + sanitize(id) + " " + sanitize(state);
  if (seconds) line += " in " + formatSeconds(*seconds);
  if (state != "succeeded" && !message.empty()) line += ": " + sanitize(message);
  return line;
}

}  // namespace flotilla::console
