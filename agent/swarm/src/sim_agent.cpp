#include "flotilla/swarm/sim_agent.h"

#include <algorithm>

#include "flotilla/common/duration.h"

namespace flotilla::swarm {

using common::SteadyTime;
using protocol::Phase;

namespace {

constexpr const char* kAgentVersion = "0.1.0-swarm";

std::int64_t micros(common::SteadyTime from, common::SteadyTime to) {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

}  // namespace

// The session's way out: frames to this agent's outbox, counted by kind.
// Built for one call, so a simulated agent stores no sink.
class SimAgent::Port final : public agent::SessionPort {
 public:
  Port(SimContext& ctx, const std::string& id, std::vector<std::string>& out) : ctx_(ctx), id_(id), out_(out) {}

  void send(protocol::MsgType type, std::string frame) override {
    out_.push_back(std::move(frame));
    switch (type) {
      case protocol::MsgType::kHello:
        ++ctx_.stats.hellos;
        break;
      case protocol::MsgType::kHeartbeat:
        ++ctx_.stats.heartbeats;
        break;
      case protocol::MsgType::kReport:
        ++ctx_.stats.reports;
        break;
      case protocol::MsgType::kFetch:
        ++ctx_.stats.fetches;
        break;
      default:
        break;
    }
  }
  common::Millis jitter(common::Millis max) override {
    return common::Millis(std::uniform_int_distribution<std::int64_t>(0, max.count())(ctx_.rng));
  }
  void identify(protocol::Hello& h) override {
    h.agent_id = id_;
    h.labels = ctx_.config.labels;
    h.join_token = ctx_.config.join_token;
    h.agent_version = kAgentVersion;
  }
  common::Millis heartbeatInterval(common::Millis offered) override {
    return ctx_.config.heartbeat_override.value_or(offered);
  }

