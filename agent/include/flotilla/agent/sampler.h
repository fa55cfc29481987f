#pragma once
// The agent's sampler thread: samples apps' Prometheus /metrics for release
// analysis, as the coordinator's SampleRequests ask.
//
// One active request per app: a new one replaces it, duration 0 stops it, and
// it ends by itself when its duration has passed. Each metric's URL has the
// agent's host variables expanded (${PORT}) and must name a loopback host
// (127.0.0.0/8, ::1, localhost); another host is refused, logged once and
// counted as a failed scrape at every tick. Every interval the thread scrapes
// each distinct URL of the apps due once (cpp-httplib, no proxy, no redirects,
// timeout min(interval, 5 s), body capped) and feeds the parsed scrape to each
// metric's MetricSampler. A failed scrape (refused, timeout, non-2xx, over the
// cap, unparsable) is a missing sample and counts in failed_scrapes.
//
// The interval's samples of an app go to the sink as one protocol::Samples
// (several when over kMaxSamplesPerBatch); a batch goes out too when only the
// failure count moved. The sink is made and called on the sampler thread, so
// it may own a ZeroMQ socket (the agent's pipe to its reactor).
//
// Threads: request(), activeApps() and stop() from any thread; everything
// else on the sampler thread. stop() returns within one scrape timeout.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "flotilla/agent/metric_sampler.h"
#include "flotilla/common/clock.h"
#include "flotilla/common/prom_exposition.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::agent {

struct SamplerOptions {
  std::size_t max_body_bytes = 4u << 20;
  common::Millis max_scrape_timeout{5000};
};

class Sampler {
 public:
  using Sink = std::function<void(protocol::Samples)>;
  using SinkFactory = std::function<Sink()>;

  // `vars`: the agent's host variables. The clock outlives the Sampler.
  Sampler(std::map<std::string, std::string> vars, const common::Clock& clock, SamplerOptions options = {});
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Starts the thread; it calls make_sink once before anything else.
  void start(SinkFactory make_sink);
  void request(protocol::SampleRequest r);
  // Ends sampling and joins the thread. Idempotent.
  void stop();
  // The apps with an active request (taken up by the thread).
  std::vector<std::string> activeApps() const;

 private:
  // One metric of a request: where it is read and what turns scrapes into samples.
  struct Probe {
    std::string url;      // expanded
    std::string refused;  // why the URL is not read; empty when it is
    std::optional<MetricSampler> sampler;
  };
  struct Active {
    protocol::SampleRequest request;
    std::vector<Probe> probes;
    common::SteadyTime next{};
    common::SteadyTime ends{};
    std::uint32_t failed_scrapes = 0;
    std::uint32_t failed_sent = 0;                  // failed_scrapes in the last batch sent
    std::map<std::string, std::string> last_error;  // URL -> why it last failed, logged when it changes
  };
  struct Scrape {
    Result<common::Exposition> result;
    common::SteadyTime steady{};  // when it was read
    std::int64_t at_ms = 0;
  };
  using Scrapes = std::map<std::string, Scrape>;  // URL -> this tick's scrape

  void run(const Sink& sink);
  void apply(protocol::SampleRequest r, common::SteadyTime now);
  void tick(common::SteadyTime now, const Sink& sink);
  Scrape scrape(const std::string& url, common::Millis interval) const;
  void sampleApp(Active& a, Scrapes& scrapes, const Sink& sink);
  static void emit(const protocol::SampleRequest& r, std::uint32_t failed_scrapes,
                   std::vector<protocol::Sample> samples, const Sink& sink);
  common::SteadyTime nextDue() const;
  void publishActive();  // copies the keys of active_ into active_apps_

  const std::map<std::string, std::string> vars_;
  const common::Clock& clock_;
  const SamplerOptions options_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};  // also cancels a scrape in hand

  mutable std::mutex mu_;  // guards inbox_, stop_ and active_apps_
  std::condition_variable cv_;
  std::vector<protocol::SampleRequest> inbox_;
  bool stop_ = false;
  std::vector<std::string> active_apps_;

  std::map<std::string, Active> active_;  // sampler thread only: app -> its request
};

}  // namespace flotilla::agent
