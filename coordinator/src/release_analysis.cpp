#include "flotilla/coordinator/release_analysis.h"

#include <algorithm>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "flotilla/common/duration.h"

namespace flotilla::coordinator {

using common::SteadyTime;
using protocol::AnalysisMetric;

AnalysisDecision decisionOf(const Verdict& v) {
  switch (v.outcome) {
    case Outcome::kPass:
      return AnalysisDecision::kPass;
    case Outcome::kMarginal:
      return AnalysisDecision::kPause;
    case Outcome::kFail:
      return AnalysisDecision::kFail;
  }
  return AnalysisDecision::kPause;
}

std::string verdictMessage(const Verdict& v, const protocol::AnalysisSpec& spec) {
  char head[160];
  std::snprintf(head, sizeof head, "%s: score %.0f (pass %g, marginal %g)", toString(v.outcome), v.score,
                spec.pass_score, spec.marginal_score);
  std::string out = head;
  if (!v.reason.empty()) out += "; " + v.reason;
  return out;
}

namespace {

// The judge's verdict on a run. A wave with no host left on the previous
// release (the last wave of most rollouts) has nothing to compare with: the
// judge checks its absolute bounds, and a verdict that is inconclusive only
// for the lack of a baseline lets it go on (the health checks still decide
// each host).
Verdict judgeRun(const protocol::AnalysisSpec& spec, const std::vector<std::pair<GroupSamples, GroupSamples>>& groups,
                 bool no_baseline) {
  Verdict v = judge(spec, groups);
  if (!no_baseline || v.outcome != Outcome::kMarginal) return v;
  for (const auto& m : v.metrics)
    if (m.verdict == MetricVerdict::kHigh || m.verdict == MetricVerdict::kLow) return v;
  v.outcome = Outcome::kPass;
  v.score = 100;  // nothing failed; what had data passed
  v.reason =
      "no host is left on the previous release to compare with: only the absolute bounds (max, min) "
      "were checked, and none failed";
  return v;
}

}  // namespace

ReleaseAnalysis::ReleaseAnalysis(Store& store, AgentRegistry& agents, const common::Clock& clock, Hooks hooks,
                                 PrometheusSource* prometheus)
    : store_(store), agents_(agents), clock_(clock), hooks_(std::move(hooks)), prometheus_(prometheus) {}

ReleaseAnalysis::Run& ReleaseAnalysis::runFor(const ActiveRollout& r, std::size_t wave) {
  auto& run = runs_[r.record.id];
  if (run.groups.empty() || run.wave != wave) {
    run = Run{};
    run.wave = wave;
    run.groups.resize(r.plan.analysis->metrics.size());
  }
  return run;
}

protocol::SampleRequest ReleaseAnalysis::request(const ActiveRollout& r, std::size_t wave,
                                                 const std::string& role) const {
  const auto& spec = *r.plan.analysis;
  protocol::SampleRequest q;
  q.rollout_id = r.record.id;
  q.app = r.plan.app;
  q.wave = static_cast<std::uint32_t>(wave);
  q.role = role;
  q.interval_ms = spec.interval.count();
  // Long enough for the slowest wave: every host deployed, then the bake.
  // Sampling stops earlier, when the verdict is in (stopAll).
  const auto bake = std::max(r.plan.waves.bake, spec.window());
  q.duration_ms = (r.plan.waves.deadline + bake + 2 * spec.interval).count();
  for (const auto& m : spec.metrics) {
    if (m.source != AnalysisMetric::Source::kScrape) continue;
    protocol::ScrapeMetric x;
    x.name = m.name;
    x.url = m.scrape;
    x.kind = static_cast<std::uint8_t>(m.kind);
    x.series = m.series;
    x.per = m.per;
    x.quantile = m.quantile;
    q.metrics.push_back(std::move(x));
  }
  return q;
}

void ReleaseAnalysis::ask(const ActiveRollout& r, const std::string& agent_id, const std::string& role) {
  auto& run = runs_.at(r.record.id);
  auto q = request(r, run.wave, role);
  (role == "canary" ? run.canaries : run.baselines).insert(agent_id);
  if (q.metrics.empty()) return;
  hooks_.send_agent(agent_id, protocol::encode(q));
}

namespace {
std::size_t baselineWanted(const ActiveRollout& r, std::size_t wave);
}

std::vector<std::string> ReleaseAnalysis::chooseBaseline(const ActiveRollout& r, std::size_t wave) const {
  const auto& waves = r.engine->waves();
  const auto& hosts = r.engine->hosts();
  if (wave >= waves.size()) return {};
  const std::size_t want = baselineWanted(r, wave);
  std::vector<std::string> out;
  // From the end of the host order: the hosts the rollout reaches last stay
  // on the previous release longest.
  for (std::size_t i = hosts.size(); i > waves[wave].end && out.size() < want; --i) {
    const auto& h = hosts[i - 1];
    if (h.state != HostState::kPending || h.moved) continue;
    const Agent* a = agents_.find(h.agent_id);
    if (a == nullptr || !a->online) continue;
    out.push_back(h.agent_id);
  }
  return out;
}

namespace {
std::size_t baselineWanted(const ActiveRollout& r, std::size_t wave) {
  const auto& waves = r.engine->waves();
  if (wave >= waves.size()) return 0;
  return std::min(std::clamp<std::size_t>(waves[wave].size(), 3, kMaxBaselineHosts),
                  r.engine->hosts().size() - waves[wave].end);
}
}  // namespace

void ReleaseAnalysis::waveStarted(const ActiveRollout& r, std::size_t wave) {
  if (!r.plan.analysis) return;
  auto& run = runFor(r, wave);
  run.baseline_wanted = baselineWanted(r, wave);
  for (const auto& id : chooseBaseline(r, wave)) ask(r, id, "baseline");
  spdlog::info("[{}] wave {} analysed against {} baseline host(s)", r.record.id, wave, run.baselines.size());
}

void ReleaseAnalysis::canaryProbation(const ActiveRollout& r, const std::string& agent_id) {
  if (!r.plan.analysis) return;
  const auto* h = r.engine->host(agent_id);
  if (h == nullptr || h->wave != r.engine->currentWave()) return;
  runFor(r, h->wave);
  ask(r, agent_id, "canary");
}

const Verdict& ReleaseAnalysis::verdictOf(const ActiveRollout& r, const Run& run) {
  if (!run.latest) run.latest = judgeRun(*r.plan.analysis, run.groups, run.baseline_wanted == 0);
  return *run.latest;
}

void ReleaseAnalysis::add(Run& run, const protocol::AnalysisSpec& spec, const SampleRecord& s) {
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    if (spec.metrics[i].name != s.metric) continue;
    auto& group = s.role == "canary" ? run.groups[i].first : run.groups[i].second;
    group.values.push_back(s.value);
    group.nums.push_back(s.num);
    group.dens.push_back(s.den);
    run.latest.reset();
    auto& seen = run.hosts_seen[s.metric];
    if (seen.insert(s.role + "/" + s.agent_id).second) ++group.hosts;
    return;
  }
}

