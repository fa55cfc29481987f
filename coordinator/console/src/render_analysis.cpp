// The console's view of release analysis (docs/analysis.md): the table of
// `flotilla analysis` and the lines a watch shows while a wave is analysed.
#include <cmath>
#include <cstdio>

#include "flotilla/console/render.h"

namespace flotilla::console {

namespace control = protocol::control;

namespace {

std::string number(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", *v);
  return buf;
}

std::string changeText(const control::AnalysisMetricDoc& m) {
  if (m.change && std::isfinite(*m.change)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%+.1f%%", *m.change * 100);
    return buf;
  }
  if (m.shift && *m.shift != 0) return number(m.shift) + " (from 0)";
  return "-";
}

// "25%", "25%, max 0.01", "min 100".
std::string thresholdText(const control::AnalysisMetricDoc& m) {
  std::string out = m.tolerance;
  if (m.max) out += (out.empty() ? "" : ", ") + std::string("max ") + number(m.max);
  if (m.min) out += (out.empty() ? "" : ", ") + std::string("min ") + number(m.min);
  return out.empty() ? "-" : out;
}

std::string verdictText(const control::AnalysisMetricDoc& m) {
  std::string v = m.verdict;
  if (m.critical) v += " (critical)";
  return v;
}

std::string scoreText(double score, double pass_score, double marginal_score) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "score %.0f (pass %g, marginal %g)", score, pass_score, marginal_score);
  return buf;
}

}  // namespace

std::string analysisHeadline(const control::AnalysisWaveDoc& w, double pass_score, double marginal_score) {
  std::string out = "wave " + std::to_string(w.wave) + (w.final ? "" : " so far") + ": " + w.outcome + ", " +
                    scoreText(w.score, pass_score, marginal_score);
  if (w.at) out += " at " + *w.at;
  return sanitize(out);
}

std::string renderAnalysis(const control::AnalysisReply& reply) {
  std::string out = "analysis of rollout " + sanitize(reply.rollout) + " (" + sanitize(reply.app) + ")\n";
  if (reply.waves.empty()) out += "no verdict yet: the first analysed wave is still deploying or sampling\n";
  for (const auto& w : reply.waves) {
    out += "\n" + analysisHeadline(w, reply.pass_score, reply.marginal_score) + "\n";
    if (!w.reason.empty()) out += "  " + sanitize(w.reason) + "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : w.metrics) {
      rows.push_back({sanitize(m.metric), number(m.canary) + " (n=" + std::to_string(m.canary_n) + ")",
                      number(m.baseline) + " (n=" + std::to_string(m.baseline_n) + ")", changeText(m), thresholdText(m),
                      verdictText(m), sanitize(m.why)});
    }
    out += renderTable({"METRIC", "CANARY", "BASELINE", "CHANGE", "TOLERANCE/BOUND", "VERDICT", "WHY"}, rows);
  }
  return out;
}

std::string renderPolicy(const control::PolicyReply& reply) {
  std::string out = "policy gates at " + sanitize(reply.now) + "\n";
  if (reply.gates.empty()) return out + "no policy gates configured ([policy] in coordinator.toml)\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : reply.gates)
    rows.push_back({sanitize(g.gate), !g.applies ? "n/a" : (g.open ? "open" : "closed"), sanitize(g.why)});
  return out + renderTable({"GATE", "STATE", "WHY"}, rows);
}

std::vector<std::string> analysisLines(const control::AnalysisWaveDoc& w) {
  std::vector<std::string> lines{"  analysis of wave " + std::to_string(w.wave) + " so far: " + w.outcome + ", score " +
                                 number(std::round(w.score))};
  for (const auto& m : w.metrics)
    lines.push_back(sanitize("    " + m.metric + " " + verdictText(m) + ": canary " + number(m.canary) +
                             " vs baseline " + number(m.baseline) + ", change " + changeText(m) + " against " +
                             thresholdText(m) + " (n=" + std::to_string(m.canary_n) + "/" +
                             std::to_string(m.baseline_n) + ")"));
  return lines;
}

}  // namespace flotilla::console
