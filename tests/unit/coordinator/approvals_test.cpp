// Approvals (approvals.h) and operator identities (operator_identity.h):
// distinct operators other than the submitter, expiry after the ttl, a rule
// nobody could satisfy refused, who may approve, the state surviving a
// restart as JSON; identities from ZAP addresses and from coordinator.toml;
// [policy.approvals] in coordinator.toml, every mistake named.
#include <catch2/catch.hpp>

#include "flotilla/common/duration.h"
#include "flotilla/coordinator/approvals.h"
#include "flotilla/coordinator/operator_identity.h"
#include "flotilla/coordinator/policy_gates.h"
#include "policy_config_fixture.h"
#include "support/fake_clock.h"

using namespace flotilla;
using coordinator::ApprovalGate;
using coordinator::ApprovalPolicy;
using coordinator::ApprovalState;
using policy_config_fixture::configError;
using policy_config_fixture::configWithPolicy;

namespace {

const std::string kAnn = "operator:aaaaaaaaaaaaaaaa";
const std::string kBob = "operator:bbbbbbbbbbbbbbbb";
const std::string kCid = "operator:cccccccccccccccc";

ApprovalGate gate(std::size_t required, std::vector<std::string> operators = {kAnn, kBob, kCid}) {
  ApprovalPolicy p;
  p.required = required;
  p.ttl = std::chrono::hours(4);
  auto g = ApprovalGate::make(p, operators);
  REQUIRE(g.ok());
  return std::move(*g);
}

protocol::Plan plan(const std::string& app, std::map<std::string, std::string> labels = {}) {
  protocol::Plan p;
  p.app = app;
  p.version = "2";
  p.target_labels = std::move(labels);
  return p;
}

// The error loading a fresh coordinator.toml with `policy` appended.
std::string approvalsError(const std::string& policy) {
  testing::TempDir tmp;
  return configError(configWithPolicy(tmp, policy));
}

}  // namespace

TEST_CASE("approvals: distinct operators other than the submitter, each counted once", "[coordinator][policy]") {
  testing::FakeClock clock;
  const auto g = gate(2);
  auto opened = g.open(kAnn);
  REQUIRE(opened.ok());
  ApprovalState s = *opened;
  const std::int64_t t0 = common::toUnixMillis(clock.systemNow());
  // Self-approval is refused by the gate, and ignored by the state if it got there.
  auto self = g.mayApprove(s, kAnn);
  REQUIRE_FALSE(self.ok());
  CHECK(self.error().code == Errc::kPolicyDenied);
  CHECK(self.error().message.find("submitted this rollout") != std::string::npos);
  CHECK_FALSE(s.add(kAnn, t0));
  CHECK(s.valid(t0) == 0);
  // One operator twice is one approval.
  REQUIRE(g.mayApprove(s, kBob).ok());
  CHECK(s.add(kBob, t0));
  CHECK(s.add(kBob, t0 + 1000));
  CHECK(s.valid(t0 + 1000) == 1);
  CHECK_FALSE(s.satisfied(t0 + 1000));
  CHECK(s.describe(t0 + 1000) == "1 of 2 approvals (by " + kBob + "); needs 1 more");
  CHECK(s.add(kCid, t0 + 2000));
  CHECK(s.satisfied(t0 + 2000));
  // Someone who is not an approver is refused.
  auto stranger = g.mayApprove(s, "operator:dddddddddddddddd");
  REQUIRE_FALSE(stranger.ok());
  CHECK(stranger.error().message.find("not a key of control.operators") != std::string::npos);
  auto local = g.mayApprove(s, "user:root");
  CHECK_FALSE(local.ok());
}

TEST_CASE("approvals: an approval older than the ttl no longer counts", "[coordinator][policy]") {
  testing::FakeClock clock;
  auto s = *gate(2).open(kAnn);
  const std::int64_t t0 = common::toUnixMillis(clock.systemNow());
  const std::int64_t ttl = std::chrono::duration_cast<common::Millis>(std::chrono::hours(4)).count();
  s.add(kBob, t0);
  s.add(kCid, t0 + ttl - 1000);
  CHECK(s.satisfied(t0 + ttl - 1));  // bob's approval is one millisecond short of the ttl
  CHECK(s.valid(t0 + ttl) == 1);     // at the ttl it is gone
  CHECK_FALSE(s.satisfied(t0 + ttl));
  auto gone = s.expire(t0 + ttl);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].by == kBob);
  CHECK(s.approvals.size() == 1);
  // Approving again renews it.
  s.add(kBob, t0 + ttl + 1);
  CHECK(s.satisfied(t0 + ttl + 1));
}

