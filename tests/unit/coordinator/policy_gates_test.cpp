// PolicyGates (policy_gates.h): which plans a freeze covers, what it says,
// refusals with kPolicyDenied, break-glass for listed operators only, and the
// hold a running rollout gets.
#include "flotilla/coordinator/policy_gates.h"

#include <catch2/catch.hpp>

#include "flotilla/common/duration.h"

using namespace flotilla;
using coordinator::PolicyConfig;
using coordinator::PolicyGates;

namespace {

common::SysTime at(const char* rfc3339) {
  auto t = common::parseRfc3339(rfc3339);
  REQUIRE(t.ok());
  return *t;
}

protocol::Plan plan(const std::string& app, std::map<std::string, std::string> labels = {}) {
  protocol::Plan p;
  p.app = app;
  p.version = "2";
  p.target_labels = std::move(labels);
  return p;
}

PolicyGates gates() {
  PolicyConfig c;
  c.freezes.push_back({"weekend", "0 18 * * FRI", "0 8 * * MON", "Europe/Berlin", {}, {{"env", "prod"}}, false});
  c.freezes.push_back({"web-release", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "UTC", {"web"}, {}, true});
  c.break_glass = {"aaaaaaaaaaaaaaaa"};
  auto g = PolicyGates::make(c);
  REQUIRE(g.ok());
  return std::move(*g);
}

}  // namespace

TEST_CASE("policy gates: a freeze covers the apps and labels it names", "[coordinator][policy]") {
  const auto g = gates();
  const auto saturday = at("2026-12-05T12:00:00Z");
  auto prod = g.explain(plan("api", {{"env", "prod"}, {"role", "api"}}), saturday);
  REQUIRE(prod.size() == 2);
  CHECK(prod[0].gate == "freeze weekend");
  CHECK(prod[0].applies);
  CHECK_FALSE(prod[0].open);
  CHECK(prod[0].why.find("frozen until Mon 2026-12-07 08:00 CET (07:00 UTC)") != std::string::npos);
  CHECK_FALSE(prod[1].applies);  // not web
  auto staging = g.explain(plan("api", {{"env", "staging"}}), saturday);
  CHECK_FALSE(staging[0].applies);
  CHECK(staging[0].open);
}

TEST_CASE("policy gates: a closed gate refuses, break-glass is for listed operators with a reason",
          "[coordinator][policy]") {
  const auto g = gates();
  const auto saturday = at("2026-12-05T12:00:00Z");
  const auto p = plan("api", {{"env", "prod"}});
  auto refused = g.admit(p, saturday, "", "");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::kPolicyDenied);
  CHECK(refused.error().message.rfind("policy freeze weekend: frozen until", 0) == 0);
  auto unlisted = g.admit(p, saturday, "operator:bbbbbbbbbbbbbbbb", "hotfix");
  REQUIRE_FALSE(unlisted.ok());
  CHECK(unlisted.error().message.find("operator:bbbbbbbbbbbbbbbb is not in policy.break_glass") != std::string::npos);
  auto local = g.admit(p, saturday, "", "hotfix");
  REQUIRE_FALSE(local.ok());
  CHECK(local.error().message.find("an unidentified operator is not in policy.break_glass") != std::string::npos);
  auto broke = g.admit(p, saturday, "operator:aaaaaaaaaaaaaaaa", "hotfix");
  REQUIRE(broke.ok());
  REQUIRE(broke->overridden.size() == 1);
  CHECK(broke->overridden[0].gate == "freeze weekend");
  CHECK_FALSE(broke->approval);
  auto weekday = g.admit(p, at("2026-12-03T12:00:00Z"), "", "");
  REQUIRE(weekday.ok());
  CHECK(weekday->overridden.empty());
}

TEST_CASE("policy gates: a running rollout is held by a pausing freeze, not by one that lets it finish",
          "[coordinator][policy]") {
  const auto g = gates();
  CHECK(g.holdReason(plan("api", {{"env", "prod"}}), at("2026-12-05T12:00:00Z")) == "freeze weekend");
  CHECK(g.holdReason(plan("web"), at("2026-12-01T12:00:00Z")).empty());  // in_flight = finish
  // A rollout that has not started waits for either kind.
  CHECK(g.closedFreeze(plan("web"), at("2026-12-01T12:00:00Z")) == "freeze web-release");
  CHECK(g.closedFreeze(plan("web"), at("2026-12-03T12:00:00Z")).empty());
  CHECK(g.holdReason(plan("api", {{"env", "prod"}}), at("2026-12-03T12:00:00Z")).empty());
  const auto status = g.status(at("2026-12-01T12:00:00Z"));
  REQUIRE(status.size() == 2);
  CHECK_FALSE(status[1].open);
  REQUIRE(status[1].changes_at);
  CHECK(*status[1].changes_at == at("2026-12-02T00:00:00Z"));
}
