#include "flotilla/coordinator/control_api.h"

#include <catch2/catch.hpp>

#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/flag_kill.h"
#include "flotilla/coordinator/flag_plan.h"
#include "flotilla/flags/flag_set.h"
#include "flotilla/protocol/control_flags.h"
#include "flotilla/protocol/provenance.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

using namespace flotilla::coordinator;
using flotilla::Result;
using flotilla::testing::FakeClock;
using flotilla::testing::TempDir;
using nlohmann::json;

namespace {

const std::string kDigest(64, 'd');

const std::string kPlan = R"(app = "web"
version = "2"
artifact.file = "web.tar.gz"
[waves]
sizes = ["100%"]
)";

// The daemon as ControlApi sees it: a registry, a real store in a temporary
// directory, rollouts the test puts in, and a record of what was asked.
struct FakeDaemon : ControlContext {
  FakeDaemon() {
    auto s = openStore({.file = dir.path() / "store.db"});
    REQUIRE(s.ok());
    store_ = std::move(*s);
  }
  AgentRegistry& agents() override { return registry; }
  Store& store() override { return *store_; }
  flotilla::common::SteadyTime steadyNow() const override { return clock.steadyNow(); }
  std::int64_t nowMs() const override { return flotilla::common::toUnixMillis(clock.systemNow()); }
  Result<std::uint64_t> storedArtifact(const std::string& digest) const override {
    if (digest == kDigest) return std::uint64_t{42};
    return flotilla::Error(flotilla::Errc::kNotFound, "no artifact " + digest + " was uploaded");
  }
  const std::filesystem::path& artifactsDir() const override { return artifacts; }
  ActiveRollout* findRollout(const std::string& id) override {
    auto it = rollouts.find(id);
    return it == rollouts.end() ? nullptr : it->second.get();
  }
  std::vector<const ActiveRollout*> activeRollouts() const override {
    std::vector<const ActiveRollout*> out;
    for (const auto& [id, r] : rollouts) out.push_back(r.get());
    return out;
  }
  std::string activeRolloutOf(const std::string& app) const override {
    for (const auto& [id, r] : rollouts)
      if (r->plan.app == app) return id;
    return "";
  }
  void cutOff(Agent& a, const std::string& why) override { cut_off.push_back(a.record.id + ": " + why); }
  Result<std::string> startRollout(RolloutStart start) override {
    started.push_back(start.plan.app + " " + start.digest);
    started_sizes.push_back(start.size);
    return flotilla::Error(flotilla::Errc::kUnavailable, "not in this test");
  }
  Result<std::string> recordRefusal(const RolloutStart& start, const flotilla::Error& why) override {
    refused.push_back(start.plan.app + ": " + why.message);
    return std::string("web-9");
  }
  void operatorActed(ActiveRollout&, const std::string& kind, const std::string&, const std::string&) override {
    acted.push_back(kind);
  }
  void watch(const std::string& rollout_id, const std::string& routing_id) override {
    watched.push_back(rollout_id + " " + routing_id);
  }
  std::optional<flotilla::coordinator::Verdict> interimVerdict(const ActiveRollout&) const override { return interim; }
  std::optional<flotilla::coordinator::Verdict> interim;
  const flotilla::coordinator::PolicyGates& policyGates() const override { return gates; }
  void brokeGlass() override { ++broke_glass; }
  flotilla::coordinator::PolicyGates gates;
  int broke_glass = 0;

  void addRollout(const std::string& id) {
    auto plan = flotilla::protocol::parsePlan(kPlan, "p.toml", "");
    REQUIRE(plan.ok());
    auto engine = std::make_unique<Rollout>(engineConfig(id, *plan), std::vector<std::string>{"h0"},
                                            std::map<std::string, std::string>{});
    RolloutRecord rec = newRolloutRecord(id, *plan, "p.toml", kPlan, "ops", "rollout", nowMs());
    rollouts[id] = makeActiveRollout(rec, std::move(*plan), "rollout", ReleaseRecord{}, std::move(engine));
  }