TEST_CASE("approvals: a rule that could never be satisfied is refused", "[coordinator][policy]") {
  ApprovalPolicy p;
  p.required = 3;
  auto too_many = ApprovalGate::make(p, {kAnn, kBob});
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.error().message.find("only 2 operator(s) could ever approve") != std::string::npos);
  // The same key twice is one operator.
  CHECK_FALSE(ApprovalGate::make(p, {kAnn, kBob, kBob}).ok());
  // An explicit approvers list replaces control.operators.
  p.approvers = {kAnn, kBob, "user:alice"};
  CHECK(ApprovalGate::make(p, {}).ok());
  // A submitter who is an approver leaves one fewer colleague: refused at submission.
  p.required = 2;
  p.approvers = {kAnn, kBob};
  auto g = ApprovalGate::make(p, {});
  REQUIRE(g.ok());
  auto refused = g->open(kAnn);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::kPolicyDenied);
  CHECK(refused.error().message.find("only 1 other operator(s) may approve") != std::string::npos);
  // Someone outside the list may submit: both approvers remain.
  CHECK(g->open(kCid).ok());
}

TEST_CASE("approvals: the gate covers the apps and labels it names", "[coordinator][policy]") {
  ApprovalPolicy p;
  p.required = 1;
  p.labels = {{"env", "prod"}};
  auto g = ApprovalGate::make(p, {kAnn, kBob});
  REQUIRE(g.ok());
  CHECK(g->covers(plan("web", {{"env", "prod"}, {"role", "web"}})));
  CHECK_FALSE(g->covers(plan("web", {{"env", "staging"}})));
  CHECK_FALSE(gate(0).covers(plan("web")));  // required = 0: no gate
}

TEST_CASE("approvals: an identity that may no longer approve stops counting", "[coordinator][policy]") {
  auto s = *gate(2).open(kAnn);
  s.add(kBob, 1000);
  s.add(kCid, 1000);
  CHECK(s.satisfied(1000));
  // Bob's key was taken out of control.operators, and the coordinator restarted.
  ApprovalPolicy p;
  p.required = 1;
  auto without_bob = ApprovalGate::make(p, {kAnn, kCid});
  REQUIRE(without_bob.ok());
  auto gone = s.retainEligible(*without_bob);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].by == kBob);
  CHECK(s.valid(1000) == 1);
  CHECK_FALSE(s.satisfied(1000));
}

TEST_CASE("approvals: the state survives a restart as JSON, corrupt JSON is an error", "[coordinator][policy]") {
  auto s = *gate(2).open(kAnn);
  s.add(kBob, 1234);
  auto back = ApprovalState::fromJson(s.toJson());
  REQUIRE(back.ok());
  CHECK(back->submitter == kAnn);
  CHECK(back->required == 2);
  CHECK(back->ttl == std::chrono::hours(4));
  REQUIRE(back->approvals.size() == 1);
  CHECK(back->approvals[0].by == kBob);
  CHECK(back->approvals[0].at_ms == 1234);
  CHECK_FALSE(ApprovalState::fromJson(nlohmann::json{{"submitter", 3}}).ok());
  CHECK_FALSE(ApprovalState::fromJson(nlohmann::json::array()).ok());
}

TEST_CASE("policy gates: approvals make a covered rollout wait, break-glass stands in for them",
          "[coordinator][policy]") {
  coordinator::PolicyConfig c;
  c.approvals.required = 1;
  c.approvals.apps = {"web"};
  c.break_glass = {"aaaaaaaaaaaaaaaa"};
  auto g = coordinator::PolicyGates::make(c, {kAnn, kBob});
  REQUIRE(g.ok());
  const auto now = std::chrono::time_point_cast<common::SysTime::duration>(std::chrono::system_clock::now());
  auto waits = g->admit(plan("web"), now, kBob, "");
  REQUIRE(waits.ok());
  REQUIRE(waits->approval);
  CHECK(waits->approval->submitter == kBob);
  CHECK(waits->approval->required == 1);
  auto other_app = g->admit(plan("api"), now, kBob, "");
  REQUIRE(other_app.ok());
  CHECK_FALSE(other_app->approval);
  // Listed for break-glass: no wait, the approvals gate recorded as overridden.
  auto broke = g->admit(plan("web"), now, kAnn, "INC-7");
  REQUIRE(broke.ok());
  CHECK_FALSE(broke->approval);
  REQUIRE(broke->overridden.size() == 1);
  CHECK(broke->overridden[0].gate == "approvals");
  // Not listed: refused, not silently waiting.
  auto denied = g->admit(plan("web"), now, kBob, "INC-7");
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.error().message.find("operator:bbbbbbbbbbbbbbbb is not in policy.break_glass") != std::string::npos);
  // `flotilla policy` lists the gate with its approvers.
  auto status = g->status(now);
  REQUIRE(status.size() == 1);
  CHECK(status[0].gate == "approvals");
  CHECK(status[0].why.find(kAnn) != std::string::npos);
}

