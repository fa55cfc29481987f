#include "flotilla/swarm/sim_sampler.h"

#include <algorithm>
#include <cmath>

#include "flotilla/common/duration.h"
#include "flotilla/protocol/analysis.h"

namespace flotilla::swarm {

using common::Millis;
using common::SteadyTime;

void SimSampler::onRequest(const protocol::SampleRequest& r, SteadyTime now) {
  std::erase_if(active_, [&](const Active& a) { return a.request.app == r.app; });
  if (r.duration_ms <= 0 || r.interval_ms <= 0) return;
  active_.push_back(Active{r, now + Millis(r.interval_ms), now + Millis(r.duration_ms)});
}

SteadyTime SimSampler::nextDeadline() const {
  SteadyTime next = SteadyTime::max();
  for (const auto& a : active_) next = std::min(next, a.next);
  return next;
}

protocol::Sample SimSampler::draw(const SampleModel& model, std::mt19937_64& rng, const protocol::SampleRequest& r,
                                  const protocol::ScrapeMetric& m, std::int64_t at_ms) {
  using Kind = protocol::AnalysisMetric::Kind;
  const double mean = model.level * (r.role == "canary" ? 1 + model.canary_shift : 1);
  protocol::Sample s;
  s.metric = m.name;
  s.at_ms = at_ms;
  const double sd = std::abs(mean) * model.spread;
  s.value = sd > 0 ? std::max(0.0, std::normal_distribution<double>(mean, sd)(rng)) : mean;
  switch (static_cast<Kind>(m.kind)) {
    case Kind::kRate:
      s.den = m.per.empty() ? static_cast<double>(r.interval_ms) / 1000 : model.requests;
      s.num = s.value * s.den;
      break;
    case Kind::kHistogram:
      s.num = model.requests;
      break;
    default:
      break;
  }
  return s;
}

std::size_t SimSampler::onTimer(const SampleModel& model, std::mt19937_64& rng, SteadyTime now, common::SysTime sys,
                                std::vector<std::string>& out) {
  std::size_t count = 0;
  const auto at_ms = common::toUnixMillis(sys);
  for (auto& a : active_) {
    if (a.next > now || a.next > a.ends) continue;
    protocol::Samples batch;
    batch.rollout_id = a.request.rollout_id;
    batch.app = a.request.app;
    batch.wave = a.request.wave;
    batch.role = a.request.role;
    for (const auto& m : a.request.metrics) {
      batch.samples.push_back(draw(model, rng, a.request, m, at_ms));
      if (batch.samples.size() == protocol::kMaxSamplesPerBatch) {
        count += batch.samples.size();
        out.push_back(protocol::encode(batch));
        batch.samples.clear();
      }
    }
    count += batch.samples.size();
    if (!batch.samples.empty()) out.push_back(protocol::encode(batch));
    while (a.next <= now) a.next += Millis(a.request.interval_ms);
  }
  std::erase_if(active_, [](const Active& a) { return a.next > a.ends; });
  return count;
}

}  // namespace flotilla::swarm
