#include "flotilla/coordinator/dashboard_api.h"

#include <set>
#include <unordered_map>

#include "flotilla/coordinator/control_docs.h"
#include "flotilla/coordinator/metrics.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {
namespace {

namespace control = protocol::control;
using nlohmann::json;

// Rows the rollouts view lists; the self-revert count looks back as far.
constexpr std::size_t kHistoryRows = 200;
constexpr std::size_t kRevertLookback = 50;
constexpr std::size_t kAllRollouts = 1'000'000;
// Events about hosts a rollout's document carries, newest first: a rollout of 10,000 hosts
// logs tens of thousands, and the page, which fetches the document again every second
// while the rollout runs, lists the newest 300.
constexpr std::size_t kNewestHostEvents = 500;

const control::RolloutStatus* findActive(const DashboardFeed::Snapshot& s, const std::string& id) {
  for (const auto& r : *s.rollouts)
    if (r.id == id) return &r;
  return nullptr;
}

// The analysis of a rollout whose plan has [analysis]: its final verdicts; null without one.
Result<json> analysisOf(Store& store, const RolloutRecord& rec) {
  auto plan = protocol::parsePlan(rec.plan_text, rec.plan_name, "");
  if (!plan || !plan->analysis) return json(nullptr);
  control::AnalysisReply reply{rec.id, rec.app, plan->analysis->pass_score, plan->analysis->marginal_score, {}};
  auto stored = store.verdicts(rec.id);
  if (!stored) return stored.error();
  for (const auto& v : *stored) {
    json body = json::parse(v.json, nullptr, false);
    auto doc = analysisWaveDoc(std::move(body), v.wave, true, timeOrNull(v.at_ms));
    if (doc) reply.waves.push_back(std::move(*doc));  // a malformed verdict is left out, not fatal
  }
  return json(reply);
}

// The events the rollout page reads: every event of the rollout itself (submitted, waves,
// verdicts, operators), the first event of each kind about a host (the first failure the
// page names) and the newest kNewestHostEvents about hosts, in log order.
std::vector<EventRecord> pageEvents(std::vector<EventRecord> all) {
  std::size_t about_hosts = 0;
  for (const auto& e : all)
    if (!e.agent_id.empty()) ++about_hosts;
  std::size_t skip = about_hosts > kNewestHostEvents ? about_hosts - kNewestHostEvents : 0;
  if (skip == 0) return all;
  std::set<std::string> kinds_seen;
  std::vector<EventRecord> out;
  for (auto& e : all) {
    if (e.agent_id.empty()) {
      out.push_back(std::move(e));
      continue;
    }
    const bool first_of_kind = kinds_seen.insert(e.kind).second;
    if (skip > 0) {
      --skip;
      if (!first_of_kind) continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<control::HostDoc> hostDocs(const std::vector<RolloutHostRecord>& rows) {
  std::vector<control::HostDoc> out;
  out.reserve(rows.size());
  for (const auto& h : rows)
    out.push_back({h.agent_id, static_cast<std::size_t>(h.wave), h.state, h.phase, h.previous_version, h.message});
  return out;
}

json dayFigures(const std::vector<RolloutRecord>& records, std::int64_t day_end_ms) {
  MetricsQuery q{"", 1, day_end_ms};
  json d{{"day", timeOrNull(day_end_ms - kMsPerDay).value_or("")}};
  auto r = computeDora(records, q);
  if (!r || !r->fleet) return d;
  const auto& f = *r->fleet;
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  d["deployments"] = f.deployment_frequency.deployments;
  d["lead_time_seconds"] = opt(f.lead_time.median_seconds);
  d["change_failure_rate"] = opt(f.change_failure_rate.rate);
  d["recovery_seconds"] = opt(f.recovery_time.median_seconds);
  d["rework_rate"] = opt(f.rework_rate.rate);
  return d;
}

}  // namespace

DashboardApi::DashboardApi(StoreOptions store, std::shared_ptr<const DashboardFeed> feed)
    : store_options_(std::move(store)), feed_(std::move(feed)) {}

Result<Store*> DashboardApi::store() {
  if (!store_) {
    auto opened = openStore(asReadOnly(store_options_));
    if (!opened) return opened.error();
    store_ = std::move(*opened);
  }
  return store_.get();
}

Result<json> DashboardApi::rollouts() {
  const auto snap = feed_->read();
  std::lock_guard<std::mutex> lock(mu_);
  auto s = store();
  if (!s) return s.error();
  auto records = checked((*s)->rollouts("", kHistoryRows));
  if (!records) return records.error();
  control::RolloutListReply active;
  for (auto r : *snap.rollouts) {
    r.hosts.reset();
    active.rollouts.push_back(std::move(r));
  }
  control::HistoryReply history;
  for (const auto& rec : *records) {
    auto entry = historyEntry(rec);
    if (const auto* live = findActive(snap, rec.id)) entry.state = live->state;
    history.rollouts.push_back(std::move(entry));
  }
  // Finished rollouts' wave counts, from the snapshot each was saved with.
  json finished = json::array();
  for (const auto& rec : *records)
    if (!findActive(snap, rec.id) && rec.finished_at_ms > 0) {
      auto doc = finishedStatusDoc(rec);
      doc.hosts.reset();
      finished.push_back(doc);
    }
  return json{{"version", snap.version},
              {"rollouts", json(active)["rollouts"]},
              {"finished", std::move(finished)},
              {"history", json(history)["rollouts"]}};
}

Result<json> DashboardApi::rollout(const std::string& id) {
  const auto snap = feed_->read();
  std::lock_guard<std::mutex> lock(mu_);
  auto s = store();
  if (!s) return s.error();
  auto rec = checked((*s)->rollout(id));
  if (!rec) return rec.error();
  if (!rec->has_value()) return Error(Errc::kNotFound, "no rollout '" + id + "'");
  control::RolloutStatus status;
  const auto* live = findActive(snap, id);
  if (live) {
    status = *live;
  } else {
    status = finishedStatusDoc(**rec);
    auto hosts = checked((*s)->rolloutHosts(id));
    if (!hosts) return hosts.error();
    status.hosts = hostDocs(*hosts);
  }
  auto events = checked((*s)->events(id, 0));
  if (!events) return events.error();
  const std::size_t events_total = events->size();
  control::EventsReply ev;
  for (const auto& e : pageEvents(std::move(*events))) ev.events.push_back(eventDoc(e));
  auto analysis = analysisOf(**s, **rec);
  if (!analysis) return analysis.error();
  // The current wave's verdict so far, after the final ones, as `flotilla analysis` shows it.
  if (live && live->analysis && analysis->is_object()) (*analysis)["waves"].push_back(*live->analysis);
  return json{{"version", snap.version},
              {"rollout", status},
              {"events", json(ev)["events"]},
              {"events_total", events_total},
              {"analysis", std::move(*analysis)}};
}

Result<json> DashboardApi::fleet() {
  const auto snap = feed_->read();
  std::lock_guard<std::mutex> lock(mu_);
  auto s = store();
  if (!s) return s.error();
  auto current = checked((*s)->currentReleases());
  if (!current) return current.error();
  auto records = checked((*s)->rollouts("", kRevertLookback));
  if (!records) return records.error();
  // Finished rollouts' hosts never change: counted again only when the finished ones listed do.
  std::vector<std::string> finished;
  for (const auto& rec : *records)
    if (rec.finished_at_ms > 0) finished.push_back(rec.id);
  if (finished != reverts_of_) {
    std::map<std::string, int> reverts;
    for (const auto& id : finished) {
      auto hosts = checked((*s)->rolloutHosts(id));
      if (!hosts) return hosts.error();
      for (const auto& h : *hosts)
        if (h.reverted_itself && h.phase == "reverted") ++reverts[h.agent_id];
    }
    finished_reverts_ = std::move(reverts);
    reverts_of_ = std::move(finished);
  }
  std::map<std::string, int> reverts = finished_reverts_;
  for (const auto& r : *snap.rollouts)
    if (r.hosts)
      for (const auto& h : *r.hosts)
        if (h.phase == "reverted") ++reverts[h.id];
  control::AgentsReply agents{*snap.agents};
  return json{
      {"version", snap.version}, {"agents", json(agents)["agents"]}, {"self_reverts", reverts}, {"current", *current}};
}

Result<json> DashboardApi::app(const std::string& name) {
  const auto snap = feed_->read();
  std::lock_guard<std::mutex> lock(mu_);
  auto s = store();
  if (!s) return s.error();
  auto records = checked((*s)->rollouts(name, kHistoryRows));
  if (!records) return records.error();
  auto current = checked((*s)->currentReleases());
  if (!current) return current.error();
  control::HistoryReply history;
  for (const auto& rec : *records) {
    auto entry = historyEntry(rec);
    if (const auto* live = findActive(snap, rec.id)) entry.state = live->state;
    history.rollouts.push_back(std::move(entry));
  }
  auto it = current->find(name);
  return json{{"version", snap.version},
              {"app", name},
              {"current", it == current->end() ? json(nullptr) : json(it->second)},
              {"history", json(history)["rollouts"]}};
}

Result<json> DashboardApi::delivery(int days, std::int64_t now_ms) {
  std::vector<RolloutRecord> records;
  {
    std::lock_guard<std::mutex> lock(mu_);  // the store only: the keys are computed without it
    auto s = store();
    if (!s) return s.error();
    auto read = checked((*s)->rollouts("", kAllRollouts));
    if (!read) return read.error();
    records = std::move(*read);
  }
  // The keys are computed once per day of the window, each time over a copy of every
  // record: without the texts they never read (plan, snapshots, message) that copy is small.
  for (auto& r : records) {
    r.plan_text = {};
    r.snapshot = {};
    r.engine = {};
    r.message = {};
  }
  auto report = computeDora(records, MetricsQuery{"", days, now_ms});
  if (!report) return report.error();
  json series = json::array();
  for (int d = days - 1; d >= 0; --d) series.push_back(dayFigures(records, now_ms - d * kMsPerDay));
  return json{{"metrics", toJson(*report)}, {"days", std::move(series)}};
}

}  // namespace flotilla::coordinator