TEST_CASE("operator identity: from ZAP addresses and from coordinator.toml", "[coordinator][policy]") {
  CHECK(coordinator::peerUidFromZapAddress("localhost:1000:1000:4242") == std::optional<uid_t>(1000));
  CHECK(coordinator::peerUidFromZapAddress(":0:0:1") == std::optional<uid_t>(0));
  CHECK_FALSE(coordinator::peerUidFromZapAddress(""));
  CHECK_FALSE(coordinator::peerUidFromZapAddress("127.0.0.1"));
  CHECK_FALSE(coordinator::peerUidFromZapAddress("localhost:x:0:1"));
  CHECK(coordinator::identityOfUid(0) == "user:root");
  CHECK(coordinator::identityOfUid(4000000) == "uid:4000000");  // no such user
  CHECK(*coordinator::parseIdentity("aaaaaaaaaaaaaaaa") == kAnn);
  CHECK(*coordinator::parseIdentity(kAnn) == kAnn);
  CHECK(*coordinator::parseIdentity("user:alice") == "user:alice");
  REQUIRE(common::initCrypto().ok());
  const auto key = common::generateCurveKeyPair();
  CHECK(*coordinator::parseIdentity(common::toHex(key.public_key)) == "operator:" + common::keyId(key.public_key));
  for (const char* bad : {"alice", "user:", "user:a b", "AAAAAAAAAAAAAAAA", "aaaa", ""})
    CHECK_FALSE(coordinator::parseIdentity(bad).ok());
}

TEST_CASE("policy config: [policy.approvals] loads, and each mistake names file, line, key and problem",
          "[coordinator][config][policy]") {
  testing::TempDir tmp;
  SECTION("a good table") {
    auto c = coordinator::loadCoordinatorConfig(
        configWithPolicy(tmp,
                         "[policy.approvals]\nrequired = 2\nttl = \"4h\"\nlabels = { env = \"prod\" }\n"
                         "approvers = [\"user:alice\", \"bbbbbbbbbbbbbbbb\"]\n"));
    REQUIRE(c.ok());
    CHECK(c->policy.approvals.required == 2);
    CHECK(c->policy.approvals.ttl == std::chrono::hours(4));
    CHECK(c->policy.approvals.labels == std::map<std::string, std::string>{{"env", "prod"}});
    CHECK(c->policy.approvals.approvers == std::vector<std::string>{"user:alice", kBob});
  }
  SECTION("more approvals than operators: refused at start") {
    const auto m = approvalsError("[policy.approvals]\nrequired = 1\n");
    CHECK_THAT(m, Catch::Contains("coordinator.toml:") && Catch::Contains("policy.approvals.required") &&
                      Catch::Contains("only 0 operator(s) could ever approve"));
  }
  SECTION("required missing or out of range") {
    CHECK_THAT(approvalsError("[policy.approvals]\nttl = \"1h\"\n"),
               Catch::Contains("policy.approvals.required: missing"));
    CHECK_THAT(approvalsError("[policy.approvals]\nrequired = 0\n"),
               Catch::Contains("policy.approvals.required: expected a whole number of approvals, 1 to 100"));
  }
  SECTION("a bad ttl, approver or key") {
    CHECK_THAT(approvalsError("[policy.approvals]\nrequired = 1\napprovers = [\"user:a\"]\n"
                              "ttl = \"soon\"\n"),
               Catch::Contains("policy.approvals.ttl: expected a duration of at least 1m"));
    CHECK_THAT(approvalsError("[policy.approvals]\nrequired = 1\napprovers = [\"alice\"]\n"),
               Catch::Contains("policy.approvals.approvers") && Catch::Contains("\"alice\" is neither"));
    CHECK_THAT(approvalsError("[policy.approvals]\nrequired = 1\nreviewers = 2\n"),
               Catch::Contains("policy.approvals.reviewers: unknown key"));
    CHECK_THAT(approvalsError("[policy.break_glass]\noperators = [\"bob\"]\n"),
               Catch::Contains("policy.break_glass.operators") && Catch::Contains("\"bob\" is neither"));
  }
}
