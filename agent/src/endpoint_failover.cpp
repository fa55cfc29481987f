#include "flotilla/agent/endpoint_failover.h"

#include <algorithm>

namespace flotilla::agent {

using common::SteadyTime;

EndpointFailover::EndpointFailover(std::vector<std::string> endpoints, Jitter jitter)
    : list_(std::move(endpoints)), jitter_(std::move(jitter)) {}

void EndpointFailover::start(SteadyTime now) {
  searching_ = true;
  move_at_ = hasAlternative() ? now + kConnectPatience : SteadyTime::max();
}

void EndpointFailover::linkUp(SteadyTime now) {
  // Something holding the coordinator's key answered: give it time to welcome.
  if (searching_ && !redirect_ && move_at_ != SteadyTime::max()) move_at_ = std::max(move_at_, now + kWelcomePatience);
}

void EndpointFailover::lost(SteadyTime now) {
  if (searching_ || !hasAlternative()) return;  // already searching, or nowhere else to go
  searching_ = true;
  move_at_ = now + kLostPatience + jitter_(kLostJitter);
}

void EndpointFailover::welcomed() {
  searching_ = false;
  redirect_.reset();
  moves_ = 0;
  unreachable_until_.clear();
  move_at_ = SteadyTime::max();
}

void EndpointFailover::notLeader(const std::string& leader, SteadyTime now) {
  if (redirect_) return;  // a move is already on its way (a heartbeat and a hello both refused)
  searching_ = true;
  redirect_ = leader;
  move_at_ = now + backoff();
}

common::Millis EndpointFailover::backoff() {
  const int round = moves_ - static_cast<int>(list_.size());
  if (round < 0) return common::Millis(0);
  common::Millis wait = kSwitchBackoffMin;
  for (int i = 0; i < round && wait < kSwitchBackoffMax; ++i) wait *= 2;
  wait = std::min(wait, kSwitchBackoffMax);
  return wait + jitter_(wait / 2);
}

bool EndpointFailover::unreachable(const std::string& endpoint, SteadyTime now) const {
  auto it = unreachable_until_.find(endpoint);
  return it != unreachable_until_.end() && now < it->second;
}

void EndpointFailover::choose(SteadyTime now) {
  const std::optional<std::string> leader = std::move(redirect_);
  redirect_.reset();
  if (leader && list_.followable(*leader) && !unreachable(*leader, now)) {
    list_.follow(*leader);
    return;
  }
  // The next endpoint of the list that may answer, the current one last.
  const auto& all = list_.endpoints();
  for (std::size_t k = 1; k <= all.size(); ++k) {
    const std::size_t at = (list_.position() + k) % all.size();
    if (!unreachable(all[at], now)) {
      list_.select(at);
      return;
    }
  }
  // None may: they may have come back since; start the round again.
  unreachable_until_.clear();
  list_.advance();
}

std::optional<std::string> EndpointFailover::onTimer(SteadyTime now) {
  if (now < move_at_) return std::nullopt;
  // Left without a redirect: it did not serve a session in time.
  if (!redirect_) unreachable_until_[list_.current()] = now + kUnreachableFor;
  choose(now);
  ++moves_;
  searching_ = true;
  move_at_ = hasAlternative() ? now + kConnectPatience + backoff() : SteadyTime::max();
  return list_.current();
}

}  // namespace flotilla::agent
