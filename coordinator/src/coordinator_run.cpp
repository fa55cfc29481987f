#include "flotilla/coordinator/coordinator_run.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "flotilla/coordinator/fleet_gauges.h"
#include "flotilla/coordinator/http_endpoint.h"
#include "flotilla/coordinator/leadership_lease.h"
#include "flotilla/coordinator/lease_keeper.h"
#include "flotilla/coordinator/server.h"
#include "flotilla/coordinator/standby_responder.h"

namespace flotilla::coordinator {

namespace {

// SIGTERM and SIGINT as a file descriptor (the Server takes them over when it
// starts: the pending signal is read by whichever reads first).
int stopSignals() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  return ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

// /metrics and /healthz of a standby: it leads nothing, so it serves its role alone.
class StandbyHttp {
 public:
  explicit StandbyHttp(const CoordinatorConfig& config) {
    if (config.http.listen.empty()) return;
    http_ = std::make_unique<HttpEndpoint>(storeOptions(config, true), gauges_, nullptr, HttpConfig{});
    http_->setHealth(health_);
  }
  Status start(const std::string& listen) { return http_ ? http_->start(listen) : Status(); }
  void show(const LeaseView& v) {
    gauges_->publish(renderLeadershipGauges(false, v.epoch));
    health_->publish("ok: standby; " +
                     (v.expired ? std::string("no coordinator leads")
                                : "leader " + v.holder.id + " at " + v.holder.agents_endpoint) +
                     "\n");
  }
  void stop() {
    if (http_) http_->stop();
    http_.reset();
  }

 private:
  std::shared_ptr<LiveGauges> gauges_ = std::make_shared<LiveGauges>();
  std::shared_ptr<LiveGauges> health_ = std::make_shared<LiveGauges>("ok: standby\n");
  std::unique_ptr<HttpEndpoint> http_;
};

struct Taken {
  std::uint64_t epoch = 0;
  common::SteadyTime sent{};
};

// Standby until the lease is ours (nullopt: stopped by a signal first).
Result<std::optional<Taken>> waitForLease(const CoordinatorConfig& config, LeadershipLease& lease,
                                          const LeaseHolder& me, const common::Clock& clock, int stop_fd) {
  std::unique_ptr<StandbyResponder> responder;
  StandbyHttp http(config);
  std::uint64_t seen_epoch = 0;
  bool announced = false;
  while (true) {
    const auto sent = clock.steadyNow();
    auto taken = lease.takeOver(me, config.leadership.lease_ttl);
    if (!taken) spdlog::warn("standby: {}", taken.error().message);
    if (taken && *taken) return std::optional<Taken>(Taken{**taken, sent});
    auto view = lease.read();
    if (!view) spdlog::warn("standby: {}", view.error().message);
    LeaseView v = view ? *view : LeaseView{};
    if (!responder) {
      responder = std::make_unique<StandbyResponder>(config);
      FLOTILLA_TRY(responder->bind());
      FLOTILLA_TRY(http.start(config.http.listen));
    }
    http.show(v);
    if (!announced || v.epoch != seen_epoch) {
      spdlog::info("standby: {} leads in epoch {} (agents: {}, control: {}); polling the lease every {} ms",
                   v.holder.id.empty() ? "nobody" : v.holder.id, v.epoch, v.holder.agents_endpoint,
                   v.holder.control_endpoint, config.leadership.renewEvery().count());
      announced = true;
      seen_epoch = v.epoch;
    }
    if (responder->serve(config.leadership.renewEvery(), v, stop_fd)) return std::optional<Taken>();
  }
}

// The schema (and with it the lease row) brought up to date, and the lease's
// own connection. A database that cannot be reached is waited for, each
// renew interval, rather than given up on: a coordinator that lost its lease
// because PostgreSQL restarted comes back as a standby by itself. nullptr:
// stopped by a signal while waiting.
Result<std::unique_ptr<LeadershipLease>> openLease(const CoordinatorConfig& config, int stop_fd) {
  auto password = storePassword(storeOptions(config));
  if (!password) return password.error();
  while (true) {
    auto store = openStore(storeOptions(config));
    if (store) {
      store->reset();
      auto lease = LeadershipLease::open(config.store_url, *password);
      if (lease || lease.error().code != Errc::kUnavailable) return lease;
      store = lease.error();
    }
    if (store.error().code != Errc::kUnavailable) return store.error();
    spdlog::warn("standby: {}; trying again in {} ms", store.error().message, config.leadership.renewEvery().count());
    pollfd p{stop_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(config.leadership.renewEvery().count())) > 0)
      return std::unique_ptr<LeadershipLease>();
  }
}

}  // namespace

Result<RunEnd> runCoordinator(CoordinatorConfig config, const common::Clock& clock,
                              const std::function<void()>& relaunch) {
  if (config.store_url.empty()) {
    Server server(std::move(config), clock);
    FLOTILLA_TRY(server.start());
    FLOTILLA_TRY(server.run());
    return RunEnd::kStopped;
  }
  const int stop_fd = stopSignals();
  auto lease = openLease(config, stop_fd);
  if (!lease || !*lease) {
    ::close(stop_fd);
    if (!lease) return lease.error();
    return RunEnd::kStopped;
  }
  const LeaseHolder me{leaseHolderId(), config.leadership.agents_endpoint, config.leadership.control_endpoint};
  auto taken = waitForLease(config, **lease, me, clock, stop_fd);
  ::close(stop_fd);
  if (!taken) return taken.error();
  if (!*taken) return RunEnd::kStopped;
  const auto [epoch, sent] = **taken;
  spdlog::warn("leadership taken at epoch {} by {}: starting as the leader", epoch, me.id);

  const LeaseTiming timing{config.leadership.lease_ttl, config.leadership.renewEvery()};
  auto server = std::make_unique<Server>(std::move(config), clock);
  Server* raw = server.get();
  LeaseKeeper keeper(std::move(*lease), me, epoch, sent, timing, clock, [raw] { raw->requestStop(); });
  keeper.start();
  server->lead(&keeper, me.id);
  Status ran = server->start();
  // A lease lost while starting stops the server before it runs (its stop
  // request may have come before the server could take it).
  if (ran.ok() && !keeper.lost()) ran = server->run();
  if (keeper.lost()) {
    // The Server goes first (sockets closed, workers joined); the keeper's
    // threads may be stuck in a statement to an unreachable database, so it
    // stays as it is until `relaunch` replaces the process.
    server.reset();
    relaunch();
    return RunEnd::kLeadershipLost;
  }
  server.reset();
  keeper.stop();
  if (!ran.ok()) return ran.error();
  return RunEnd::kStopped;
}

}  // namespace flotilla::coordinator
