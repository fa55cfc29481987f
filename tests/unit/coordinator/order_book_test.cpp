#include "flotilla/coordinator/order_book.h"

#include <catch2/catch.hpp>

#include "flotilla/common/crypto.h"
#include "flotilla/coordinator/order_signing.h"
#include "flotilla/protocol/order.h"
#include "support/fake_clock.h"

using flotilla::coordinator::kParallelSignAt;
using flotilla::coordinator::OrderBook;
using flotilla::coordinator::OrderRef;
using flotilla::coordinator::OutgoingOrder;
using flotilla::coordinator::ReleaseData;
using flotilla::coordinator::signOrders;
using flotilla::testing::FakeClock;
using namespace std::chrono_literals;

namespace {

OrderRef ref(const std::string& rollout, const std::string& agent, std::uint64_t seq, bool converge = false) {
  OrderRef r;
  r.rollout_id = rollout;
  r.agent_id = agent;
  r.app = "web";
  r.version = "2";
  r.sequence = seq;
  r.converge = converge;
  return r;
}

ReleaseData release() {
  ReleaseData data;
  data.spec = std::make_shared<const std::string>("spec");
  data.digest = std::string(64, 'a');
  data.size = 10;
  return data;
}

}  // namespace

TEST_CASE("order book: an order opens under its id and its agent, and closes", "[coordinator][orders]") {
  OrderBook book;
  const auto id = book.open(ref("web-1", "h0", 7));
  CHECK(id == "web-1/h0/7");
  CHECK(book.open(ref("web-1", "h1", 8), "given-id") == "given-id");
  REQUIRE(book.find(id) != nullptr);
  CHECK(book.ofAgent("h0").count(id) == 1);
  CHECK(book.busyWith("h0", "web"));
  CHECK_FALSE(book.busyWith("h0", "db"));
  CHECK_FALSE(book.busyWith("h2", "web"));
  book.close(id);
  CHECK(book.find(id) == nullptr);
  CHECK(book.ofAgent("h0").empty());
  book.close(id);
  CHECK(book.size() == 1);
}

TEST_CASE("order book: a queued order carries its identity and release, stamped with now", "[coordinator][orders]") {
  OrderBook book;
  FakeClock clock;
  const auto id = book.open(ref("web-1", "h0", 7));
  book.queue(id, release(), clock.steadyNow());
  book.queue("unknown", release(), clock.steadyNow());
  auto out = book.takeOutbox();
  REQUIRE(out.size() == 1);
  CHECK(out[0].agent_id == "h0");
  CHECK(out[0].body.order_id == id);
  CHECK(out[0].body.target == "h0");
  CHECK(out[0].body.action == "deploy");
  CHECK(out[0].body.sequence == 7);
  CHECK(out[0].body.artifact_size == 10);
  CHECK(*out[0].spec == "spec");
  CHECK(book.find(id)->last_sent == clock.steadyNow());
  CHECK(book.outboxEmpty());
}

TEST_CASE("order book: an order of a URL artifact names the URL and the plan's digest algorithm",
          "[coordinator][orders][artifact_url]") {
  auto plan = flotilla::protocol::parsePlan(
      "app = \"web\"\nversion = \"2\"\n[artifact]\nurl = \"https://s/w.tgz\"\n"
      "digest = \"sha256:" +
          std::string(64, 'a') + "\"\nlength = 10\n",
      "p.toml", "");
  REQUIRE(plan.ok());
  ReleaseData data = release();
  flotilla::coordinator::setArtifactSource(data, *plan);
  OrderBook book;
  FakeClock clock;
  const auto id = book.open(ref("web-1", "h0", 7));
  book.queue(id, data, clock.steadyNow());
  auto out = book.takeOutbox();
  REQUIRE(out.size() == 1);
  CHECK(out[0].body.artifact_url == "https://s/w.tgz");
  CHECK(out[0].body.artifact_digest_algorithm == flotilla::common::DigestAlgorithm::kSha256);
  // An uploaded artifact's order names neither.
  book.queue(id, release(), clock.steadyNow());
  out = book.takeOutbox();
  REQUIRE(out.size() == 1);
  CHECK(out[0].body.artifact_url.empty());
  CHECK(out[0].body.artifact_digest_algorithm == flotilla::common::DigestAlgorithm::kBlake2b256);
}

TEST_CASE("order book: unreported orders are due for retry after the interval", "[coordinator][orders]") {
  OrderBook book;
  FakeClock clock;
  const auto a = book.open(ref("web-1", "h0", 1));
  const auto b = book.open(ref("web-1", "h1", 2));
  book.queue(a, release(), clock.steadyNow());
  book.queue(b, release(), clock.steadyNow());
  (void)book.takeOutbox();
  clock.advance(29s);
  CHECK(book.dueForRetry(clock.steadyNow(), 30s).empty());
  clock.advance(1s);
  CHECK(book.dueForRetry(clock.steadyNow(), 30s).size() == 2);
  book.find(b)->reported = true;
  auto due = book.dueForRetry(clock.steadyNow(), 30s);
  REQUIRE(due.size() == 1);
  CHECK(due[0] == a);
}

TEST_CASE("order book: a rollout's orders exclude convergence orders", "[coordinator][orders]") {
  OrderBook book;
  book.open(ref("web-1", "h0", 1));
  book.open(ref("web-1", "h1", 2, true));
  book.open(ref("web-2", "h2", 3));
  auto mine = book.ofRollout("web-1");
  REQUIRE(mine.size() == 1);
  CHECK(mine[0] == "web-1/h0/1");
}

TEST_CASE("order book: reserved sequences are handed out for their app until the batch ends", "[coordinator][orders]") {
  OrderBook book;
  CHECK_FALSE(book.takeReserved("web"));
  book.reserve("web", 10, 12);
  CHECK_FALSE(book.takeReserved("db"));
  CHECK(book.takeReserved("web") == 10u);
  CHECK(book.takeReserved("web") == 11u);
  CHECK_FALSE(book.takeReserved("web"));
  book.reserve("web", 20, 30);
  book.endReservation();
  CHECK_FALSE(book.takeReserved("web"));
}

TEST_CASE("order signing: small and large batches verify, in order", "[coordinator][orders]") {
  REQUIRE(flotilla::common::initCrypto().ok());
  const auto key = flotilla::common::generateSigningKeyPair();
  for (std::size_t n : {std::size_t{3}, kParallelSignAt + 1}) {
    OrderBook book;
    FakeClock clock;
    for (std::size_t i = 0; i < n; ++i) {
      const auto id = book.open(ref("web-1", "h" + std::to_string(i), i + 1));
      book.queue(id, release(), clock.steadyNow());
    }
    auto out = book.takeOutbox();
    std::vector<OutgoingOrder*> batch;
    for (auto& o : out) batch.push_back(&o);
    auto encoded = signOrders(batch, key);
    REQUIRE(encoded.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
      auto msg = flotilla::protocol::decodeCoordinatorMessage(encoded[i]);
      REQUIRE(msg.ok());
      auto* order = std::get_if<flotilla::protocol::SignedOrder>(&*msg);
      REQUIRE(order != nullptr);
      auto body = flotilla::protocol::decodeOrderBody(order->body);
      REQUIRE(body.ok());
      CHECK(body->target == "h" + std::to_string(i));
    }
  }
}
