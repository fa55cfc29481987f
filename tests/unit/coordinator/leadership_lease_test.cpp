// The leadership lease's SQL on a real PostgreSQL (docs/ha.md): take-over only
// after expiry and by one, epochs, renewals by the holder only, and the
// fenced commit of a store whose lease was taken over.
#include "flotilla/coordinator/leadership_lease.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "flotilla/coordinator/lease_keeper.h"
#include "flotilla/coordinator/pg_store.h"
#include "store_records.h"
#include "support/postgres.h"

using namespace store_records;  // NOLINT(google-build-using-namespace): the tests' vocabulary
using namespace std::chrono_literals;
using flotilla::Errc;
using flotilla::coordinator::LeadershipLease;
using flotilla::coordinator::LeaseHolder;
using flotilla::coordinator::LeaseKeeper;
using flotilla::coordinator::LeaseTiming;
using flotilla::coordinator::openStore;
using flotilla::testing::PostgresServer;

namespace {

PostgresServer* server() {
  auto* s = flotilla::testing::testPostgres();
  if (!s) WARN("skipped: " << flotilla::testing::postgresUnavailableReason());
  return s;
}

std::string databaseOf(const std::string& url) { return url.substr(url.rfind('/') + 1); }

// A database with the schema (and the lease row) in place.
std::string freshDatabase(PostgresServer& pg) {
  const auto url = pg.createDatabase();
  valueOf(openStore({.url = url}));
  return url;
}

std::unique_ptr<LeadershipLease> leaseOn(const std::string& url) { return valueOf(LeadershipLease::open(url, "")); }

const LeaseHolder kA{"coord-a/1/aa", "tcp://a:7700", "tcp://a:7701"};
const LeaseHolder kB{"coord-b/2/bb", "tcp://b:7700", "tcp://b:7701"};

// Makes the lease expire now, as if its holder had stopped renewing a TTL ago.
void expire(PostgresServer& pg, const std::string& url) {
  pg.query(databaseOf(url), "UPDATE leadership_lease SET expires_at = now() - interval '1 second'");
}

}  // namespace

TEST_CASE("lease: the first taker gets epoch 1, nobody takes it over before it expires",
          "[coordinator][leadership][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = freshDatabase(*pg);
  auto a = leaseOn(url), b = leaseOn(url);
  CHECK(valueOf(a->read()).epoch == 0);
  CHECK(valueOf(a->takeOver(kA, 30s)) == std::optional<std::uint64_t>(1));
  CHECK_FALSE(valueOf(b->takeOver(kB, 30s)).has_value());
  CHECK_FALSE(valueOf(a->takeOver(kA, 30s)).has_value());  // not even by its holder: it renews
  auto v = valueOf(b->read());
  CHECK(v.epoch == 1);
  CHECK(v.holder.id == kA.id);
  CHECK(v.holder.agents_endpoint == kA.agents_endpoint);
  CHECK(v.holder.control_endpoint == kA.control_endpoint);
  CHECK_FALSE(v.expired);
}

TEST_CASE("lease: once expired it is taken over in the next epoch and the old holder cannot renew",
          "[coordinator][leadership][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = freshDatabase(*pg);
  auto a = leaseOn(url), b = leaseOn(url);
  REQUIRE(valueOf(a->takeOver(kA, 30s)) == std::optional<std::uint64_t>(1));
  expire(*pg, url);
  CHECK(valueOf(b->read()).expired);
  CHECK(valueOf(b->takeOver(kB, 30s)) == std::optional<std::uint64_t>(2));
  CHECK_FALSE(valueOf(a->renew(1, kA.id, 30s)));
  CHECK(valueOf(b->renew(2, kB.id, 30s)));
  CHECK(valueOf(a->read()).holder.id == kB.id);
}