  TempDir dir;
  std::filesystem::path artifacts = dir.path();
  FakeClock clock;
  AgentRegistry registry;
  std::unique_ptr<Store> store_;
  std::map<std::string, std::unique_ptr<ActiveRollout>> rollouts;
  std::vector<std::string> cut_off, started, acted, watched, refused;
  std::vector<std::uint64_t> started_sizes;
};

// As the reactor does: the identity its ZAP handler authenticated (a local Unix user here).
json call(ControlApi& api, json req) {
  if (req.is_object() && !req.contains("_peer")) req["_peer"] = "user:ops";
  return api.handle("rid-1", req);
}

std::string errorCode(const json& reply) { return reply.value("ok", true) ? "" : reply["error"].value("code", ""); }

}  // namespace

TEST_CASE("control api: malformed requests and unknown commands are invalid arguments", "[coordinator][control]") {
  FakeDaemon d;
  ControlApi api(d);
  CHECK(errorCode(call(api, json::array())) == "invalid_argument");
  CHECK(errorCode(call(api, json{{"cmd", 3}})) == "invalid_argument");
  auto unknown = call(api, json{{"cmd", "format"}});
  CHECK(unknown["error"]["message"] == "unknown command 'format'");
  auto bad = call(api, json{{"cmd", "status"}, {"hosts", "yes"}});
  CHECK(errorCode(bad) == "invalid_argument");
  CHECK(bad["error"]["message"].get<std::string>().rfind("bad request: ", 0) == 0);
  CHECK(call(api, json{{"cmd", "ping"}}) == json{{"ok", true}});
}

TEST_CASE("control api: agents are listed and an operator accepts or revokes them", "[coordinator][control]") {
  FakeDaemon d;
  ControlApi api(d);
  flotilla::protocol::Hello h;
  h.agent_id = "h0";
  auto a = d.registry.hello("r0", "k0", h, 1, d.clock.steadyNow(), [](const std::string&) { return false; });
  REQUIRE(a);
  auto list = call(api, json{{"cmd", "agents"}});
  REQUIRE(list["agents"].size() == 1);
  CHECK(list["agents"][0]["state"] == "pending");
  CHECK(list["agents"][0]["busy"].is_null());
  auto accepted = call(api, json{{"cmd", "agent_accept"}, {"id", "h0"}, {"operator", "ann"}});
  CHECK(accepted == json{{"ok", true}, {"id", "h0"}, {"state", "accepted"}});
  CHECK(errorCode(call(api, json{{"cmd", "agent_reject"}, {"id", "h0"}})) == "conflict");
  CHECK(errorCode(call(api, json{{"cmd", "agent_accept"}, {"id", "nobody"}})) == "not_found");
  a.agent->online = true;
  CHECK(call(api, json{{"cmd", "agent_revoke"}, {"id", "h0"}, {"operator", "ann"}})["state"] == "revoked");
  REQUIRE(d.cut_off.size() == 1);
  CHECK(d.cut_off[0] == "h0: revoked by user:ops (ann)");
  auto stored = d.store().loadAgents();
  REQUIRE(stored.ok());
  REQUIRE(stored->size() == 1);
  CHECK((*stored)[0].state == "revoked");
}

TEST_CASE("control api: a rollout names an artifact uploaded before", "[coordinator][control]") {
  FakeDaemon d;
  ControlApi api(d);
  auto missing = call(api, json{{"cmd", "rollout"}, {"plan", kPlan}, {"artifact_digest", std::string(64, '0')}});
  CHECK(errorCode(missing) == "not_found");
  CHECK(missing["error"]["message"].get<std::string>().rfind("plan.toml: artifact.file: ", 0) == 0);
  CHECK(d.started.empty());
  auto refused = call(api, json{{"cmd", "rollout"}, {"plan", kPlan}, {"artifact_digest", kDigest}});
  CHECK(errorCode(refused) == "unavailable");
  REQUIRE(d.started.size() == 1);
  CHECK(d.started[0] == "web " + kDigest);
  auto bad_sig =
      call(api, json{{"cmd", "rollout"}, {"plan", kPlan}, {"artifact_digest", kDigest}, {"release_signature", "zz"}});
  CHECK(errorCode(bad_sig) == "invalid_argument");
}

