// Approvals end to end (docs/policy.md "Approvals"): real coordinator, agent
// and consoles, each console holding its own operator key on the tcp://
// control endpoint. A rollout the gate covers waits in awaiting_approval; its
// submitter's own approval is refused and never counts; one operator
// approving twice counts once; the second distinct operator starts it; an
// app outside the gate's scope starts at once. A rule
// no set of operators could satisfy stops the coordinator at start, naming
// the key; one the submitter's colleagues cannot satisfy refuses the rollout.
// Over ipc:// the operator is the Unix user the kernel reports for the peer,
// whatever name the console gives.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <fstream>

#include "support/policy_fleet.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;

namespace {

std::string text(const CommandResult& r) { return r.out + r.err; }

std::string state(PolicyFleet& p, const std::string& id) {
  auto s = p.console({"status", id});
  return s.json.is_object() ? s.json.value("state", "") : "";
}

}  // namespace

TEST_CASE("approvals: a rollout waits for two operators other than its submitter", "[integration][policy]") {
  PolicyFleet p({"ann", "bob", "cid"});
  std::ofstream(p.cfg, std::ios::app) << "\n[policy.approvals]\nrequired = 2\napps = [\"web\"]\n"
                                      << "ttl = \"1h\"\n";
  p.run();
  p.f.startAgent("h0");
  p.waitOnline();

  const auto plan = p.f.writePlan("web", "1", p.f.makeRelease("1", true), kOneWaveAllAtOnce);
  auto explain = p.console({"policy", "explain", plan.string()});
  INFO(text(explain));
  REQUIRE(explain.exit_code == 0);
  REQUIRE(explain.json["gates"].size() == 1);
  CHECK(explain.json["gates"][0]["gate"] == "approvals");
  CHECK(explain.json["gates"][0]["applies"] == true);

  auto submitted = p.console({"rollout", plan.string()}, "ann");
  INFO(text(submitted));
  REQUIRE(submitted.exit_code == 0);
  const auto id = submitted.json["id"].get<std::string>();
  CHECK(submitted.json["state"] == "awaiting_approval");
  CHECK(submitted.json["approvals"]["required"] == 2);
  CHECK(submitted.json["approvals"]["have"] == 0);
  // "operator:KEYID (USER@HOST)": the key decides, the name is a label.
  const std::string submitter_by = submitted.json["submitted_by"];
  const std::string submitter = submitter_by.substr(0, submitter_by.find(' '));
  REQUIRE(submitter.rfind("operator:", 0) == 0);

  // The submitter cannot approve their own rollout: refused by policy, exit 4.
  auto self = p.console({"approve", id}, "ann");
  INFO(text(self));
  CHECK(self.exit_code == 4);
  CHECK(text(self).find("submitted this rollout") != std::string::npos);

  // One operator twice is one approval.
  auto first = p.console({"approve", id}, "bob");
  INFO(text(first));
  REQUIRE(first.exit_code == 0);
  CHECK(first.json["approvals"]["have"] == 1);
  auto again = p.console({"approve", id}, "bob");
  REQUIRE(again.exit_code == 0);
  CHECK(again.json["approvals"]["have"] == 1);
  CHECK(again.json["state"] == "awaiting_approval");
  // Nothing was deployed while it waited.
  CHECK(p.f.liveRelease("h0", "web").empty());
  CHECK(state(p, id) == "awaiting_approval");

  auto second = p.console({"approve", id}, "cid");
  INFO(text(second));
  REQUIRE(second.exit_code == 0);
  CHECK(second.json["approvals"]["have"] == 2);
  CHECK(p.waitState(id) == "succeeded");
  CHECK(p.f.liveRelease("h0", "web") == "1");

  // The record: who approved, the refused self-approval, the gate.
  auto events = p.console({"events", id});
  REQUIRE(events.exit_code == 0);
  int approved = 0;
  bool refused = false, satisfied = false, gate = false;
  for (const auto& e : events.json["events"]) {
    const std::string kind = e["kind"];
    approved += kind == "approved";
    refused |= kind == "approval_refused" && e["actor"].get<std::string>().rfind(submitter, 0) == 0;
    satisfied |= kind == "approvals_satisfied";
    gate |= kind == "policy_gate" && e["message"].get<std::string>().rfind("approvals:", 0) == 0;
  }
  CHECK(approved == 3);
  CHECK(refused);
  CHECK(satisfied);
  CHECK(gate);

  // A plan of an app outside the gate starts at once.
  auto api =
      p.console({"rollout", p.f.writePlan("api", "1", p.f.makeRelease("1", true), kOneWaveAllAtOnce).string()}, "ann");
  INFO(text(api));
  REQUIRE(api.exit_code == 0);
  CHECK(api.json["state"] != "awaiting_approval");
  CHECK(p.waitState(api.json["id"].get<std::string>()) == "succeeded");
}