TEST_CASE("lease: it expires by the database's clock after the TTL, not before",
          "[coordinator][leadership][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = freshDatabase(*pg);
  auto a = leaseOn(url), b = leaseOn(url);
  const auto taken = std::chrono::steady_clock::now();
  REQUIRE(valueOf(a->takeOver(kA, 1500ms)).has_value());
  std::optional<std::uint64_t> got;
  while (!got && std::chrono::steady_clock::now() - taken < 10s) {
    got = valueOf(b->takeOver(kB, 30s));
    if (!got) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(got == std::optional<std::uint64_t>(2));
  CHECK(std::chrono::steady_clock::now() - taken >= 1500ms);
}

TEST_CASE("lease: a renewal by a non-holder or in another epoch changes nothing",
          "[coordinator][leadership][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = freshDatabase(*pg);
  auto a = leaseOn(url), b = leaseOn(url);
  REQUIRE(valueOf(a->takeOver(kA, 30s)).has_value());
  CHECK_FALSE(valueOf(b->renew(1, kB.id, 30s)));
  CHECK_FALSE(valueOf(a->renew(2, kA.id, 30s)));
  CHECK(valueOf(a->renew(1, kA.id, 30s)));
  ok(b->release(1, kB.id));  // not the holder: nothing
  CHECK_FALSE(valueOf(b->read()).expired);
}

TEST_CASE("lease: released, it is taken over at once", "[coordinator][leadership][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = freshDatabase(*pg);
  auto a = leaseOn(url), b = leaseOn(url);
  REQUIRE(valueOf(a->takeOver(kA, 30s)).has_value());
  ok(a->release(1, kA.id));
  CHECK(valueOf(b->takeOver(kB, 30s)) == std::optional<std::uint64_t>(2));
}

TEST_CASE("lease: a fenced store commits while its lease holds and writes nothing once taken over",
          "[coordinator][leadership][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = freshDatabase(*pg);
  auto a = leaseOn(url), b = leaseOn(url);
  REQUIRE(valueOf(a->takeOver(kA, 30s)) == std::optional<std::uint64_t>(1));
  auto store = valueOf(openStore({.url = url, .fence_epoch = 1, .fence_holder = kA.id}));
  ok(store->begin());
  ok(store->upsertAgent(agent("before")));
  ok(store->commit());

  expire(*pg, url);
  REQUIRE(valueOf(b->takeOver(kB, 30s)) == std::optional<std::uint64_t>(2));
  ok(store->begin());
  ok(store->upsertAgent(agent("after")));
  auto committed = store->commit();
  REQUIRE_FALSE(committed.ok());
  CHECK(committed.error().code == Errc::kConflict);
  CHECK(committed.error().message.find("fenced") != std::string::npos);
  CHECK(pg->query(databaseOf(url), "SELECT count(*) FROM agents WHERE id = 'after'") == "0");
  CHECK(pg->query(databaseOf(url), "SELECT count(*) FROM agents WHERE id = 'before'") == "1");
}

TEST_CASE("lease keeper: the local deadline is the renew's send time plus the TTL less a fifth",
          "[coordinator][leadership]") {
  const LeaseTiming t{10s, 3s};
  const auto sent = flotilla::common::SteadyTime(100s);
  CHECK(flotilla::coordinator::leaseDeadline(sent, t) == flotilla::common::SteadyTime(108s));
}

TEST_CASE("lease keeper: renews while it can, a terminated backend loses leadership at once and releases it",
          "[coordinator][leadership][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = freshDatabase(*pg);
  auto a = leaseOn(url);
  const auto sent = std::chrono::steady_clock::now();
  const auto epoch = valueOf(a->takeOver(kA, 2s));
  REQUIRE(epoch.has_value());
  std::atomic<int> lost{0};
  LeaseKeeper keeper(std::move(a), kA, *epoch, sent, LeaseTiming{2s, 300ms}, flotilla::common::RealClock::instance(),
                     [&] { ++lost; });
  keeper.start();
  // Three TTLs later it still leads: the renewals kept the lease.
  const auto until = std::chrono::steady_clock::now() + 6s;
  while (std::chrono::steady_clock::now() < until) {
    REQUIRE(keeper.mayOrder());
    std::this_thread::sleep_for(100ms);
  }
  CHECK(lost == 0);
  const auto killed = std::chrono::steady_clock::now();
  REQUIRE(pg->query(databaseOf(url), "SELECT count(pg_terminate_backend(holder_backend)) FROM leadership_lease") ==
          "1");
  while (keeper.mayOrder() && std::chrono::steady_clock::now() - killed < 5s) std::this_thread::sleep_for(10ms);
  const auto stopped = std::chrono::steady_clock::now() - killed;
  CHECK_FALSE(keeper.mayOrder());
  CHECK(stopped <= 300ms + 400ms);  // within one renew interval (plus scheduling on a busy machine)
  while (lost == 0 && std::chrono::steady_clock::now() - killed < 5s) std::this_thread::sleep_for(10ms);
  CHECK(lost == 1);
  auto b = leaseOn(url);
  // Released as it gave up: a standby need not wait for the TTL.
  const auto by = std::chrono::steady_clock::now() + 5s;
  std::optional<std::uint64_t> next;
  while (!next && std::chrono::steady_clock::now() < by) {
    next = valueOf(b->takeOver(kB, 30s));
    if (!next) std::this_thread::sleep_for(20ms);
  }
  CHECK(next == std::optional<std::uint64_t>(2));
  keeper.stop();
}