TEST_CASE("control api: a rollout of an artifact URL needs no upload", "[coordinator][control][artifact_url]") {
  FakeDaemon d;
  ControlApi api(d);
  const std::string sha(64, 'e');
  const std::string with_digest =
      "app = \"web\"\nversion = \"3\"\n[artifact]\nurl = \"https://s.example/w.tgz\"\n"
      "digest = \"sha256:" +
      sha + "\"\nlength = 77\n";
  call(api, json{{"cmd", "rollout"}, {"plan", with_digest}});
  REQUIRE(d.started.size() == 1);
  CHECK(d.started[0] == "web " + sha);
  CHECK(d.started_sizes[0] == 77);
  // artifact.file beside the URL: the console sends the local copy's digest and length.
  const std::string with_file =
      "app = \"web\"\nversion = \"4\"\n[artifact]\nurl = \"https://s.example/w.tgz\"\n"
      "file = \"w.tgz\"\n";
  call(api, json{{"cmd", "rollout"}, {"plan", with_file}, {"artifact_digest", sha}, {"artifact_size", 99}});
  REQUIRE(d.started.size() == 2);
  CHECK(d.started[1] == "web " + sha);
  CHECK(d.started_sizes[1] == 99);
  auto without = call(api, json{{"cmd", "rollout"}, {"plan", with_file}, {"artifact_digest", sha}});
  CHECK(errorCode(without) == "invalid_argument");
  CHECK(d.started.size() == 2);
}

TEST_CASE("control api: with ci_keys, a rollout without a valid CI signature is refused by policy",
          "[coordinator][control][policy]") {
  FakeDaemon d;
  const auto ci = flotilla::common::generateSigningKeyPair();
  ControlApi api(d, ProvenanceGate({ci.public_key}));
  auto unsigned_plan = call(api, json{{"cmd", "rollout"}, {"plan", kPlan}, {"artifact_digest", kDigest}});
  CHECK(errorCode(unsigned_plan) == "policy_denied");
  CHECK_THAT(unsigned_plan["error"]["message"].get<std::string>(),
             Catch::StartsWith("policy provenance: plan.toml: the plan carries no CI signature"));
  // Signed for another artifact size than the one stored (42 bytes).
  const std::string other = flotilla::protocol::signCi({"web", "2", kDigest, 41, "", ""}, ci);
  auto altered =
      call(api, json{{"cmd", "rollout"}, {"plan", kPlan}, {"artifact_digest", kDigest}, {"ci_signature", other}});
  CHECK(errorCode(altered) == "policy_denied");
  CHECK(d.started.empty());
  // Each refusal is recorded as a rollout, and the reply says which.
  REQUIRE(d.refused.size() == 2);
  CHECK_THAT(d.refused[0], Catch::StartsWith("web: policy provenance:"));
  CHECK_THAT(altered["error"]["message"].get<std::string>(), Catch::EndsWith("(recorded as rollout web-9)"));
  const std::string good = flotilla::protocol::signCi({"web", "2", kDigest, 42, "", ""}, ci);
  auto passed =
      call(api, json{{"cmd", "rollout"}, {"plan", kPlan}, {"artifact_digest", kDigest}, {"ci_signature", good}});
  CHECK(errorCode(passed) == "unavailable");  // past the gate, to the fake daemon's startRollout
  CHECK(d.started.size() == 1);
}

TEST_CASE("control api: status, operator actions and watch of an active rollout", "[coordinator][control]") {
  FakeDaemon d;
  ControlApi api(d);
  d.addRollout("web-1");
  auto list = call(api, json{{"cmd", "status"}});
  REQUIRE(list["rollouts"].size() == 1);
  auto one = call(api, json{{"cmd", "status"}, {"rollout", "web-1"}, {"hosts", true}});
  CHECK(one["rollout"]["id"] == "web-1");
  CHECK(one["rollout"]["hosts"].size() == 1);
  CHECK(errorCode(call(api, json{{"cmd", "status"}, {"rollout", "nope-1"}})) == "not_found");
  d.rollouts["web-1"]->engine->start(d.clock.steadyNow());
  auto paused = call(api, json{{"cmd", "pause"}, {"rollout", "web-1"}});
  CHECK(paused["rollout"]["state"] == "paused");
  REQUIRE(d.acted.size() == 1);
  CHECK(d.acted[0] == "operator_pause");
  CHECK(errorCode(call(api, json{{"cmd", "promote"}, {"rollout", "nope-1"}})) == "not_found");
  auto watch = call(api, json{{"cmd", "watch"}, {"rollout", "web-1"}});
  CHECK(watch["finished"] == false);
  CHECK(watch["rollout"]["id"] == "web-1");
  CHECK(watch["events"] == json::array());
  REQUIRE(d.watched.size() == 1);
  CHECK(d.watched[0] == "web-1 rid-1");
}