TEST_CASE("approvals: a rule nobody could satisfy is refused at start, a waiting rollout can be aborted",
          "[integration][policy]") {
  PolicyFleet p({"ann", "bob"});
  // Two operators: three approvals can never happen.
  const auto base = readFile(p.cfg);
  std::ofstream(p.cfg, std::ios::app) << "\n[policy.approvals]\nrequired = 3\n";
  auto refused =
      runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config", p.cfg.string()}, 30s);
  INFO(text(refused));
  CHECK(refused.exit_code != 0);
  CHECK(text(refused).find("policy.approvals.required") != std::string::npos);
  CHECK(text(refused).find("only 2 operator(s) could ever approve") != std::string::npos);

  // Two approvals with two operators: whoever submits, only one colleague is left.
  std::ofstream(p.cfg, std::ios::trunc) << base << "\n[policy.approvals]\nrequired = 2\n";
  p.run();
  p.f.startAgent("h0");
  p.waitOnline();
  const auto plan = p.f.writePlan("web", "1", p.f.makeRelease("1", true), kOneWaveAllAtOnce);
  auto denied = p.console({"rollout", plan.string()}, "ann");
  INFO(text(denied));
  CHECK(denied.exit_code == 4);
  CHECK(text(denied).find("policy approvals") != std::string::npos);
  CHECK(text(denied).find("only 1 other operator(s) may approve") != std::string::npos);

  // One approval: the rollout waits, and abort ends it with nothing deployed.
  p.coord.stop();
  std::ofstream(p.cfg, std::ios::trunc) << base << "\n[policy.approvals]\nrequired = 1\n";
  p.run();
  p.waitOnline();
  auto waiting = p.console({"rollout", plan.string()}, "ann");
  INFO(text(waiting));
  REQUIRE(waiting.exit_code == 0);
  const auto id = waiting.json["id"].get<std::string>();
  // A restart keeps the rollout waiting, and its approvals.
  p.coord.stop();
  p.run();
  p.waitOnline();
  CHECK(state(p, id) == "awaiting_approval");
  auto promote = p.console({"promote", id}, "bob");
  CHECK(promote.exit_code == 2);  // promote is not an approval
  auto aborted = p.console({"abort", id}, "bob");
  INFO(text(aborted));
  REQUIRE(aborted.exit_code == 0);
  CHECK(p.waitState(id) == "aborted");
  CHECK(p.f.liveRelease("h0", "web").empty());
  // What never went out does not go out as a "rollback" either.
  auto sneak = p.console({"rollback", "web", "--to", "1"}, "ann");
  INFO(text(sneak));
  CHECK(sneak.exit_code == 2);
  CHECK(text(sneak).find("ever succeeded") != std::string::npos);
  CHECK(p.f.liveRelease("h0", "web").empty());
}

TEST_CASE("approvals over ipc://: the peer's Unix user decides, not the name its console gives",
          "[integration][policy]") {
  if (::geteuid() != 0) {
    WARN("skipped: needs root, to run a second console as the nobody user");
    return;
  }
  Fleet f;
  // A socket directory and a console binary the nobody user can reach; the
  // socket's group (control.group) lets nogroup connect.
  TempDir shared("flotilla-ipc");
  std::filesystem::permissions(shared.path(), std::filesystem::perms(0755));
  const auto console_bin = shared.path() / "flotilla";
  std::filesystem::copy_file(binDir() / "coordinator/flotilla", console_bin);
  const std::string control = "ipc://" + (shared.path() / "control.sock").string();
  const auto cfg = f.dir() / "coord/coordinator.toml";
  setTomlLine(cfg, "endpoint", "endpoint = '" + control + "'");
  setTomlLine(cfg, "group", "group = \"nogroup\"");
  std::ofstream(cfg, std::ios::app)
      << "\n[policy.approvals]\nrequired = 1\napprovers = [\"user:root\", \"user:nobody\"]\n";
  Process coord({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config", cfg.string()},
                f.dir() / "coordinator.log");
  // root's console, claiming to be nobody; and a console really run as nobody.
  auto as_root = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/env", "USER=nobody", console_bin.string(), "--control", control, "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, 60s);
  };
  auto as_nobody = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/setpriv",   "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                  console_bin.string(), "--control",      control,           "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, 60s);
  };
  REQUIRE(waitUntil([&] { return as_root({"agents"}).exit_code == 0; }, 20s));
  f.startAgent("h0");
  REQUIRE(waitUntil(
      [&] {
        auto a = as_root({"agents"});
        return a.exit_code == 0 && a.json["agents"].size() == 1 && a.json["agents"][0]["state"] == "online";
      },
      30s));

  auto submitted = as_root({"rollout", f.writePlan("web", "1", f.makeRelease("1", true), kOneWaveAllAtOnce).string()});
  INFO(text(submitted));
  REQUIRE(submitted.exit_code == 0);
  const auto id = submitted.json["id"].get<std::string>();
  CHECK(submitted.json["state"] == "awaiting_approval");
  CHECK(submitted.json["submitted_by"].get<std::string>().rfind("user:root (nobody@", 0) == 0);

  // Calling itself nobody does not make root's console nobody.
  auto pretend = as_root({"approve", id});
  INFO(text(pretend));
  CHECK(pretend.exit_code == 4);
  CHECK(text(pretend).find("user:root submitted this rollout") != std::string::npos);

  auto real = as_nobody({"approve", id});
  INFO(text(real));
  REQUIRE(real.exit_code == 0);
  CHECK(real.json["approvals"]["by"] == nlohmann::json::array({"user:nobody"}));
  CHECK(waitUntil([&] { return as_root({"status", id}).json.value("state", "") == "succeeded"; }, 60s));
  CHECK(f.liveRelease("h0", "web") == "1");
}