 private:
  SimContext& ctx_;
  const std::string& id_;
  std::vector<std::string>& out_;
};

void SimAgent::track(SimContext& ctx, State before) const {
  const State after = session_.state();
  if (after == before) return;
  if (before == State::kOnline && ctx.stats.online > 0) --ctx.stats.online;
  if (before == State::kPending && ctx.stats.pending > 0) --ctx.stats.pending;
  if (after == State::kOnline) ++ctx.stats.online;
  if (after == State::kPending) ++ctx.stats.pending;
}

void SimAgent::start(SimContext& ctx, const SimNow& now, std::vector<std::string>& out) {
  Port port(ctx, id_, out);
  const State before = session_.state();
  session_.connected(now.steady, port);
  track(ctx, before);
}

void SimAgent::disconnected(SimContext& ctx, const SimNow& now, std::vector<std::string>& out) {
  Port port(ctx, id_, out);
  session_.disconnected(now.steady, port);
}

void SimAgent::onMessage(SimContext& ctx, const protocol::CoordinatorMessage& msg, const SimNow& now,
                         std::vector<std::string>& out) {
  Port port(ctx, id_, out);
  const State before = session_.state();
  if (const auto* w = std::get_if<protocol::Welcome>(&msg)) {
    ++ctx.stats.welcomes;
    session_.onWelcome(*w, now.steady, port);
  } else if (const auto* o = std::get_if<protocol::SignedOrder>(&msg)) {
    onOrder(ctx, port, *o, now);
  } else if (const auto* c = std::get_if<protocol::Chunk>(&msg)) {
    onChunk(ctx, port, *c, now);
  } else if (const auto* rot = std::get_if<protocol::Rotation>(&msg)) {
    onRotation(ctx, *rot);
  } else if (const auto* sr = std::get_if<protocol::SampleRequest>(&msg)) {
    ++ctx.stats.sample_requests;
    sampler_.onRequest(*sr, now.steady);
  } else if (const auto* r = std::get_if<protocol::Refusal>(&msg)) {
    ++ctx.stats.refusals;
    if (auto failed = session_.onRefusal(*r, now.steady, port)) fail(ctx, port, failed->message, now);
  }
  track(ctx, before);
}

void SimAgent::onRotation(SimContext& ctx, const protocol::Rotation& rot) {
  // Statements for older links of the chain do not verify against our pin
  // and are ignored, as the agent does.
  if (rot.new_key.size() != 32 || !protocol::verifyRotation(rot, planKey(ctx.config))) return;
  common::PublicKey next{};
  std::copy(rot.new_key.begin(), rot.new_key.end(), next.begin());
  rotated_key_ = next;
  ++ctx.stats.rotations;
}

void SimAgent::onOrder(SimContext& ctx, Port& port, const protocol::SignedOrder& order, const SimNow& now) {
  using Kind = agent::Session::OrderDecision::Kind;
  if (!session_.online()) return;  // the agent ignores orders before it is accepted
  ++ctx.stats.orders_received;
  const auto now_ms = common::toUnixMillis(now.sys);
  if (ctx.stats.first_receipt_ms == 0) ctx.stats.first_receipt_ms = now_ms;
  protocol::VerifyContext vc;
  vc.plan_key = planKey(ctx.config);
  vc.agent_id = id_;
  vc.clock_skew_s = ctx.config.clock_skew_s;
  auto d = session_.onOrder(order, std::move(vc), now.sys, port);
  // A fresh reading: the verify work itself is part of what this times.
  const auto verified_at = ctx.clock.steadyNow();
  if (d.kind == Kind::kRefused) {
    ++ctx.stats.orders_refused;
    ctx.stats.logEvent("refused", now_ms, id_, d.order_id.empty() ? std::string("?") : d.order_id);
    return;
  }
  if (d.kind != Kind::kAccepted) return;  // a repeat: answered (or queued) by the session
  ++ctx.stats.orders_verified;
  ctx.stats.verify_us.add(micros(now.steady, verified_at));
  ctx.stats.last_verified_ms = common::toUnixMillis(now.sys + (verified_at - now.steady));
  ctx.stats.logEvent("verified", ctx.stats.last_verified_ms, id_, d.order.body.order_id);
  queue_.push_back(Work{std::move(d.order), now.steady, {}});
  if (!current_) startNext(ctx, port, now);
}

void SimAgent::startNext(SimContext& ctx, Port& port, const SimNow& now) {
  if (current_ || queue_.empty()) return;
  current_ = std::move(queue_.front());
  queue_.pop_front();
  Work& w = *current_;
  const auto& b = w.order.body;
  if (auto it = session_.releases().find(b.app); it != session_.releases().end()) w.previous = it->second;
  // As on the agent: its worker publishes busy before it runs the order, and
  // the reactor heartbeats the change before the first report.
  session_.setBusy(b.order_id);
  session_.heartbeat(now.steady, port);
  report(port, w, Phase::kAccepted, "", w.previous, now);
  if (ctx.config.fetch && b.artifact_size > 0 && !b.artifact_digest.empty()) {
    report(port, w, Phase::kFetching, "", w.previous, now);
    hasher_.emplace();
    session_.beginFetch(b.artifact_digest, b.artifact_size, now.steady + ctx.config.fetch_timeout, port);
    return;
  }
  beginApply(ctx, port, now);
}

void SimAgent::beginApply(SimContext& ctx, Port& port, const SimNow& now) {
  if (ctx.config.report_probation) report(port, *current_, Phase::kProbation, "", current_->order.body.version, now);
  apply_due_ = now.steady + ctx.config.apply_time;
}

void SimAgent::onChunk(SimContext& ctx, Port& port, const protocol::Chunk& c, const SimNow& now) {
  if (!current_ || !hasher_) return;  // a late chunk
  auto fit = session_.onChunk(c, port);
  if (!fit) {
    fail(ctx, port, fit.error().message, now);
    return;
  }
  if (*fit == agent::FetchWindow::Fit::kStale) return;
  hasher_->update(common::asBytes(c.data));
  ctx.stats.fetched_bytes += c.data.size();
  if (*fit == agent::FetchWindow::Fit::kMore) return;
  const bool intact = hasher_->finalHex() == current_->order.body.artifact_digest;
  hasher_.reset();
  if (!intact) {
    fail(ctx, port, "artifact digest mismatch", now);
    return;
  }
  beginApply(ctx, port, now);
}

void SimAgent::fail(SimContext& ctx, Port& port, const std::string& why, const SimNow& now) {
  if (!current_) return;
  ++ctx.stats.orders_failed;
  report(port, *current_, Phase::kFailed, why, current_->previous, now);
  ctx.stats.done_us.add(micros(current_->received, now.steady));
  ctx.stats.logEvent("failed", common::toUnixMillis(now.sys), id_, current_->order.body.order_id);
  current_.reset();
  hasher_.reset();
  session_.abandonFetch();
  apply_due_ = SteadyTime::max();
  session_.setBusy("");
  session_.heartbeat(now.steady, port);
  startNext(ctx, port, now);
}

void SimAgent::finish(SimContext& ctx, Port& port, const SimNow& now) {
  Work& w = *current_;
  const auto& b = w.order.body;
  const bool reverted =
      ctx.config.fail_rate > 0 && std::uniform_real_distribution<double>(0, 1)(ctx.rng) < ctx.config.fail_rate;
  if (reverted) {
    ++ctx.stats.orders_reverted;
    report(port, w, Phase::kReverted, "simulated failure: health checks failed, reverted", w.previous, now);
    ctx.stats.logEvent("reverted", common::toUnixMillis(now.sys), id_, b.order_id);
  } else {
    ++ctx.stats.orders_healthy;
    report(port, w, Phase::kHealthy, "", b.version, now);
    ctx.stats.logEvent("healthy", common::toUnixMillis(now.sys), id_, b.order_id);
  }
  if (session_.releases().count(b.app)) session_.setHealth(b.app, protocol::HealthState::kHealthy);
  ctx.stats.done_us.add(micros(w.received, now.steady));
  current_.reset();
  apply_due_ = SteadyTime::max();
  // The real agent's worker publishes its new state, which the reactor turns
  // into a heartbeat straight away.
  session_.setBusy("");
  session_.heartbeat(now.steady, port);
  startNext(ctx, port, now);
}

void SimAgent::report(Port& port, const Work& w, Phase phase, const std::string& message, const std::string& live,
                      const SimNow& now) {
  protocol::Report r;
  r.order_id = w.order.body.order_id;
  r.app = w.order.body.app;
  r.version = w.order.body.version;
  r.sequence = w.order.body.sequence;
  r.phase = phase;
  r.message = message;
  r.live_version = live;
  r.at_ms = common::toUnixMillis(now.sys);
  session_.report(r, port);
}

void SimAgent::onTimer(SimContext& ctx, const SimNow& now, std::vector<std::string>& out) {
  Port port(ctx, id_, out);
  const State before = session_.state();
  if (current_ && now.steady >= apply_due_) finish(ctx, port, now);
  const auto due = session_.onTimer(now.steady, port);
  if (due.fetch_expired) fail(ctx, port, "download did not finish within fetch_timeout", now);
  sample(ctx, now, out);
  track(ctx, before);
}

void SimAgent::sample(SimContext& ctx, const SimNow& now, std::vector<std::string>& out) {
  if (now.steady < sampler_.nextDeadline()) return;
  const std::size_t before = out.size();
  const std::size_t n = sampler_.onTimer(ctx.config.samples, ctx.rng, now.steady, now.sys, out);
  if (session_.online()) {
    ctx.stats.samples += n;
    ctx.stats.sample_batches += out.size() - before;
    return;
  }
  out.resize(before);  // the agent drops samples while offline too
  ctx.stats.samples_dropped += n;
}

SteadyTime SimAgent::nextDeadline() const {
  return std::min({session_.nextDeadline(), apply_due_, sampler_.nextDeadline()});
}

}  // namespace flotilla::swarm