namespace {

const std::string kWebPlan = R"(app = "web"
version = "2"
artifact.file = "web.tar.gz"
[waves]
sizes = ["100%"]
[deploy]
restart = ["./bin/restart"]
[[health.check]]
exec = ["./bin/selfcheck"]
)";

const std::string kFlags = R"({"flags": {
  "new-ui": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
             "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", "off"]}}}})";
const std::string kFlags2 = R"({"flags": {
  "new-ui": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"},
  "dark-mode": {"state": "DISABLED", "variants": {"on": true, "off": false}}}})";

// web deployed once (web-1), so flag rollouts have its health checks and target to ride.
void deployedWeb(FakeDaemon& d) {
  auto plan = flotilla::protocol::parsePlan(kWebPlan, "web.toml", "");
  REQUIRE(plan.ok());
  REQUIRE(d.store().insertRollout(newRolloutRecord("web-1", *plan, "web.toml", kWebPlan, "ops", "rollout", 1)).ok());
}

// A flag set of web stored as the coordinator stores a pushed one, rolled out by rollout `id`.
std::string storedFlags(FakeDaemon& d, const std::string& text, const std::string& id) {
  auto set = checkFlagSet(text, "flags.json");
  REQUIRE(set.ok());
  REQUIRE(flotilla::common::atomicWriteFile(d.artifacts / set->digest, text).ok());
  REQUIRE(d.store().putRelease({"flags:web", set->version, set->digest, text.size(), "", "", ""}).ok());
  auto plan = flagPushPlan("web", kWebPlan, *set, FlagWaves{}, "flags.json");
  REQUIRE(plan.ok());
  auto rec = newRolloutRecord(id, plan->plan, plan->plan_name, plan->plan_text, "user:ann", "rollout", 2);
  rec.artifact_digest = set->digest;
  rec.state = "succeeded";
  REQUIRE(d.store().insertRollout(rec).ok());
  return set->version;
}

}  // namespace

TEST_CASE("control api: a flag push is checked, stored and planned for flags:APP", "[coordinator][control][flags]") {
  FakeDaemon d;
  ControlApi api(d);
  const json push{{"cmd", "flags_push"}, {"app", "web"}, {"flags", kFlags}, {"source", "f.json"}};
  auto never = call(api, push);
  CHECK(errorCode(never) == "not_found");
  CHECK(never["error"]["message"].get<std::string>().find("never been deployed") != std::string::npos);
  deployedWeb(d);
  auto bad = call(api, json{{"cmd", "flags_push"},
                            {"app", "web"},
                            {"source", "f.json"},
                            {"flags", R"({"flags": {"x": {"state": "ON", "variants": {"a": 1}}}})"}});
  CHECK(errorCode(bad) == "invalid_argument");
  CHECK(bad["error"]["message"].get<std::string>().find("f.json: flags.x.state") != std::string::npos);
  CHECK(errorCode(call(api, json{{"cmd", "flags_push"}, {"app", "Web!"}, {"flags", kFlags}})) == "invalid_argument");

  call(api, push);  // the fake daemon starts nothing
  auto set = checkFlagSet(kFlags, "f.json");
  REQUIRE(set.ok());
  REQUIRE(d.started.size() == 1);
  CHECK(d.started[0] == "flags:web " + set->digest);
  auto stored = flotilla::common::readFile(d.artifacts / set->digest);
  REQUIRE(stored.ok());
  CHECK(*stored == kFlags);
}

