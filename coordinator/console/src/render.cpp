#include "flotilla/console/render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "flotilla/common/duration.h"
#include "flotilla/protocol/control.h"

namespace flotilla::console {

namespace control = protocol::control;

namespace {

const json* field(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(std::string(key));
  return it == j.end() ? nullptr : &*it;
}

// A cell or a message part: sanitized, `fallback` when empty or absent.
std::string cell(const std::string& text, const std::string& fallback = "-") {
  auto s = sanitize(text);
  return s.empty() ? fallback : s;
}
std::string cell(const std::optional<std::string>& text, const std::string& fallback = "-") {
  return text ? cell(*text, fallback) : fallback;
}

// {"k": "v", ...} -> "k=v,k2=v2"; "-" when empty.
std::string pairs(const std::map<std::string, std::string>& m) {
  if (m.empty()) return "-";
  std::string out;
  for (const auto& [k, v] : m) {
    if (!out.empty()) out += ",";
    out += sanitize(k) + "=" + sanitize(v);
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
    case Errc::kPolicyDenied:
      return kExitPolicy;
    default:
      return kExitUsage;
  }
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
  std::string bar;  // appended: GCC 12's -Wrestrict misfires on "[" + string at -O2
  bar.reserve(width + 2);
  bar += '[';
  bar.append(filled, '#').append(width - filled, '.');
  bar += ']';
  return bar;
}

std::string waveLine(const control::WaveDoc& wave) {
  return "wave " + std::to_string(wave.index) + ": " + progressBar(wave.done, wave.hosts) + " " +
         std::to_string(wave.done) + "/" + std::to_string(wave.hosts) + " hosts healthy " +
         std::to_string(wave.healthy) + " failed " + std::to_string(wave.failed) + " unreachable " +
         std::to_string(wave.unreachable) + " " + cell(wave.state);
}

std::string statusHeadline(const control::RolloutStatus& status) {
  return "rollout " + cell(status.id, "?") + ": " + cell(status.app, "?") + " " + cell(status.version, "?") + " " +
         cell(status.state, "?");
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

std::vector<std::string> statusBlock(const control::RolloutStatus& status) {
  std::vector<std::string> lines{statusHeadline(status)};
  const std::string gate = gateText(status.gate);
  if (!gate.empty()) lines.push_back("  gate: " + gate);
  const bool live = !isTerminalState(status.state);
  for (const auto& w : status.waves) {
    const bool mark = live && w.index == status.current_wave;
    lines.push_back((mark ? "> " : "  ") + waveLine(w));
  }
  if (status.analysis && live)
    for (auto& l : analysisLines(*status.analysis)) lines.push_back(std::move(l));
  if (status.hosts) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& h : *status.hosts)
      rows.push_back(
          {cell(h.id), std::to_string(h.wave), cell(h.state), cell(h.phase), cell(h.previous), cell(h.message, "")});
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

std::string renderStatus(const control::RolloutStatus& status) {
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

std::string renderAgents(const std::vector<control::AgentDoc>& agents) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : agents)
    rows.push_back({cell(a.id), cell(a.state), pairs(a.labels), pairs(a.releases), pairs(a.health)});
  return renderTable({"ID", "STATE", "LABELS", "RELEASES", "HEALTH"}, rows);
}

std::string renderRolloutList(const std::vector<control::RolloutStatus>& rollouts) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : rollouts)
    rows.push_back({cell(r.id), cell(r.app), cell(r.version), cell(r.state), std::to_string(r.current_wave),
                    cell(gateText(r.gate))});
  return renderTable({"ID", "APP", "VERSION", "STATE", "WAVE", "GATE"}, rows);
}

std::string renderHistory(const std::vector<control::HistoryEntry>& rollouts) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : rollouts)
    rows.push_back({cell(r.id), cell(r.app), cell(r.version), cell(r.state), cell(r.submitted_at), cell(r.submitted_by),
                    r.duration ? formatSeconds(*r.duration) : "-"});
  return renderTable({"ID", "APP", "VERSION", "STATE", "SUBMITTED", "BY", "DURATION"}, rows);
}

namespace {

std::string fixed(double v, const char* fmt) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

void metricsRows(const std::string& scope, const control::DoraScopeDoc& m,
                 std::vector<std::vector<std::string>>& rows) {
  const auto& d = m.deployment_frequency;
  rows.push_back({scope, "deployment frequency", fixed(d.per_day, "%.2f/day"), cell(d.band),
                  std::to_string(d.deployments) + " deployments"});
  const auto& l = m.lead_time;
  std::string lead_basis = std::to_string(l.rollouts) + " rollouts";
  if (l.from_submission > 0) lead_basis += " (" + std::to_string(l.from_submission) + " from submission)";
  rows.push_back(
      {scope, "lead time", l.median_seconds ? formatSeconds(*l.median_seconds) : "-", cell(l.band), lead_basis});
  const auto& c = m.change_failure_rate;
  std::string rate_basis = std::to_string(c.failed) + " of " + std::to_string(c.finished) + " finished";
  if (c.aborted > 0) rate_basis += ", " + std::to_string(c.aborted) + " aborted apart";
  rows.push_back(
      {scope, "change failure rate", c.rate ? fixed(*c.rate * 100, "%.1f%%") : "-", cell(c.band), rate_basis});
  const auto& r = m.recovery_time;
  rows.push_back({scope, "recovery time", r.median_seconds ? formatSeconds(*r.median_seconds) : "-", cell(r.band),
                  std::to_string(r.recoveries) + " recovered, " + std::to_string(r.unrecovered) + " unrecovered"});
  // DORA gives the rework rate no bands yet.
  const auto& w = m.rework_rate;
  rows.push_back({scope, "rework rate", w.rate ? fixed(*w.rate * 100, "%.1f%%") : "-", "n/a",
                  std::to_string(w.unplanned) + " of " + std::to_string(w.deployments) + " deployments unplanned"});
}

}  // namespace

std::string renderMetrics(const control::MetricsReply& report) {
  std::string out = "DORA metrics over " + std::to_string(report.window_days) + " days, " + cell(report.window_start) +
                    " to " + cell(report.generated_at) + "\n";
  std::vector<std::vector<std::string>> rows;
  if (report.fleet) metricsRows("fleet", *report.fleet, rows);
  for (const auto& [app, scope] : report.apps) metricsRows(sanitize(app), scope, rows);
  return out + renderTable({"SCOPE", "KEY", "VALUE", "BAND", "BASIS"}, rows);
}

std::string eventLine(const control::EventDoc& event, bool time_of_day) {
  std::string at = cell(event.at);
  // "2026-11-26T09:12:00Z" -> "09:12:00"
  if (time_of_day && at.size() >= 19 && at[10] == 'T') at = at.substr(11, 8);
  std::string line = at + " " + cell(event.kind, "?");
  if (auto agent = cell(event.agent, ""); !agent.empty()) line += " " + agent;
  if (event.wave) line += " wave " + std::to_string(*event.wave);
  if (auto msg = cell(event.message, ""); !msg.empty()) line += " " + msg;
  if (auto actor = cell(event.actor, ""); !actor.empty()) line += " (" + actor + ")";
  return line;
}

std::string renderEvents(const std::vector<control::EventDoc>& events) {
  std::string out;
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

std::optional<double> elapsedSeconds(const control::RolloutStatus& status) {
  auto from = common::parseRfc3339(status.submitted_at.value_or(""));
  auto to = common::parseRfc3339(status.finished_at.value_or(""));
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
