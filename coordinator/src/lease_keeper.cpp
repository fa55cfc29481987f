#include "flotilla/coordinator/lease_keeper.h"

#include <spdlog/spdlog.h>

namespace flotilla::coordinator {

namespace {

std::int64_t nanos(common::SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

common::SteadyTime fromNanos(std::int64_t ns) {
  return common::SteadyTime(std::chrono::duration_cast<common::SteadyTime::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

LeaseKeeper::LeaseKeeper(std::unique_ptr<LeadershipLease> lease, LeaseHolder me, std::uint64_t epoch,
                         common::SteadyTime sent, LeaseTiming timing, const common::Clock& clock,
                         std::function<void()> on_lost)
    : lease_(std::move(lease)),
      me_(std::move(me)),
      epoch_(epoch),
      timing_(timing),
      clock_(clock),
      on_lost_(std::move(on_lost)),
      deadline_ns_(nanos(leaseDeadline(sent, timing))) {}

LeaseKeeper::~LeaseKeeper() { stop(); }

void LeaseKeeper::start() {
  renewer_ = std::thread([this] { renewLoop(); });
  watchdog_ = std::thread([this] { watchdogLoop(); });
}

void LeaseKeeper::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  if (watchdog_.joinable()) watchdog_.join();
  if (!lost_.exchange(true) && lease_) {
    if (auto st = lease_->release(epoch_, me_.id); !st.ok())
      spdlog::warn("could not release the leadership lease of epoch {}: {}", epoch_, st.error().message);
    else
      spdlog::info("released the leadership lease of epoch {}", epoch_);
  }
}

bool LeaseKeeper::mayOrder() const { return !lost_.load() && nanos(clock_.steadyNow()) < deadline_ns_.load(); }

void LeaseKeeper::lose(const std::string& why) {
  if (lost_.exchange(true)) return;
  spdlog::warn("leadership lost at epoch {}: {}", epoch_, why);
  if (on_lost_) on_lost_();
}

void LeaseKeeper::renewLoop() {
  auto next = fromNanos(deadline_ns_.load()) - timing_.ttl + timing_.margin() + timing_.renew_every;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stopping_ && clock_.steadyNow() < next) cv_.wait_for(lock, next - clock_.steadyNow());
      if (stopping_ || lost_.load()) return;
    }
    const auto sent = clock_.steadyNow();
    auto renewed = lease_->renew(epoch_, me_.id, timing_.ttl);
    if (!renewed) {
      lose("renewal failed: " + renewed.error().message);
      // Nobody else may hold it yet: let it expire now, so a standby need not wait a TTL.
      if (auto st = lease_->release(epoch_, me_.id); st.ok()) spdlog::info("released the leadership lease");
      return;
    }
    if (!*renewed) {
      lose("another coordinator holds the lease");
      return;
    }
    deadline_ns_.store(nanos(leaseDeadline(sent, timing_)));
    cv_.notify_all();
    next = sent + timing_.renew_every;
  }
}

void LeaseKeeper::watchdogLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_ && !lost_.load()) {
    const auto deadline = fromNanos(deadline_ns_.load());
    const auto now = clock_.steadyNow();
    if (now >= deadline) {
      lock.unlock();
      lose("no renewal succeeded before the local deadline (the database unreachable or slow, or this process paused)");
      return;
    }
    cv_.wait_for(lock, deadline - now);
  }
}

}  // namespace flotilla::coordinator
