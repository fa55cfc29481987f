#include "flotilla/agent/sampler.h"

#include <algorithm>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "flotilla/agent/deployer.h"
#include "flotilla/agent/http_get.h"
#include "flotilla/common/duration.h"

namespace flotilla::agent {

using common::Millis;
using common::SteadyTime;

namespace {

// Where the metric's URL leads after expansion, or why it is not read.
std::pair<std::string, std::string> resolveUrl(const std::string& url, const std::map<std::string, std::string>& vars) {
  auto expanded = expandVars(url, vars);
  if (!expanded) return {url, expanded.error().message};
  auto target = parseHttpUrl(*expanded);
  if (!target) return {*expanded, target.error().message};
  if (!isLoopbackHost(target->host))
    return {*expanded,
            *expanded + ": host " + target->host + " is not loopback (the agent reads only this host's apps)"};
  return {*expanded, ""};
}

}  // namespace

Sampler::Sampler(std::map<std::string, std::string> vars, const common::Clock& clock, SamplerOptions options)
    : vars_(std::move(vars)), clock_(clock), options_(options) {}

Sampler::~Sampler() { stop(); }

void Sampler::start(SinkFactory make_sink) {
  thread_ = std::thread([this, make_sink = std::move(make_sink)] {
    Sink sink = make_sink();
    run(sink);
  });
}

void Sampler::request(protocol::SampleRequest r) {
  {
    std::lock_guard lock(mu_);
    inbox_.push_back(std::move(r));
  }
  cv_.notify_one();
}

void Sampler::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stopping_ = true;
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> Sampler::activeApps() const {
  std::lock_guard lock(mu_);
  return active_apps_;
}

SteadyTime Sampler::nextDue() const {
  SteadyTime next = SteadyTime::max();
  for (const auto& [app, a] : active_) next = std::min(next, a.next);
  return next;
}

void Sampler::run(const Sink& sink) {
  while (true) {
    std::vector<protocol::SampleRequest> inbox;
    {
      std::unique_lock lock(mu_);
      const auto due = nextDue();
      auto ready = [this] { return stop_ || !inbox_.empty(); };
      if (due == SteadyTime::max())
        cv_.wait(lock, ready);
      else
        cv_.wait_for(lock, std::max(Millis(0), std::chrono::ceil<Millis>(due - clock_.steadyNow())), ready);
      if (stop_) return;
      inbox.swap(inbox_);
    }
    for (auto& r : inbox) apply(std::move(r), clock_.steadyNow());
    // Published before the tick as well as after it: a reader that sees a
    // scrape of a new request must also see the request as active.
    if (!inbox.empty()) publishActive();
    tick(clock_.steadyNow(), sink);
    publishActive();
  }
}

void Sampler::publishActive() {
  std::lock_guard lock(mu_);
  active_apps_.clear();
  for (const auto& [app, a] : active_) active_apps_.push_back(app);
}

void Sampler::apply(protocol::SampleRequest r, SteadyTime now) {
  if (r.duration_ms <= 0) {
    if (active_.erase(r.app)) spdlog::info("stopped sampling {}: the coordinator asked", r.app);
    return;
  }
  if (r.interval_ms <= 0) {  // the codec allows 100 ms to 1 h; this guards direct callers
    spdlog::warn("ignored a sample request for {} with interval {} ms", r.app, r.interval_ms);
    return;
  }
  Active a;
  a.next = now;
  a.ends = now + Millis(r.duration_ms);
  for (const auto& m : r.metrics) {
    Probe p;
    std::tie(p.url, p.refused) = resolveUrl(m.url, vars_);
    if (!p.refused.empty()) spdlog::warn("not sampling metric {} of {}: {}", m.name, r.app, p.refused);
    auto sampler = MetricSampler::create(m);
    if (sampler)
      p.sampler = std::move(*sampler);
    else
      spdlog::warn("not sampling metric {} of {}: {}", m.name, r.app, sampler.error().message);
    a.probes.push_back(std::move(p));
  }
  spdlog::info("sampling {} metric(s) of {} every {} for {} ({} of rollout {} wave {})", r.metrics.size(), r.app,
               common::formatDuration(Millis(r.interval_ms)), common::formatDuration(Millis(r.duration_ms)), r.role,
               r.rollout_id, r.wave);
  a.request = std::move(r);
  active_.insert_or_assign(a.request.app, std::move(a));
}

void Sampler::tick(SteadyTime now, const Sink& sink) {
  Scrapes scrapes;  // one scrape per distinct URL, shared by the apps due now
  for (auto it = active_.begin(); it != active_.end() && !stopping_;) {
    Active& a = it->second;
    if (a.next > now) {
      ++it;
      continue;
    }
    sampleApp(a, scrapes, sink);
    const Millis interval(a.request.interval_ms);
    while (a.next <= now) a.next += interval;
    if (a.next > a.ends) {
      spdlog::info("sampled {} for {} of rollout {}: done", it->first, a.request.role, a.request.rollout_id);
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
}

Sampler::Scrape Sampler::scrape(const std::string& url, Millis interval) const {
  HttpGetOptions o;
  o.timeout = std::min(interval, options_.max_scrape_timeout);
  o.max_body = options_.max_body_bytes;
  o.keep_body = true;
  o.cancel = &stopping_;
  auto res = httpGet(url, o);
  Scrape out{Error(Errc::kInternal, "not scraped"), clock_.steadyNow(), common::toUnixMillis(clock_.systemNow())};
  if (!res) {
    out.result = res.error();
  } else if (res->capped) {
    out.result =
        Error(Errc::kInvalidArgument, url + ": body over " + std::to_string(options_.max_body_bytes) + " bytes");
  } else if (res->status < 200 || res->status > 299) {
    out.result = Error(Errc::kUnavailable, url + ": HTTP " + std::to_string(res->status));
  } else {
    common::ExpositionLimits limits;
    limits.max_body_bytes = options_.max_body_bytes;
    auto parsed = common::parseExposition(res->body, limits);
    out.result = parsed ? std::move(parsed) : Result<common::Exposition>(parsed.error().context(url));
  }
  return out;
}

void Sampler::sampleApp(Active& a, Scrapes& scrapes, const Sink& sink) {
  std::vector<protocol::Sample> samples;
  std::set<std::string> counted;  // URLs whose failure is counted this tick
  for (auto& p : a.probes) {
    if (stopping_) return;  // a scrape cut short by stop() is not a failure of the app
    if (!p.refused.empty()) {
      if (counted.insert(p.url).second) ++a.failed_scrapes;
      continue;
    }
    auto it = scrapes.find(p.url);
    if (it == scrapes.end()) it = scrapes.emplace(p.url, scrape(p.url, Millis(a.request.interval_ms))).first;
    const Scrape& sc = it->second;
    if (!sc.result) {
      if (counted.insert(p.url).second) ++a.failed_scrapes;
      std::string& last = a.last_error[p.url];
      if (last != sc.result.error().message) {
        last = sc.result.error().message;
        spdlog::warn("scraping {} for analysis failed: {} (logged again when the reason changes)", a.request.app, last);
      }
      continue;
    }
    a.last_error.erase(p.url);
    if (!p.sampler) continue;
    if (auto s = p.sampler->observe(*sc.result, sc.steady, sc.at_ms)) samples.push_back(std::move(*s));
  }
  if (samples.empty() && a.failed_scrapes == a.failed_sent) return;
  a.failed_sent = a.failed_scrapes;
  emit(a.request, a.failed_scrapes, std::move(samples), sink);
}

void Sampler::emit(const protocol::SampleRequest& r, std::uint32_t failed_scrapes,
                   std::vector<protocol::Sample> samples, const Sink& sink) {
  std::size_t i = 0;
  do {
    protocol::Samples batch;
    batch.rollout_id = r.rollout_id;
    batch.app = r.app;
    batch.wave = r.wave;
    batch.role = r.role;
    batch.failed_scrapes = failed_scrapes;
    const std::size_t n = std::min(protocol::kMaxSamplesPerBatch, samples.size() - i);
    const auto from = samples.begin() + static_cast<std::ptrdiff_t>(i);
    batch.samples.assign(std::make_move_iterator(from), std::make_move_iterator(from + static_cast<std::ptrdiff_t>(n)));
    i += n;
    sink(std::move(batch));
  } while (i < samples.size());
}

}  // namespace flotilla::agent