bool ReleaseAnalysis::expected(const ActiveRollout& r, const std::string& agent_id, std::uint32_t wave,
                               const std::string& role) const {
  auto it = runs_.find(r.record.id);
  return r.plan.analysis && it != runs_.end() && it->second.wave == wave && r.engine->currentWave() == wave &&
         r.engine->analysing() && (role == "canary" ? it->second.canaries : it->second.baselines).count(agent_id) > 0;
}

void ReleaseAnalysis::pollPrometheus(const ActiveRollout& r, SteadyTime now) {
  if (prometheus_ == nullptr || !r.plan.analysis || !r.engine->analysing()) return;
  auto it = runs_.find(r.record.id);
  if (it == runs_.end() || now < it->second.next_prometheus_poll) return;
  auto& run = it->second;
  const auto& spec = *r.plan.analysis;
  run.next_prometheus_poll = now + spec.interval;
  std::vector<PrometheusQuery> batch;
  for (const auto& m : spec.metrics) {
    if (m.source != AnalysisMetric::Source::kPrometheus) continue;
    for (const auto* hosts : {&run.canaries, &run.baselines})
      for (const auto& id : *hosts)
        batch.push_back({r.record.id, static_cast<int>(run.wave), id, hosts == &run.canaries ? "canary" : "baseline",
                         m.name, m.prometheus, expandHost(m.series, id)});
  }
  if (!batch.empty()) prometheus_->submit(std::move(batch), spec.interval);
}

