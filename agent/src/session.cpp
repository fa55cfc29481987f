#include "flotilla/agent/session.h"

#include <algorithm>
#include <set>
#include <utility>

#include "flotilla/common/duration.h"

namespace flotilla::agent {

using common::SteadyTime;
using protocol::MsgType;
using protocol::Phase;

void Session::restore(OrderLedger ledger, std::map<std::string, std::uint64_t> sequences,
                      protocol::StringMap releases) {
  ledger_ = std::move(ledger);
  sequences_ = std::move(sequences);
  releases_ = std::move(releases);
}

std::uint64_t Session::highestSequence(const std::string& app) const {
  auto it = sequences_.find(app);
  return it == sequences_.end() ? 0 : it->second;
}

// ---------------------------------------------------------------- connection

void Session::awaitConnection(SteadyTime now) { next_hello_ = now + kFirstHelloFallback; }

void Session::connected(SteadyTime now, SessionPort& port) {
  reconnect_check_ = SteadyTime::max();
  if (state_ != State::kIdle) state_ = State::kHelloSent;
  next_heartbeat_ = SteadyTime::max();
  hello_backoff_ = kHelloBackoffMin;
  sendHello(now, port);
}

void Session::disconnected(SteadyTime now, SessionPort& port) {
  if (reconnect_check_ != SteadyTime::max()) return;
  reconnect_check_ = now + kReconnectCheckDelay + port.jitter(kReconnectCheckJitter);
}

void Session::sendHello(SteadyTime now, SessionPort& port) {
  protocol::Hello h;
  port.identify(h);
  h.releases = releases_;
  port.send(MsgType::kHello, protocol::encode(h));
  if (state_ == State::kIdle) state_ = State::kHelloSent;
  // Until welcomed, say it again with exponential backoff and jitter, so a
  // fleet that lost its coordinator does not come back in lockstep.
  next_hello_ = now + hello_backoff_ + port.jitter(hello_backoff_ / 2);
  hello_backoff_ = std::min(hello_backoff_ * 2, kHelloBackoffMax);
}

void Session::sendHeartbeat(SteadyTime now, SessionPort& port) {
  protocol::Heartbeat hb;
  hb.releases = releases_;
  hb.health = health_;
  hb.busy = busy_;
  port.send(MsgType::kHeartbeat, protocol::encode(hb));
  next_heartbeat_ = now + heartbeat_interval_;
}

// ---------------------------------------------------------------- from the coordinator

void Session::onWelcome(const protocol::Welcome& w, SteadyTime now, SessionPort& port) {
  heartbeat_interval_ = std::clamp(port.heartbeatInterval(common::Millis(w.heartbeat_interval_ms)),
                                   kMinHeartbeatInterval, kMaxHeartbeatInterval);
  hello_backoff_ = kHelloBackoffMin;
  ever_welcomed_ = true;
  if (w.status == protocol::WelcomeStatus::kPending) {
    state_ = State::kPending;
    next_heartbeat_ = SteadyTime::max();
    next_hello_ = now + kPendingHelloInterval + port.jitter(kPendingHelloJitter);
    return;
  }
  const bool new_session = state_ != State::kOnline;
  state_ = State::kOnline;
  next_hello_ = SteadyTime::max();
  if (new_session) {
    onAccepted(port);
    port.online();
  }
  sendHeartbeat(now, port);
}

void Session::onAccepted(SessionPort& port) {
  // Reports held while there was no welcome go first, in order. Then the
  // latest report of every order in hand and of every app's last finished
  // order, so a coordinator that restarted (or missed them) learns what
  // happened while it was away; it ignores reports of orders it does not know.
  std::set<std::pair<std::string, Phase>> sent;
  for (const auto& r : outbox_) {
    sent.emplace(r.order_id, r.phase);
    port.send(MsgType::kReport, protocol::encode(r));
  }
  outbox_.clear();
  for (const auto& r : ledger_.latestReports()) {
    if (sent.count({r.order_id, r.phase})) continue;
    port.send(MsgType::kReport, protocol::encode(r));
    port.resent(r);
  }
  // The download in hand lost its requests with the old session: nothing
  // would ask again, and it would stall until its deadline failed the order.
  if (fetch_) {
    fetch_->rewind();
    requestChunks(port);
  }
}

std::optional<Error> Session::onRefusal(const protocol::Refusal& r, SteadyTime now, SessionPort& port) {
  if (protocol::isFetchRefusal(r.code)) {
    // A late refusal of an abandoned download changes nothing.
    if (!fetch_) return std::nullopt;
    fetch_.reset();
    return Error(Errc::kNotFound, "coordinator refused the download: " + r.detail);
  }
  state_ = State::kHelloSent;
  next_heartbeat_ = SteadyTime::max();
  // A restarted coordinator, or one that lost this connection, asks for a
  // hello; anything else (revoked, id taken, a code this build does not know)
  // is retried slowly.
  next_hello_ = protocol::asksForHello(r.code) ? now : now + kRefusedHelloDelay + port.jitter(kRefusedHelloJitter);
  return std::nullopt;
}

Session::OrderDecision Session::onOrder(const protocol::SignedOrder& order, protocol::VerifyContext ctx,
                                        common::SysTime now, SessionPort& port) {
  using Kind = OrderDecision::Kind;
  OrderDecision d;
  if (state_ != State::kOnline) return d;
  auto peek = protocol::decodeOrderBody(order.body);
  if (peek) d.order_id = peek->order_id;
  ctx.now_unix_s = common::toUnixSeconds(now);
  ctx.highest_sequence = peek ? highestSequence(peek->app) : 0;
  if (auto repeat = peek ? ledger_.repeatOf(*peek) : OrderLedger::Repeat{}; repeat.repeat) {
    // The same order again (a restarted coordinator resends what it has no
    // result for, re-signed): not a replay, and never a second deploy. It must
    // still verify; one that does not is dropped without a refusal report,
    // which would misstate how the order it copies went.
    ctx.highest_sequence = peek->sequence - 1;
    auto copy = protocol::OrderVerifier::verify(order, ctx);
    if (!copy.ok) {
      d.kind = Kind::kBadCopy;
      d.note = std::string(protocol::toString(copy.refusal.reason)) + ": " + copy.refusal.message;
      return d;
    }
    if (!repeat.latest) {
      d.kind = Kind::kRepeatQueued;
      return d;
    }
    d.kind = Kind::kRepeatAnswered;
    d.note = protocol::toString(repeat.latest->phase);
    port.send(MsgType::kReport, protocol::encode(*repeat.latest));
    return d;
  }
  auto outcome = protocol::OrderVerifier::verify(order, ctx);
  if (!outcome.ok) {
    protocol::Report r;
    r.phase = Phase::kRefused;
    r.at_ms = common::toUnixMillis(now);
    if (peek) {
      r.order_id = peek->order_id;
      r.app = peek->app;
      r.version = peek->version;
      r.sequence = peek->sequence;
      if (auto it = releases_.find(peek->app); it != releases_.end()) r.live_version = it->second;
    }
    r.message = std::string(protocol::toString(outcome.refusal.reason)) + ": " + outcome.refusal.message;
    d.kind = Kind::kRefused;
    d.note = r.message;
    // Not in the ledger: the refusal is no result of an order this agent took.
    sendReport(r, port);
    return d;
  }
  sequences_[outcome.order.body.app] = outcome.order.body.sequence;
  ledger_.accepted(outcome.order.body);
  d.kind = Kind::kAccepted;
  d.order = std::move(outcome.order);
  return d;
}

Result<FetchWindow::Fit> Session::onChunk(const protocol::Chunk& c, SessionPort& port) {
  if (!fetch_) return FetchWindow::Fit::kStale;
  auto fit = fetch_->accept(c);
  if (!fit || *fit == FetchWindow::Fit::kComplete) {
    fetch_.reset();
    return fit;
  }
  if (*fit == FetchWindow::Fit::kMore) requestChunks(port);
  return fit;
}

// ---------------------------------------------------------------- from the owner

void Session::report(const protocol::Report& r, SessionPort& port) {
  ledger_.reported(r);
  sendReport(r, port);
}

void Session::sendReport(const protocol::Report& r, SessionPort& port) {
  if (!r.live_version.empty())
    releases_[r.app] = r.live_version;
  else if (protocol::isTerminal(r.phase) && r.phase != Phase::kRefused)
    releases_.erase(r.app);
  if (state_ != State::kOnline) {
    outbox_.push_back(r);
    return;
  }
  port.send(MsgType::kReport, protocol::encode(r));
}

void Session::updateState(protocol::StringMap releases, protocol::HealthMap health, std::string busy, SteadyTime now,
                          SessionPort& port) {
  const bool changed = releases != releases_ || health != health_ || busy != busy_;
  releases_ = std::move(releases);
  health_ = std::move(health);
  busy_ = std::move(busy);
  if (changed) heartbeat(now, port);
}

void Session::heartbeat(SteadyTime now, SessionPort& port) {
  if (state_ == State::kOnline) sendHeartbeat(now, port);
}

void Session::beginFetch(std::string digest, std::uint64_t size, SteadyTime deadline, SessionPort& port) {
  fetch_.emplace(std::move(digest), size, deadline);
  requestChunks(port);
}

void Session::requestChunks(SessionPort& port) {
  if (!fetch_) return;
  if (auto f = fetch_->nextRequest()) port.send(MsgType::kFetch, protocol::encode(*f));
}

// ---------------------------------------------------------------- time

Session::Due Session::onTimer(SteadyTime now, SessionPort& port) {
  Due due;
  if (now >= reconnect_check_) {
    reconnect_check_ = SteadyTime::max();
    due.reconnect = true;
  }
  if (fetch_ && now >= fetch_->deadline()) {
    fetch_.reset();
    due.fetch_expired = true;
  }
  if (state_ != State::kOnline && now >= next_hello_) sendHello(now, port);
  if (state_ == State::kOnline && now >= next_heartbeat_) sendHeartbeat(now, port);
  return due;
}

SteadyTime Session::nextDeadline() const {
  SteadyTime next = state_ == State::kOnline ? next_heartbeat_ : next_hello_;
  next = std::min(next, reconnect_check_);
  if (fetch_) next = std::min(next, fetch_->deadline());
  return next;
}

}  // namespace flotilla::agent
