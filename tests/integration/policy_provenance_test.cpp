// The provenance gate end to end (docs/policy.md): a coordinator with
// [policy.provenance] ci_keys deploys a plan CI signed with `flotilla sign
// --ci`, and refuses, with exit code 4 and nothing started, a plan without a
// CI signature, one by a key it does not list, a forged one, and one whose
// commit was changed after signing.
#include <catch2/catch.hpp>

#include <fstream>

#include "support/cluster.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kFlotilla = (binDir() / "coordinator/flotilla").string();

// `flotilla keygen --ci PREFIX`; fails the test when it does.
void ciKeygen(const fs::path& prefix) {
  auto k = runCommand({kFlotilla, "keygen", "--ci", prefix.string()});
  INFO(k.out << k.err);
  REQUIRE(k.exit_code == 0);
}

// `base` with a [change] of `commit` on refs/heads/main and artifact.ci_signature = `sig`, as `name`.
fs::path planWithChange(const fs::path& base, const std::string& name, const std::string& commit, const fs::path& sig) {
  std::string text = readFile(base);
  const auto at = text.find("[artifact]\n");
  REQUIRE(at != std::string::npos);
  text.insert(at + 11, "ci_signature = \"" + sig.string() + "\"\n");
  text.insert(at, "[change]\ncommit = \"" + commit + "\"\nref = \"refs/heads/main\"\n\n");
  const fs::path out = base.parent_path() / name;
  std::ofstream(out) << text;
  return out;
}

// `flotilla --json sign PLAN --key KEY --ci`; fails the test when it does.
void ciSign(const fs::path& plan, const fs::path& key) {
  auto s = runCommand({kFlotilla, "--json", "sign", plan.string(), "--key", key.string(), "--ci"});
  INFO(s.out << s.err);
  REQUIRE(s.exit_code == 0);
}

// Submits `plan`, which the gate must refuse: exit 4, policy_denied, a message naming the gate and `why`.
void expectRefused(Fleet& f, const fs::path& plan, const std::string& why) {
  auto r = f.console({"rollout", plan.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 4);
  CHECK(r.json["error"]["code"] == "policy_denied");
  const std::string message = r.json["error"].value("message", "");
  CHECK_THAT(message, Catch::StartsWith("policy provenance: ") && Catch::Contains(why));
}

// Rollouts in history that ended in `state` ("" = any other than refused).
std::size_t rolloutsInHistory(Fleet& f, const std::string& state = "") {
  auto h = f.console({"history"});
  INFO(h.out << h.err);
  REQUIRE(h.exit_code == 0);
  std::size_t n = 0;
  for (const auto& r : h.json["rollouts"]) n += state.empty() ? r["state"] != "refused" : r["state"] == state;
  return n;
}

}  // namespace

TEST_CASE("provenance: only a plan CI signed by a listed key rolls out, others exit 4 and start nothing",
          "[integration][policy]") {
  Fleet f;
  ciKeygen(f.dir() / "ci");
  ciKeygen(f.dir() / "rogue");
  fs::copy_file(f.dir() / "ci.pub", f.dir() / "coord/keys/ci.pub");
  {
    std::ofstream cfg(f.dir() / "coord/coordinator.toml", std::ios::app);
    cfg << "\n[policy.provenance]\nci_keys = [\"keys/ci.pub\"]\n";
  }
  f.startCoordinator();
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  const fs::path base = f.writePlan("web", "1", f.makeRelease("1", true), kOneWaveAllAtOnce);

  // No CI signature at all: the plan as it was written.
  expectRefused(f, base, "the plan carries no CI signature");

  // Signed by a key coordinator.toml does not list.
  const fs::path rogue = planWithChange(base, "web-1-rogue.toml", "9f2c1ab", f.dir() / "rogue.ci-sig");
  ciSign(rogue, f.dir() / "rogue.key");
  expectRefused(f, rogue, "not one of policy.provenance.ci_keys");

  // A forged signature: the CI key's file with its signature replaced.
  const fs::path signed_plan = planWithChange(base, "web-1-ci.toml", "9f2c1ab", f.dir() / "web-1.ci-sig");
  ciSign(signed_plan, f.dir() / "ci.key");
  json doc = json::parse(readFile(f.dir() / "web-1.ci-sig"));
  doc["signature"] = std::string(128, '7');
  std::ofstream(f.dir() / "forged.ci-sig") << doc.dump();
  const fs::path forged = planWithChange(base, "web-1-forged.toml", "9f2c1ab", f.dir() / "forged.ci-sig");
  expectRefused(f, forged, "does not verify");

  // The commit changed after CI signed.
  const fs::path moved = planWithChange(base, "web-1-moved.toml", "0000000", f.dir() / "web-1.ci-sig");
  expectRefused(f, moved, "change.commit differs from what CI signed");

  CHECK(rolloutsInHistory(f) == 0);
  CHECK(rolloutsInHistory(f, "refused") == 4);  // each refusal is on record
  CHECK(f.liveRelease("h0", "web") == "");

  // Signed by the listed CI key: it deploys.
  const std::string id = f.submit(signed_plan);
  const json st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  CHECK(st["state"] == "succeeded");
  CHECK(f.liveRelease("h0", "web") == "1");
  CHECK(rolloutsInHistory(f) == 1);
}
