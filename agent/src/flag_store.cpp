#include "flotilla/agent/flag_store.h"

#include <utility>

namespace flotilla::agent {

namespace {

std::int64_t ticksOf(common::SteadyTime t) {
  return std::chrono::duration_cast<common::Millis>(t.time_since_epoch()).count();
}

}  // namespace

FlagStore::FlagStore(common::SteadyTime now, bool loaded)
    : sets_(std::make_shared<const Snapshot>()), loaded_(loaded), silent_since_ms_(ticksOf(now)) {}

void FlagStore::markLoaded() {
  {
    std::lock_guard lock(mu_);
    loaded_.store(true);
  }
  loaded_cv_.notify_all();
}

bool FlagStore::waitLoaded(common::Millis d) const {
  if (loaded_.load()) return true;
  std::unique_lock lock(mu_);
  return loaded_cv_.wait_for(lock, d, [this] { return loaded_.load(); });
}

void FlagStore::publish(std::shared_ptr<const LiveFlagSet> set) {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<Snapshot>(*sets_);
  (*next)[set->app] = std::move(set);
  sets_ = std::move(next);
}

void FlagStore::withdraw(const std::string& app) {
  std::lock_guard lock(mu_);
  if (sets_->find(app) == sets_->end()) return;
  auto next = std::make_shared<Snapshot>(*sets_);
  next->erase(app);
  sets_ = std::move(next);
}

std::shared_ptr<const FlagStore::Snapshot> FlagStore::snapshot() const {
  std::lock_guard lock(mu_);
  return sets_;
}

std::shared_ptr<const LiveFlagSet> FlagStore::find(std::string_view app) const {
  auto all = snapshot();
  auto it = all->find(app);
  return it == all->end() ? nullptr : it->second;
}

void FlagStore::sessionChanged(bool online, common::SteadyTime now) {
  if (online) {
    silent_since_ms_.store(kOnline, std::memory_order_relaxed);
    return;
  }
  std::int64_t expected = kOnline;
  silent_since_ms_.compare_exchange_strong(expected, ticksOf(now), std::memory_order_relaxed);
}

common::Millis FlagStore::coordinatorSilence(common::SteadyTime now) const {
  const std::int64_t since = silent_since_ms_.load(std::memory_order_relaxed);
  if (since == kOnline) return common::Millis(0);
  return common::Millis(std::max<std::int64_t>(0, ticksOf(now) - since));
}

}  // namespace flotilla::agent
