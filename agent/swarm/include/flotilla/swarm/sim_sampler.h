#pragma once
// A simulated agent's answer to SampleRequests: synthetic protocol::Samples
// every interval for the request's duration, so the coordinator's analysis can
// be timed on a large swarm without apps to scrape. Values are drawn from a
// normal distribution around SampleModel::level (the same for canary and
// baseline unless canary_shift says otherwise), from the swarm's seeded rng.
//
// As on the agent: one request per app (a new one replaces it, duration 0
// stops it), and the first samples come one interval after the request (a
// real counter's first scrape gives none). Pure and cheap: a few fields per
// active request, no thread; the owning SimAgent calls it on the reactor.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::swarm {

struct SampleModel {
  double level = 1.0;       // mean of every metric's values
  double spread = 0.1;      // standard deviation, relative to the mean
  double canary_shift = 0;  // canary mean = level * (1 + canary_shift)
  double requests = 1000;   // per interval: the denominator of ratio samples
};

class SimSampler {
 public:
  void onRequest(const protocol::SampleRequest& r, common::SteadyTime now);
  // Encoded Samples batches for the requests due at `now`, appended to `out`;
  // returns how many samples they hold.
  std::size_t onTimer(const SampleModel& model, std::mt19937_64& rng, common::SteadyTime now, common::SysTime sys,
                      std::vector<std::string>& out);
  // Earliest next interval; max() when nothing is sampled.
  common::SteadyTime nextDeadline() const;

 private:
  struct Active {
    protocol::SampleRequest request;
    common::SteadyTime next{};
    common::SteadyTime ends{};
  };
  static protocol::Sample draw(const SampleModel& model, std::mt19937_64& rng, const protocol::SampleRequest& r,
                               const protocol::ScrapeMetric& m, std::int64_t at_ms);

  std::vector<Active> active_;  // usually none or one
};

}  // namespace flotilla::swarm