TEST_CASE("control api: a gate that covers an app covers its flag rollouts", "[coordinator][control][flags]") {
  FakeDaemon d;
  PolicyConfig policy;
  policy.freezes.push_back({"web-freeze", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z", "UTC", {"web"}, {}, false});
  auto gates = PolicyGates::make(policy);
  REQUIRE(gates.ok());
  d.gates = std::move(*gates);
  ControlApi api(d);
  deployedWeb(d);
  auto refused = call(api, json{{"cmd", "flags_push"}, {"app", "web"}, {"flags", kFlags}});
  CHECK(errorCode(refused) == "policy_denied");
  REQUIRE(d.refused.size() == 1);
  CHECK(d.refused[0].rfind("flags:web: policy freeze web-freeze", 0) == 0);
  CHECK(d.started.empty());
}

TEST_CASE("control api: a plan naming a flag app is refused", "[coordinator][control][flags]") {
  FakeDaemon d;
  ControlApi api(d);
  std::string plan = kPlan;
  plan.replace(plan.find("\"web\""), 5, "\"flags:web\"");
  auto r = call(api, json{{"cmd", "rollout"}, {"plan", plan}, {"artifact_digest", kDigest}});
  CHECK(errorCode(r) == "invalid_argument");
  CHECK(r["error"]["message"].get<std::string>().find("flotilla flags push") != std::string::npos);
  CHECK(d.started.empty());
}

TEST_CASE("control api: a kill turns the flag off in a new set rolled out at once", "[coordinator][control][flags]") {
  FakeDaemon d;
  ControlApi api(d);
  CHECK(errorCode(call(api, json{{"cmd", "flags_kill"}, {"app", "web"}, {"flag", "new-ui"}})) == "not_found");
  deployedWeb(d);
  storedFlags(d, kFlags, "flags:web-1");
  auto unknown = call(api, json{{"cmd", "flags_kill"}, {"app", "web"}, {"flag", "old-ui"}});
  CHECK(errorCode(unknown) == "not_found");
  CHECK(unknown["error"]["message"].get<std::string>().find("old-ui") != std::string::npos);

  call(api, json{{"cmd", "flags_kill"}, {"app", "web"}, {"flag", "new-ui"}, {"operator", "ann"}});
  REQUIRE(d.started.size() == 1);
  const std::string digest = d.started[0].substr(std::string("flags:web ").size());
  auto text = flotilla::common::readFile(d.artifacts / digest);
  REQUIRE(text.ok());
  auto set = flotilla::flags::FlagSet::parse(*text);
  REQUIRE(set.ok());
  CHECK(set->find("new-ui")->defaultVariant == "off");
  CHECK_FALSE(set->find("new-ui")->targeting.has_value());
  CHECK(set->find("new-ui")->metadata["killedBy"] == "user:ops (ann)");
}

TEST_CASE("control api: a kill while another kill is still rolling out keeps that one's flag off",
          "[coordinator][control][flags]") {
  FakeDaemon d;
  ControlApi api(d);
  deployedWeb(d);
  const std::string both = R"({"flags": {
    "new-ui": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
    "banner": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}})";
  const std::string v1 = storedFlags(d, both, "flags:web-1");
  REQUIRE(d.store().setCurrentRelease({"flags:web", v1, "flags:web-1", {}}).ok());
  // The kill of new-ui, still running: a host or two has not answered yet.
  auto first = killFlag(both, "new-ui", "", "user:ops", 1);
  REQUIRE(first.ok());
  auto first_set = checkFlagSet(first->text, "killed");
  REQUIRE(first_set.ok());
  REQUIRE(flotilla::common::atomicWriteFile(d.artifacts / first_set->digest, first_set->text).ok());
  REQUIRE(d.store()
              .putRelease({"flags:web", first_set->version, first_set->digest, first_set->text.size(), "", "", ""})
              .ok());
  auto plan = flagKillPlan("web", kWebPlan, *first_set, 3, "new-ui");
  REQUIRE(plan.ok());
  auto rec = newRolloutRecord("flags:web-2", plan->plan, plan->plan_name, plan->plan_text, "user:ops", "rollout", 3);
  rec.artifact_digest = first_set->digest;
  REQUIRE(d.store().insertRollout(rec).ok());

  call(api, json{{"cmd", "flags_kill"}, {"app", "web"}, {"flag", "banner"}});
  REQUIRE(d.started.size() == 1);
  auto text = flotilla::common::readFile(d.artifacts / d.started[0].substr(std::string("flags:web ").size()));
  REQUIRE(text.ok());
  auto set = flotilla::flags::FlagSet::parse(*text);
  REQUIRE(set.ok());
  CHECK(set->find("banner")->defaultVariant == "off");
  CHECK(set->find("new-ui")->defaultVariant == "off");
}