void ReleaseAnalysis::drainPrometheus(const std::function<const ActiveRollout*(const std::string&)>& find) {
  if (prometheus_ == nullptr) return;
  prometheus_->drain([&](const PrometheusResult& res) {
    const auto& q = res.query;
    if (!res.ok) {
      ++prometheus_failed_;
      spdlog::debug("[{}] prometheus query for {} on {} failed: {}", q.rollout_id, q.metric, q.agent_id, res.error);
      return;
    }
    const ActiveRollout* r = find(q.rollout_id);
    if (r == nullptr || !expected(*r, q.agent_id, static_cast<std::uint32_t>(q.wave), q.role)) {
      ++dropped_;
      return;
    }
    SampleRecord rec{q.rollout_id, q.wave, q.agent_id, q.role, q.metric, res.at_ms, res.value, 0, 0};
    add(runs_.at(q.rollout_id), *r->plan.analysis, rec);
    if (auto st = store_.appendSamples({rec}); !st.ok()) hooks_.store_failed(st.error());
  });
}

void ReleaseAnalysis::onSamples(const ActiveRollout& r, const std::string& agent_id, const protocol::Samples& m) {
  auto it = runs_.find(r.record.id);
  if (m.app != r.plan.app || !expected(r, agent_id, m.wave, m.role)) {
    dropped_ += m.samples.size();
    spdlog::debug("[{}] dropped {} sample(s) from {} for wave {} as {}", r.record.id, m.samples.size(), agent_id,
                  m.wave, m.role);
    return;
  }
  auto& run = it->second;
  const auto& spec = *r.plan.analysis;
  auto& taken = run.taken[agent_id];
  if (taken + m.samples.size() > maxSamplesPerHost(r)) {
    dropped_ += m.samples.size();
    spdlog::warn("[{}] {} sent more samples than wave {} can take from a host; dropped", r.record.id, agent_id, m.wave);
    return;
  }
  taken += m.samples.size();
  run.failed_scrapes += m.failed_scrapes;  // cumulative per request on the agent; shown as a count of reports
  std::vector<SampleRecord> keep;
  keep.reserve(m.samples.size());
  for (const auto& s : m.samples) {
    auto known = std::find_if(spec.metrics.begin(), spec.metrics.end(), [&](const AnalysisMetric& x) {
      return x.name == s.metric && x.source == AnalysisMetric::Source::kScrape;
    });
    if (known == spec.metrics.end()) {
      ++dropped_;
      continue;
    }
    SampleRecord rec{r.record.id, static_cast<int>(m.wave), agent_id, m.role, s.metric, s.at_ms, s.value, s.num, s.den};
    add(run, spec, rec);
    keep.push_back(std::move(rec));
  }
  if (keep.empty()) return;
  if (auto st = store_.appendSamples(keep); !st.ok()) hooks_.store_failed(st.error());
}

std::optional<Verdict> ReleaseAnalysis::earlyFailure(const ActiveRollout& r, SteadyTime now) {
  if (!r.plan.analysis || !r.engine->analysing()) return std::nullopt;
  auto it = runs_.find(r.record.id);
  if (it == runs_.end() || now < it->second.next_early_check) return std::nullopt;
  auto& run = it->second;
  run.next_early_check = now + r.plan.analysis->interval;
  const Verdict& v = verdictOf(r, run);
  bool critical_failed = false;
  for (const auto& m : v.metrics)
    critical_failed |= m.critical && (m.verdict == MetricVerdict::kHigh || m.verdict == MetricVerdict::kLow);
  if (!critical_failed) return std::nullopt;
  record(r, run.wave, v);
  stopAll(r, run);
  return v;
}

Verdict ReleaseAnalysis::decide(const ActiveRollout& r, std::size_t wave) {
  auto& run = runFor(r, wave);
  Verdict v = verdictOf(r, run);
  record(r, wave, v);
  stopAll(r, run);
  return v;
}

std::optional<Verdict> ReleaseAnalysis::interim(const ActiveRollout& r) const {
  if (!r.plan.analysis || !r.engine->analysing()) return std::nullopt;
  auto it = runs_.find(r.record.id);
  if (it == runs_.end()) return std::nullopt;
  return verdictOf(r, it->second);
}

