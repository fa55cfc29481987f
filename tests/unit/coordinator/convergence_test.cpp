#include "flotilla/coordinator/convergence.h"

#include <catch2/catch.hpp>

using namespace flotilla::coordinator;

namespace {

Agent agent(std::map<std::string, std::string> releases, bool online = true) {
  Agent a;
  a.record.id = "h0";
  a.record.labels = {{"role", "web"}};
  a.record.releases = std::move(releases);
  a.setState(AgentState::kAccepted);
  a.online = online;
  return a;
}

Convergence webAt2() {
  Convergence c;
  c.load({AppRecord{"web", "2", "web-2", {{"role", "web"}}}, AppRecord{"db", "5", "db-5", {{"role", "db"}}}});
  return c;
}

const auto kIdle = [](const std::string&) { return false; };

}  // namespace

TEST_CASE("convergence: a matching host on another release converges once per run", "[coordinator][convergence]") {
  auto c = webAt2();
  auto a = agent({{"web", "1"}});
  auto cands = c.candidates(a, kIdle);
  REQUIRE(cands.size() == 1);  // db's labels do not match
  CHECK(cands[0].app->app == "web");
  CHECK(cands[0].live == "1");
  CHECK(Convergence::eventMessage(cands[0], 9) == "live 1, converging to 2 (sequence 9)");
  c.markTried("h0", *cands[0].app);
  CHECK(c.candidates(a, kIdle).empty());
  // A newer current release is tried again.
  c.setCurrent(AppRecord{"web", "3", "web-3", {{"role", "web"}}});
  CHECK(c.candidates(a, kIdle).size() == 1);
}

TEST_CASE("convergence: nothing for a host on the current release, offline, not accepted or busy",
          "[coordinator][convergence]") {
  auto c = webAt2();
  CHECK(c.candidates(agent({{"web", "2"}}), kIdle).empty());
  CHECK(c.candidates(agent({}, false), kIdle).empty());
  auto pending = agent({});
  pending.setState(AgentState::kPending);
  CHECK(c.candidates(pending, kIdle).empty());
  CHECK(c.candidates(agent({}), [](const std::string& app) { return app == "web"; }).empty());
  auto fresh = c.candidates(agent({}), kIdle);
  REQUIRE(fresh.size() == 1);
  CHECK_FALSE(fresh[0].live.has_value());
  CHECK(Convergence::eventMessage(fresh[0], 1) == "no release, converging to 2 (sequence 1)");
}

TEST_CASE("convergence: only hosts the release's rollout never reached converge", "[coordinator][convergence]") {
  CHECK(Convergence::mayConverge(std::nullopt));
  CHECK(Convergence::mayConverge(std::string("pending")));
  CHECK(Convergence::mayConverge(std::string("unreachable")));
  CHECK_FALSE(Convergence::mayConverge(std::string("failed")));
  CHECK_FALSE(Convergence::mayConverge(std::string("healthy")));
  CHECK_FALSE(Convergence::mayConverge(std::string("rolled_back")));
}

TEST_CASE("convergence: an app's flag set waits until the host runs the app", "[coordinator][convergence][flags]") {
  auto c = webAt2();
  c.setCurrent(AppRecord{"flags:web", "f-0123456789abcdef", "flags:web-1", {{"role", "web"}}});
  auto fresh = agent({});
  auto cands = c.candidates(fresh, kIdle);
  REQUIRE(cands.size() == 1);
  CHECK(cands[0].app->app == "web");
  auto running = agent({{"web", "2"}});
  cands = c.candidates(running, kIdle);
  REQUIRE(cands.size() == 1);
  CHECK(cands[0].app->app == "flags:web");
}