TEST_CASE("control api: flags show and history", "[coordinator][control][flags]") {
  FakeDaemon d;
  ControlApi api(d);
  deployedWeb(d);
  const std::string v1 = storedFlags(d, kFlags, "flags:web-1");
  const std::string v2 = storedFlags(d, kFlags2, "flags:web-2");
  for (const char* id : {"h0", "h1", "h2"}) {
    flotilla::protocol::Hello h;
    h.agent_id = id;
    auto a = d.registry.hello(std::string("r-") + id, std::string("k-") + id, h, 1, d.clock.steadyNow(),
                              [](const std::string&) { return false; });
    REQUIRE(a);
    REQUIRE(d.registry.decide(id, AgentState::kAccepted).ok());
    if (std::string(id) != "h2") a.agent->record.releases["flags:web"] = std::string(id) == "h0" ? v1 : v2;
  }
  auto show = call(api, json{{"cmd", "flags_show"}, {"app", "web"}});
  REQUIRE(show["ok"] == true);
  auto doc = show.get<flotilla::protocol::control::FlagsShowReply>();
  CHECK(doc.version == v2);
  REQUIRE(doc.versions.size() == 3);
  CHECK(doc.versions[0].version.empty());
  CHECK(doc.versions[0].hosts == 1);
  REQUIRE(doc.flags.size() == 2);
  CHECK(doc.flags[0].key == "dark-mode");
  CHECK(doc.flags[0].state == "DISABLED");
  CHECK_FALSE(doc.flags[0].default_variant.has_value());
  CHECK(doc.flags[1].variants == std::vector<std::string>{"off", "on"});

  auto host = call(api, json{{"cmd", "flags_show"}, {"app", "web"}, {"host", "h0"}})
                  .get<flotilla::protocol::control::FlagsShowReply>();
  CHECK(host.version == v1);
  REQUIRE(host.flags.size() == 1);
  CHECK(host.flags[0].targeted);
  CHECK(errorCode(call(api, json{{"cmd", "flags_show"}, {"app", "web"}, {"host", "nobody"}})) == "not_found");

  auto hist =
      call(api, json{{"cmd", "flags_history"}, {"app", "web"}}).get<flotilla::protocol::control::FlagsHistoryReply>();
  REQUIRE(hist.rollouts.size() == 2);
  CHECK(hist.rollouts[0].id == "flags:web-2");
  CHECK(hist.rollouts[0].kind == "push");
  CHECK(hist.rollouts[0].added == std::vector<std::string>{"dark-mode"});
  CHECK(hist.rollouts[0].changed == std::vector<std::string>{"new-ui"});
  CHECK(hist.rollouts[1].added == std::vector<std::string>{"new-ui"});
  auto one = call(api, json{{"cmd", "flags_history"}, {"app", "web"}, {"limit", 1}});
  CHECK(one["rollouts"].size() == 1);

  // A push refused by a gate never stored a release: it is listed, with no set to compare.
  auto refused = newRolloutRecord("flags:web-3", flotilla::protocol::parsePlan(kPlan, "p", "").value(), "flag push x",
                                  "", "user:ann", "rollout", 3);
  refused.app = "flags:web";
  refused.artifact_digest = std::string(64, 'e');
  refused.state = "refused";
  REQUIRE(d.store().insertRollout(refused).ok());
  auto after = call(api, json{{"cmd", "flags_history"}, {"app", "web"}});
  REQUIRE(after["ok"] == true);
  REQUIRE(after["rollouts"].size() == 3);
  CHECK(after["rollouts"][0]["state"] == "refused");
  CHECK(after["rollouts"][0]["removed"] == json::array({"dark-mode", "new-ui"}));
  CHECK(after["rollouts"][1]["added"] == json::array({"dark-mode"}));
}
