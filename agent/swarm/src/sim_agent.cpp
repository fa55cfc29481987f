#include "flotilla/swarm/sim_agent.h"

#include <algorithm>

#include "flotilla/common/duration.h"

namespace flotilla::swarm {

using common::SteadyTime;
using protocol::Phase;

namespace {

constexpr const char* kAgentVersion = "0.1.0-swarm";
// The real agent's transfer window: 8 chunks of 256 KiB in flight at most.
constexpr std::uint64_t kFetchWindowChunks = 8;

std::int64_t micros(common::SteadyTime from, common::SteadyTime to) {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

}  // namespace

void SimAgent::start(SimContext& ctx, const SimNow& now, std::vector<std::string>& out) {
  hello_backoff_ = ctx.config.hello_backoff;
  sendHello(ctx, now, out);
}

void SimAgent::sendHello(SimContext& ctx, const SimNow& now, std::vector<std::string>& out) {
  protocol::Hello h;
  h.agent_id = id_;
  h.labels = ctx.config.labels;
  h.releases = releases_;
  h.join_token = ctx.config.join_token;
  h.agent_version = kAgentVersion;
  out.push_back(protocol::encode(h));
  ++ctx.stats.hellos;
  if (state_ == State::kIdle) state_ = State::kHelloSent;
  // Unanswered: say it again with exponential backoff and jitter, as the agent does.
  const auto half = std::max<std::int64_t>(1, hello_backoff_.count() / 2);
  const auto jitter = common::Millis(std::uniform_int_distribution<std::int64_t>(0, half)(ctx.rng));
  next_hello_ = now.steady + hello_backoff_ + jitter;
  hello_backoff_ = std::min(hello_backoff_ * 2, ctx.config.hello_backoff_max);
}

void SimAgent::sendHeartbeat(const SimNow& now, SimContext& ctx, std::vector<std::string>& out) {
  protocol::Heartbeat hb;
  hb.releases = releases_;
  hb.health = health_;
  hb.busy = current_ ? current_->order.body.order_id : std::string();
  out.push_back(protocol::encode(hb));
  ++ctx.stats.heartbeats;
  next_heartbeat_ = now.steady + heartbeat_interval_;
}

void SimAgent::goOffline(SimContext& ctx) {
  if (state_ == State::kOnline && ctx.stats.online > 0) --ctx.stats.online;
  if (state_ == State::kPending && ctx.stats.pending > 0) --ctx.stats.pending;
  state_ = State::kHelloSent;
  next_heartbeat_ = SteadyTime::max();
}

void SimAgent::onMessage(SimContext& ctx, const protocol::CoordinatorMessage& msg, const SimNow& now,
                         std::vector<std::string>& out) {
  if (const auto* w = std::get_if<protocol::Welcome>(&msg)) {
    ++ctx.stats.welcomes;
    heartbeat_interval_ =
        ctx.config.heartbeat_override.value_or(common::Millis(std::max<std::int64_t>(w->heartbeat_interval_ms, 10)));
    hello_backoff_ = ctx.config.hello_backoff;
    ever_welcomed_ = true;
    if (w->status == protocol::WelcomeStatus::kAccepted) {
      if (state_ == State::kPending && ctx.stats.pending > 0) --ctx.stats.pending;
      if (state_ != State::kOnline) ++ctx.stats.online;
      state_ = State::kOnline;
      next_hello_ = SteadyTime::max();
      while (!outbox_.empty()) {
        out.push_back(std::move(outbox_.front()));
        outbox_.pop_front();
        ++ctx.stats.reports;
      }
      sendHeartbeat(now, ctx, out);
    } else {
      if (state_ == State::kOnline && ctx.stats.online > 0) --ctx.stats.online;
      if (state_ != State::kPending) ++ctx.stats.pending;
      state_ = State::kPending;
      next_heartbeat_ = SteadyTime::max();
      next_hello_ = now.steady + std::chrono::seconds(5);
    }
    return;
  }
  if (const auto* o = std::get_if<protocol::SignedOrder>(&msg)) {
    if (state_ != State::kOnline) return;  // the agent ignores orders before it is accepted
    onOrder(ctx, *o, now, out);
    return;
  }
  if (const auto* c = std::get_if<protocol::Chunk>(&msg)) {
    onChunk(ctx, *c, now, out);
    return;
  }
  if (const auto* rot = std::get_if<protocol::Rotation>(&msg)) {
    // Statements for older links of the chain do not verify against our pin
    // and are ignored, as the agent does.
    if (rot->new_key.size() == 32 && protocol::verifyRotation(*rot, planKey(ctx.config))) {
      common::PublicKey next{};
      std::copy(rot->new_key.begin(), rot->new_key.end(), next.begin());
      rotated_key_ = next;
      ++ctx.stats.rotations;
    }
    return;
  }
  if (const auto* r = std::get_if<protocol::Refusal>(&msg)) {
    ++ctx.stats.refusals;
    if (protocol::isFetchRefusal(r->code)) {
      if (fetch_) fail(ctx, Phase::kFailed, "fetch refused: " + r->detail, now, out);
      return;
    }
    goOffline(ctx);
    // "not enrolled" (a restarted coordinator) or "pending": introduce ourselves
    // again now; anything else (revoked, id taken) is retried slowly.
    if (protocol::asksForHello(r->code)) {
      next_hello_ = now.steady;
    } else {
      next_hello_ = now.steady + std::chrono::seconds(30);
    }
  }
}

void SimAgent::onOrder(SimContext& ctx, const protocol::SignedOrder& order, const SimNow& now,
                       std::vector<std::string>& out) {
  ++ctx.stats.orders_received;
  const auto now_ms = common::toUnixMillis(now.sys);
  if (ctx.stats.first_receipt_ms == 0) ctx.stats.first_receipt_ms = now_ms;
  auto peek = protocol::decodeOrderBody(order.body);
  protocol::VerifyContext vc;
  vc.plan_key = planKey(ctx.config);
  vc.agent_id = id_;
  vc.now_unix_s = common::toUnixSeconds(now.sys);
  vc.clock_skew_s = ctx.config.clock_skew_s;
  vc.highest_sequence = peek ? highestSequence(peek->app) : 0;
  auto outcome = protocol::OrderVerifier::verify(order, vc);
  // A fresh reading: the verify work itself is part of what this times.
  const auto verified_at = ctx.clock.steadyNow();
  if (!outcome.ok) {
    ++ctx.stats.orders_refused;
    Work w;
    if (peek) w.order.body = *peek;
    w.received = now.steady;
    const std::string live = peek && releases_.count(peek->app) ? releases_.at(peek->app) : std::string();
    report(ctx, w, Phase::kRefused,
           std::string(protocol::toString(outcome.refusal.reason)) + ": " + outcome.refusal.message, live, now, out);
    ctx.stats.logEvent("refused", now_ms, id_, peek ? peek->order_id : std::string("?"));
    return;
  }
  ++ctx.stats.orders_verified;
  ctx.stats.verify_us.add(micros(now.steady, verified_at));
  ctx.stats.last_verified_ms = common::toUnixMillis(now.sys + (verified_at - now.steady));
  ctx.stats.logEvent("verified", ctx.stats.last_verified_ms, id_, outcome.order.body.order_id);
  sequences_[outcome.order.body.app] = outcome.order.body.sequence;
  queue_.push_back(Work{std::move(outcome.order), now.steady, {}});
  if (!current_) startNext(ctx, now, out);
}

void SimAgent::startNext(SimContext& ctx, const SimNow& now, std::vector<std::string>& out) {
  if (current_ || queue_.empty()) return;
  current_ = std::move(queue_.front());
  queue_.pop_front();
  Work& w = *current_;
  const auto& b = w.order.body;
  if (auto it = releases_.find(b.app); it != releases_.end()) w.previous = it->second;
  report(ctx, w, Phase::kAccepted, "", w.previous, now, out);
  if (ctx.config.fetch && b.artifact_size > 0 && !b.artifact_digest.empty()) {
    report(ctx, w, Phase::kFetching, "", w.previous, now, out);
    fetch_.emplace();
    fetch_->deadline = now.steady + ctx.config.fetch_timeout;
    requestChunks(ctx, out);
    return;
  }
  apply_due_ = now.steady + ctx.config.apply_time;
}

void SimAgent::requestChunks(SimContext& ctx, std::vector<std::string>& out) {
  if (!fetch_ || !current_) return;
  auto& f = *fetch_;
  const auto& b = current_->order.body;
  const std::uint64_t window = kFetchWindowChunks * protocol::kChunkBytes;
  // Credit-based flow control, as agent/src/agent.cpp: keep at most `window`
  // bytes in flight and top it up once half of it has landed.
  if (f.requested >= b.artifact_size) return;
  const std::uint64_t in_flight = f.requested - f.received;
  if (in_flight > window / 2) return;
  const std::uint64_t bytes = std::min<std::uint64_t>(window - in_flight, b.artifact_size - f.requested);
  const auto credit = static_cast<std::uint32_t>((bytes + protocol::kChunkBytes - 1) / protocol::kChunkBytes);
  if (credit == 0) return;
  out.push_back(protocol::encode(protocol::Fetch{b.artifact_digest, f.requested, credit}));
  ++ctx.stats.fetches;
  f.requested = std::min<std::uint64_t>(b.artifact_size, f.requested + std::uint64_t{credit} * protocol::kChunkBytes);
}

void SimAgent::onChunk(SimContext& ctx, const protocol::Chunk& c, const SimNow& now, std::vector<std::string>& out) {
  if (!fetch_ || !current_ || c.digest != current_->order.body.artifact_digest) return;  // late chunk
  auto& f = *fetch_;
  const auto& b = current_->order.body;
  if (c.total != b.artifact_size || c.offset != f.received || c.data.size() > b.artifact_size - f.received) {
    fail(
        ctx, Phase::kFailed,
        "chunk does not fit the order (offset " + std::to_string(c.offset) + ", total " + std::to_string(c.total) + ")",
        now, out);
    return;
  }
  f.hasher.update(common::asBytes(c.data));
  f.received += c.data.size();
  ctx.stats.fetched_bytes += c.data.size();
  if (f.received < b.artifact_size) {
    requestChunks(ctx, out);
    return;
  }
  if (f.hasher.finalHex() != b.artifact_digest) {
    fail(ctx, Phase::kFailed, "artifact digest mismatch", now, out);
    return;
  }
  fetch_.reset();
  apply_due_ = now.steady + ctx.config.apply_time;
}

void SimAgent::fail(SimContext& ctx, Phase phase, const std::string& why, const SimNow& now,
                    std::vector<std::string>& out) {
  if (!current_) return;
  ++ctx.stats.orders_failed;
  report(ctx, *current_, phase, why, current_->previous, now, out);
  ctx.stats.done_us.add(micros(current_->received, now.steady));
  ctx.stats.logEvent("failed", common::toUnixMillis(now.sys), id_, current_->order.body.order_id);
  current_.reset();
  fetch_.reset();
  apply_due_ = SteadyTime::max();
  if (state_ == State::kOnline) sendHeartbeat(now, ctx, out);
  startNext(ctx, now, out);
}

void SimAgent::finish(SimContext& ctx, const SimNow& now, std::vector<std::string>& out) {
  Work& w = *current_;
  const auto& b = w.order.body;
  const bool reverted =
      ctx.config.fail_rate > 0 && std::uniform_real_distribution<double>(0, 1)(ctx.rng) < ctx.config.fail_rate;
  if (reverted) {
    ++ctx.stats.orders_reverted;
    report(ctx, w, Phase::kReverted, "simulated failure: health checks failed, reverted", w.previous, now, out);
    ctx.stats.logEvent("reverted", common::toUnixMillis(now.sys), id_, b.order_id);
  } else {
    ++ctx.stats.orders_healthy;
    releases_[b.app] = b.version;
    report(ctx, w, Phase::kHealthy, "", b.version, now, out);
    ctx.stats.logEvent("healthy", common::toUnixMillis(now.sys), id_, b.order_id);
  }
  if (releases_.count(b.app)) health_[b.app] = protocol::HealthState::kHealthy;
  ctx.stats.done_us.add(micros(w.received, now.steady));
  current_.reset();
  apply_due_ = SteadyTime::max();
  // The real agent's worker publishes its new state, which the reactor turns
  // into a heartbeat straight away.
  if (state_ == State::kOnline) sendHeartbeat(now, ctx, out);
  startNext(ctx, now, out);
}

void SimAgent::report(SimContext& ctx, const Work& w, Phase phase, const std::string& message, const std::string& live,
                      const SimNow& now, std::vector<std::string>& out) {
  protocol::Report r;
  r.order_id = w.order.body.order_id;
  r.app = w.order.body.app;
  r.version = w.order.body.version;
  r.sequence = w.order.body.sequence;
  r.phase = phase;
  r.message = message;
  r.live_version = live;
  r.at_ms = common::toUnixMillis(now.sys);
  if (state_ != State::kOnline) {
    outbox_.push_back(protocol::encode(r));
    return;
  }
  out.push_back(protocol::encode(r));
  ++ctx.stats.reports;
}

void SimAgent::onTimer(SimContext& ctx, const SimNow& now, std::vector<std::string>& out) {
  if (current_ && !fetch_ && now.steady >= apply_due_) finish(ctx, now, out);
  if (fetch_ && now.steady >= fetch_->deadline)
    fail(ctx, Phase::kFailed, "download did not finish within fetch_timeout", now, out);
  if (state_ != State::kOnline && now.steady >= next_hello_) sendHello(ctx, now, out);
  if (state_ == State::kOnline && now.steady >= next_heartbeat_) sendHeartbeat(now, ctx, out);
}

SteadyTime SimAgent::nextDeadline() const {
  SteadyTime next = state_ == State::kOnline ? next_heartbeat_ : next_hello_;
  if (current_ && !fetch_) next = std::min(next, apply_due_);
  if (fetch_) next = std::min(next, fetch_->deadline);
  return next;
}

}  // namespace flotilla::swarm
