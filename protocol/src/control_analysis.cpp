// The control protocol's `analysis` request and reply (control.h).
#include "flotilla/protocol/control.h"
#include "reply_fields.h"

namespace flotilla::protocol::control {
namespace {

using detail::Fields;

json orNull(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

void readMetric(const Fields& f, AnalysisMetricDoc& m) {
  m.metric = f.str("metric");
  m.verdict = f.str("verdict");
  m.test = f.str("test");
  m.tolerance = f.str("tolerance");
  m.why = f.str("why");
  m.critical = f.boolean("critical");
  m.bound_failed = f.boolean("bound_failed");
  m.weight = f.number("weight");
  m.canary_n = f.count("canary_n");
  m.baseline_n = f.count("baseline_n");
  m.outliers = f.count("outliers");
  m.canary = f.optNumber("canary");
  m.baseline = f.optNumber("baseline");
  m.shift = f.optNumber("shift");
  m.ci_low = f.optNumber("ci_low");
  m.ci_high = f.optNumber("ci_high");
  m.p_value = f.optNumber("p_value");
  m.change = f.optNumber("change");
  m.max = f.optNumber("max");
  m.min = f.optNumber("min");
}

}  // namespace

void detail::readAnalysisWave(const Fields& f, AnalysisWaveDoc& w) {
  w.wave = f.integer("wave");
  w.final = f.boolean("final");
  w.at = f.optStr("at");
  w.outcome = f.str("outcome");
  w.reason = f.str("reason");
  w.score = f.number("score");
  w.metrics = f.list<AnalysisMetricDoc>("metrics", readMetric);
}

void to_json(json& j, const AnalysisRequest& r) { j = {{"cmd", kAnalysis}, {"rollout", r.rollout}, {"wave", r.wave}}; }
void from_json(const json& j, AnalysisRequest& r) {
  auto it = j.find("rollout");
  r.rollout = it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  r.wave = j.value("wave", std::int64_t{-1});
}

void to_json(json& j, const AnalysisMetricDoc& m) {
  j = {{"metric", m.metric},
       {"verdict", m.verdict},
       {"test", m.test},
       {"tolerance", m.tolerance},
       {"why", m.why},
       {"critical", m.critical},
       {"bound_failed", m.bound_failed},
       {"weight", m.weight},
       {"canary_n", m.canary_n},
       {"baseline_n", m.baseline_n},
       {"outliers", m.outliers},
       {"canary", orNull(m.canary)},
       {"baseline", orNull(m.baseline)},
       {"shift", orNull(m.shift)},
       {"ci_low", orNull(m.ci_low)},
       {"ci_high", orNull(m.ci_high)},
       {"p_value", orNull(m.p_value)},
       {"change", orNull(m.change)},
       {"max", orNull(m.max)},
       {"min", orNull(m.min)}};
}
void from_json(const json& j, AnalysisMetricDoc& m) { readMetric(Fields(j, "", true), m); }

void to_json(json& j, const AnalysisWaveDoc& w) {
  j = {{"wave", w.wave},       {"final", w.final},   {"at", w.at ? json(*w.at) : json(nullptr)},
       {"outcome", w.outcome}, {"reason", w.reason}, {"score", w.score},
       {"metrics", w.metrics}};
}
void from_json(const json& j, AnalysisWaveDoc& w) { detail::readAnalysisWave(Fields(j, "", true), w); }

void to_json(json& j, const AnalysisReply& r) {
  j = {{"ok", true},
       {"rollout", r.rollout},
       {"app", r.app},
       {"pass_score", r.pass_score},
       {"marginal_score", r.marginal_score},
       {"waves", r.waves}};
}
void from_json(const json& j, AnalysisReply& r) {
  Fields f(j, "", true);
  r.rollout = f.str("rollout");
  r.app = f.str("app");
  r.pass_score = f.number("pass_score");
  r.marginal_score = f.number("marginal_score");
  r.waves = f.list<AnalysisWaveDoc>("waves", detail::readAnalysisWave);
}

}  // namespace flotilla::protocol::control
