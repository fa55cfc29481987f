// The reactor's hand-over of live documents to the dashboard's threads: the
// version grows only on a change, waiters wake on a change or a close.
#include "flotilla/coordinator/dashboard_feed.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>

using namespace flotilla::coordinator;
namespace control = flotilla::protocol::control;

namespace {

control::RolloutStatus rollout(const std::string& state) {
  control::RolloutStatus s;
  s.id = "web-1";
  s.app = "web";
  s.state = state;
  return s;
}

control::AgentDoc agent(const std::string& state) {
  control::AgentDoc a;
  a.id = "a1";
  a.state = state;
  return a;
}

}  // namespace

TEST_CASE("dashboard feed: the version grows only when a document changed", "[coordinator][dashboard]") {
  DashboardFeed feed;
  CHECK(feed.read().version == 0);
  feed.publish({rollout("running")}, {agent("online")});
  CHECK(feed.read().version == 1);
  feed.publish({rollout("running")}, {agent("online")});
  CHECK(feed.read().version == 1);
  feed.publish({rollout("paused")}, {agent("online")});
  CHECK(feed.read().version == 2);
  feed.publish({rollout("paused")}, {agent("lost")});
  const auto s = feed.read();
  CHECK(s.version == 3);
  CHECK(s.rollouts_version == 2);
  CHECK(s.agents_version == 2);
  CHECK(s.set_version == 1);  // the same rollout throughout
  feed.publish({}, {agent("lost")});
  CHECK(feed.read().set_version == 2);
  CHECK(s.rollouts->at(0).state == "paused");
  CHECK(s.agents->at(0).state == "lost");
}

TEST_CASE("dashboard feed: a waiter wakes on a change, a timeout or a close", "[coordinator][dashboard]") {
  DashboardFeed feed;
  CHECK(feed.waitChange(0, std::chrono::milliseconds(1)) == 0);  // timed out
  auto woken = std::async(std::launch::async, [&] { return feed.waitChange(0, std::chrono::seconds(30)); });
  feed.publish({rollout("running")}, {});
  REQUIRE(woken.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(woken.get() == 1);

  auto closed = std::async(std::launch::async, [&] { return feed.waitChange(1, std::chrono::seconds(30)); });
  feed.close();
  REQUIRE(closed.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(closed.get() == 1);
  CHECK(feed.closed());
}

TEST_CASE("dashboard feed: built only while read, and a read of a stale feed waits for the next publish",
          "[coordinator][dashboard]") {
  using namespace std::chrono_literals;
  DashboardFeed feed(50ms);
  CHECK(feed.wanted());  // just made: the first page may come at once
  feed.publish({rollout("running")}, {agent("online")});
  // Nobody reads: after the idle time the reactor may stop building the documents.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (feed.wanted() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  REQUIRE_FALSE(feed.wanted());

  // A reader of the stale feed gets the next publish, not the old documents.
  auto reader = std::async(std::launch::async, [&] { return feed.read(); });
  const auto until = std::chrono::steady_clock::now() + 10s;  // until the read has marked it wanted
  while (!feed.wanted() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  REQUIRE(feed.wanted());
  feed.publish({rollout("paused")}, {agent("online")});
  const auto snap = reader.get();
  REQUIRE(snap.rollouts->size() == 1);
  CHECK(snap.rollouts->front().state == "paused");
  // Fresh again: a read returns at once.
  CHECK(feed.read().rollouts->front().state == "paused");
}
