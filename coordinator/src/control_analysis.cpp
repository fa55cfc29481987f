// ControlApi's `analysis` command: the verdicts of an analysed rollout, final
// ones from the store and the current wave's verdict so far (docs/analysis.md).
#include "flotilla/common/duration.h"
#include "flotilla/coordinator/control_api.h"
#include "flotilla/coordinator/control_docs.h"
#include "flotilla/protocol/control.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

using nlohmann::json;
namespace control = protocol::control;

namespace {

json errorJson(Errc code, const std::string& message) { return control::ErrorReply{errcName(code), message}; }

}  // namespace

json ControlApi::analysis(const Call& c) {
  const auto r = c.req.get<control::AnalysisRequest>();
  auto rec = ctx_.store().rollout(r.rollout);
  if (!rec) return errorJson(rec.error().code, rec.error().message);
  if (!rec->has_value()) return errorJson(Errc::kNotFound, "no rollout '" + r.rollout + "'");
  const ActiveRollout* active = ctx_.findRollout(r.rollout);
  std::optional<protocol::AnalysisSpec> spec;
  if (active != nullptr) {
    spec = active->plan.analysis;
  } else if (auto plan = protocol::parsePlan((*rec)->plan_text, (*rec)->plan_name, ""); plan.ok()) {
    spec = plan->analysis;
  }
  if (!spec)
    return errorJson(Errc::kNotFound, "rollout " + r.rollout + " was not analysed: its plan has no [analysis] table");

  control::AnalysisReply reply;
  reply.rollout = r.rollout;
  reply.app = (*rec)->app;
  reply.pass_score = spec->pass_score;
  reply.marginal_score = spec->marginal_score;
  auto stored = ctx_.store().verdicts(r.rollout);
  if (!stored) return errorJson(stored.error().code, stored.error().message);
  for (const auto& v : *stored) {
    if (r.wave >= 0 && v.wave != r.wave) continue;
    json body = json::parse(v.json, nullptr, false);
    if (body.is_discarded())
      return errorJson(Errc::kInternal, "stored verdict of wave " + std::to_string(v.wave) + " is not JSON");
    auto doc = analysisWaveDoc(std::move(body), v.wave, true, common::formatRfc3339(common::fromUnixMillis(v.at_ms)));
    if (!doc) return errorJson(doc.error().code, doc.error().message);
    reply.waves.push_back(std::move(*doc));
  }
  if (active != nullptr) {
    const auto wave = static_cast<std::int64_t>(active->engine->currentWave());
    if (auto interim = ctx_.interimVerdict(*active); interim && (r.wave < 0 || r.wave == wave)) {
      auto doc = analysisWaveDoc(toJson(*interim), wave, false, std::nullopt);
      if (!doc) return errorJson(doc.error().code, doc.error().message);
      reply.waves.push_back(std::move(*doc));
    }
  }
  if (r.wave >= 0 && reply.waves.empty())
    return errorJson(Errc::kNotFound, "wave " + std::to_string(r.wave) + " of rollout " + r.rollout +
                                          " has no analysis (not reached, or not sampled yet)");
  return reply;
}

}  // namespace flotilla::coordinator