void ReleaseAnalysis::resumed(const ActiveRollout& r) {
  if (!r.plan.analysis || !r.engine->analysing()) return;
  const std::size_t wave = r.engine->currentWave();
  auto& run = runFor(r, wave);
  auto stored = store_.samples(r.record.id, static_cast<int>(wave));
  if (!stored) {
    hooks_.store_failed(stored.error());
  } else {
    for (const auto& s : *stored) {
      add(run, *r.plan.analysis, s);
      (s.role == "canary" ? run.canaries : run.baselines).insert(s.agent_id);
    }
  }
  // The hosts that were sampling go on (a request replaces the old one on the
  // agent); most are not back yet and are asked again when they are (agentBack).
  run.baseline_wanted = baselineWanted(r, wave);
  if (run.baselines.empty())
    for (const auto& id : chooseBaseline(r, wave)) run.baselines.insert(id);
  for (const auto& h : r.engine->hosts())
    if (h.wave == wave && (h.state == HostState::kHealthy || h.state == HostState::kDeploying))
      run.canaries.insert(h.agent_id);
  const auto canaries = run.canaries;
  const auto baselines = run.baselines;
  for (const auto& id : canaries) ask(r, id, "canary");
  for (const auto& id : baselines) ask(r, id, "baseline");
  spdlog::info("[{}] wave {} analysis resumed from {} stored sample(s)", r.record.id, wave,
               stored.ok() ? stored->size() : 0);
}

std::size_t ReleaseAnalysis::maxSamplesPerHost(const ActiveRollout& r) {
  const auto& spec = *r.plan.analysis;
  const auto longest = r.plan.waves.deadline + std::max(r.plan.waves.bake, spec.window());
  const auto intervals = static_cast<std::size_t>(longest / spec.interval) + 2;
  return 2 * intervals * spec.metrics.size();
}

void ReleaseAnalysis::agentBack(const ActiveRollout& r, const std::string& agent_id) {
  if (!r.plan.analysis || !r.engine->analysing()) return;
  auto it = runs_.find(r.record.id);
  if (it == runs_.end()) return;
  auto& run = it->second;
  if (run.canaries.count(agent_id)) return ask(r, agent_id, "canary");
  if (run.baselines.count(agent_id)) return ask(r, agent_id, "baseline");
  if (run.baselines.size() >= run.baseline_wanted) return;
  const auto* h = r.engine->host(agent_id);
  const auto& waves = r.engine->waves();
  if (h != nullptr && h->state == HostState::kPending && !h->moved && run.wave < waves.size() && h->wave > run.wave)
    ask(r, agent_id, "baseline");
}

void ReleaseAnalysis::stopAll(const ActiveRollout& r, Run& run) {
  protocol::SampleRequest stop = request(r, run.wave, "canary");
  stop.duration_ms = 0;
  if (stop.metrics.empty()) return;
  const std::string canary = protocol::encode(stop);
  stop.role = "baseline";
  const std::string baseline = protocol::encode(stop);
  for (const auto& id : run.canaries) hooks_.send_agent(id, canary);
  for (const auto& id : run.baselines) hooks_.send_agent(id, baseline);
  run.canaries.clear();
  run.baselines.clear();
}

void ReleaseAnalysis::finished(const ActiveRollout& r) {
  auto it = runs_.find(r.record.id);
  if (it == runs_.end()) return;
  stopAll(r, it->second);
  runs_.erase(it);
}

void ReleaseAnalysis::record(const ActiveRollout& r, std::size_t wave, const Verdict& v) {
  VerdictRecord rec;
  rec.rollout_id = r.record.id;
  rec.wave = static_cast<int>(wave);
  rec.at_ms = common::toUnixMillis(clock_.systemNow());
  rec.outcome = toString(v.outcome);
  rec.score = v.score;
  rec.json = toJson(v).dump();
  if (auto st = store_.putVerdict(rec); !st.ok()) hooks_.store_failed(st.error());
  last_[r.plan.app] = LastVerdict{r.record.id, static_cast<int>(wave), v};
}

}  // namespace flotilla::coordinator
