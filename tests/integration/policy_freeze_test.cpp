// Policy gates end to end (docs/policy.md): a freeze active now refuses a
// rollout with exit code 4, naming the gate and when it reopens; a rollback
// still goes through; an operator listed for break-glass starts it anyway,
// recorded with the reason; one who is not listed cannot.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>

#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "support/policy_fleet.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;

namespace {

std::string keyIdOf(const std::string& pub_hex) {
  auto key = flotilla::common::publicKeyFromHex(pub_hex);
  REQUIRE(key.ok());
  return flotilla::common::keyId(*key);
}

}  // namespace

TEST_CASE("a freeze refuses rollouts with exit 4, never a rollback, and break-glass is for listed operators",
          "[integration][policy]") {
  PolicyFleet p;
  p.run();
  p.f.startAgent("h0");
  p.waitOnline();
  REQUIRE(p.waitState(p.submit("1")) == "succeeded");
  REQUIRE(p.waitState(p.submit("2")) == "succeeded");

  // A one-off freeze around now, in Berlin time; only "lead" may break glass.
  p.coord.stop();
  const auto now = std::chrono::system_clock::now();
  std::ofstream(p.cfg, std::ios::app) << "\n[[policy.freeze]]\nname = \"incident\"\nstart = \""
                                      << flotilla::common::formatRfc3339(now - 1h) << "\"\nend = \""
                                      << flotilla::common::formatRfc3339(now + 1h)
                                      << "\"\ntimezone = \"Europe/Berlin\"\n\n[policy.break_glass]\noperators = [\""
                                      << keyIdOf(p.pubs[0]) << "\"]\n";
  p.run();
  p.waitOnline();

  auto gates = p.console({"policy"});
  INFO(gates.out << gates.err);
  REQUIRE(gates.exit_code == 0);
  REQUIRE(gates.json["gates"].size() == 1);
  CHECK(gates.json["gates"][0]["gate"] == "freeze incident");
  CHECK(gates.json["gates"][0]["open"] == false);
  CHECK(gates.json["gates"][0]["why"].get<std::string>().find("UTC") != std::string::npos);

  const auto plan3 = p.f.writePlan("web", "3", p.f.makeRelease("3", true), kOneWaveAllAtOnce);
  auto refused = p.console({"rollout", plan3.string()});
  INFO(refused.out << refused.err);
  CHECK(refused.exit_code == 4);
  CHECK((refused.out + refused.err).find("policy freeze incident") != std::string::npos);
  CHECK((refused.out + refused.err).find("frozen until") != std::string::npos);
  // The refusal is on record: a rollout that ended "refused", the gate's decision its event.
  auto last = p.console({"history", "--limit", "1"});
  REQUIRE(last.exit_code == 0);
  const auto refused_id = last.json["rollouts"][0]["id"].get<std::string>();
  CHECK(last.json["rollouts"][0]["state"] == "refused");
  CHECK((refused.out + refused.err).find("recorded as rollout " + refused_id) != std::string::npos);
  auto refused_events = p.console({"events", refused_id});
  bool refusal_event = false;
  for (const auto& e : refused_events.json["events"])
    refusal_event |= e["kind"] == "policy_refused" &&
                     e["message"].get<std::string>().find("policy freeze incident") != std::string::npos;
  CHECK(refusal_event);
  CHECK(p.console({"watch", refused_id}).exit_code == 1);  // ended, not succeeded
  auto explain = p.console({"policy", "explain", plan3.string()});
  REQUIRE(explain.exit_code == 0);
  CHECK(explain.json["gates"][0]["applies"] == true);
  CHECK(explain.json["gates"][0]["open"] == false);

  // A rollback is never gated.
  auto rb = p.console({"rollback", "web"});
  INFO(rb.out << rb.err);
  REQUIRE(rb.exit_code == 0);
  CHECK(p.waitState(rb.json["id"].get<std::string>()) == "succeeded");
  CHECK(p.f.liveRelease("h0", "web") == "1");

  // Break-glass: refused without being listed, accepted and recorded for "lead".
  auto denied = p.console({"rollout", plan3.string(), "--break-glass", "hotfix"}, "dev");
  INFO(denied.out << denied.err);
  CHECK(denied.exit_code == 4);
  CHECK((denied.out + denied.err).find("not in policy.break_glass") != std::string::npos);
  auto broke = p.console({"rollout", plan3.string(), "--break-glass", "hotfix for INC-42"});
  INFO(broke.out << broke.err);
  REQUIRE(broke.exit_code == 0);
  const auto id = broke.json["id"].get<std::string>();
  CHECK(p.waitState(id) == "succeeded");
  auto events = p.console({"events", id});
  bool recorded = false, gate_event = false;
  for (const auto& e : events.json["events"]) {
    if (e["kind"] == "break_glass") {
      recorded = e["message"].get<std::string>().find("hotfix for INC-42") != std::string::npos &&
                 e["actor"].get<std::string>().find(keyIdOf(p.pubs[0])) != std::string::npos;
    }
    gate_event |= e["kind"] == "policy_gate";
  }
  CHECK(recorded);
  CHECK(gate_event);
  // History shows who broke glass and why.
  auto history = p.console({"history", "--limit", "1"});
  REQUIRE(history.exit_code == 0);
  CHECK(history.json["rollouts"][0]["submitted_by"].get<std::string>().find("[break-glass: hotfix for INC-42]") !=
        std::string::npos);
}
