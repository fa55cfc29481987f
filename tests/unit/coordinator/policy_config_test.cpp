// coordinator.toml [policy.provenance]: ci_keys load as public keys, and each
// mistake names the file, line, key and what is wrong.
#include <catch2/catch.hpp>
#include <string>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/config.h"
#include "policy_config_fixture.h"
#include "support/temp_dir.h"

using namespace flotilla;
using policy_config_fixture::configWithPolicy;

namespace {
// Any clear refusal: a missing key file is kNotFound, a bad value kInvalidArgument.
std::string configError(const std::filesystem::path& file) {
  return policy_config_fixture::configError(file, std::nullopt);
}
}  // namespace

namespace {}  // namespace

TEST_CASE("policy config: ci_keys are read relative to the config's directory", "[coordinator][config][policy]") {
  testing::TempDir tmp;
  REQUIRE(common::initCrypto().ok());
  const auto ci = common::generateSigningKeyPair();
  REQUIRE(common::ensureDir(tmp.path() / "coord/keys", 0700).ok());
  REQUIRE(common::atomicWriteFile(tmp.path() / "coord/keys/ci.pub", common::toHex(ci.public_key) + "\n", 0644).ok());
  auto c =
      coordinator::loadCoordinatorConfig(configWithPolicy(tmp, "[policy.provenance]\nci_keys = [\"keys/ci.pub\"]\n"));
  REQUIRE(c.ok());
  REQUIRE(c->ci_keys.size() == 1);
  CHECK(c->ci_keys[0] == ci.public_key);
}

TEST_CASE("policy config: without [policy] no CI key is required", "[coordinator][config][policy]") {
  testing::TempDir tmp;
  auto c = coordinator::loadCoordinatorConfig(configWithPolicy(tmp, ""));
  REQUIRE(c.ok());
  CHECK(c->ci_keys.empty());
}

TEST_CASE("policy config: a ci_keys mistake names file, line, key and problem", "[coordinator][config][policy]") {
  testing::TempDir tmp;
  REQUIRE(common::ensureDir(tmp.path() / "coord/keys", 0700).ok());
  REQUIRE(common::atomicWriteFile(tmp.path() / "coord/keys/bad.pub", "not a key\n", 0644).ok());
  const auto file = tmp.path() / "coord/coordinator.toml";
  SECTION("a missing key file") {
    const std::string m = configError(configWithPolicy(tmp, "[policy.provenance]\nci_keys = [\"keys/ci.pub\"]\n"));
    CHECK_THAT(m, Catch::StartsWith(file.string() + ":") && Catch::Contains("policy.provenance.ci_keys[0]") &&
                      Catch::Contains("keys/ci.pub"));
  }
  SECTION("a file that holds no key") {
    const std::string m = configError(configWithPolicy(tmp, "[policy.provenance]\nci_keys = [\"keys/bad.pub\"]\n"));
    CHECK_THAT(m, Catch::Contains("policy.provenance.ci_keys[0]") && Catch::Contains("bad.pub is not a CI public key"));
  }
  SECTION("not an array") {
    CHECK_THAT(configError(configWithPolicy(tmp, "[policy.provenance]\nci_keys = \"keys/ci.pub\"\n")),
               Catch::Contains("policy.provenance.ci_keys: expected an array of public key files"));
  }
  SECTION("an empty list") {
    CHECK_THAT(configError(configWithPolicy(tmp, "[policy.provenance]\nci_keys = []\n")),
               Catch::Contains("policy.provenance.ci_keys: is empty"));
  }
  SECTION("a [policy.provenance] without ci_keys") {
    CHECK_THAT(configError(configWithPolicy(tmp, "[policy.provenance]\n")),
               Catch::Contains("policy.provenance: needs ci_keys"));
  }
  SECTION("an element that is not a file name") {
    CHECK_THAT(configError(configWithPolicy(tmp, "[policy.provenance]\nci_keys = [3]\n")),
               Catch::Contains("policy.provenance.ci_keys[0]: expected a file name"));
  }
  SECTION("an unknown key in [policy.provenance]") {
    CHECK_THAT(configError(configWithPolicy(tmp, "[policy.provenance]\nci_key = [\"keys/ci.pub\"]\n")),
               Catch::Contains("policy.provenance.ci_key: unknown key"));
  }
  SECTION("a gate this build does not know") {
    CHECK_THAT(configError(configWithPolicy(tmp, "[policy.provenanse]\nci_keys = [\"keys/ci.pub\"]\n")),
               Catch::Contains("policy.provenanse: unknown key"));
  }
}

TEST_CASE("policy config: freezes and break-glass load", "[coordinator][config][policy]") {
  testing::TempDir tmp;
  auto c = coordinator::loadCoordinatorConfig(configWithPolicy(tmp, R"([[policy.freeze]]
name = "weekend"
start = "0 18 * * FRI"
end = "0 8 * * MON"
timezone = "Europe/Berlin"
apps = ["web"]
labels = { env = "prod" }
in_flight = "finish"

[policy.break_glass]
operators = ["0123456789abcdef"]
)"));
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  REQUIRE(c->policy.freezes.size() == 1);
  const auto& f = c->policy.freezes[0];
  CHECK(f.name == "weekend");
  CHECK(f.timezone == "Europe/Berlin");
  CHECK(f.apps == std::vector<std::string>{"web"});
  CHECK(f.labels.at("env") == "prod");
  CHECK(f.finish_in_flight);
  CHECK(c->policy.break_glass == std::vector<std::string>{"operator:0123456789abcdef"});
}

TEST_CASE("policy config: a freeze mistake names file, line, key and problem", "[coordinator][config][policy]") {
  struct Case {
    std::string policy, key, problem;
  };
  const Case cases[] = {
      {"[[policy.freeze]]\nname = \"w\"\nstart = \"0 18 * * FRX\"\nend = \"0 8 * * MON\"\n", "policy.freeze[0]",
       "unknown name FRX"},
      {"[[policy.freeze]]\nname = \"w\"\nstart = \"0 18 * * FRI\"\nend = \"0 8 * * MON\"\ntimezone = "
       "\"Mars/Olympus\"\n",
       "policy.freeze[0]", "Mars/Olympus"},
      {"[[policy.freeze]]\nname = \"w\"\nstart = \"0 18 * * FRI\"\n", "policy.freeze[0].end", "missing"},
      {"[[policy.freeze]]\nname = \"w\"\nstart = \"0 18 * * FRI\"\nend = \"0 8 * * MON\"\nin_flight = \"stop\"\n",
       "policy.freeze[0].in_flight", "\"pause\" or \"finish\""},
      {"[[policy.freeze]]\nname = \"w\"\nstart = \"0 18 * * FRI\"\nend = \"0 8 * * MON\"\nwhen = 1\n",
       "policy.freeze[0].when", "unknown key"},
      {"[[policy.freeze]]\nname = \"w\"\nstart = \"0 1 * * *\"\nend = \"0 2 * * *\"\n[[policy.freeze]]\nname = "
       "\"w\"\nstart = \"0 1 * * *\"\nend = \"0 2 * * *\"\n",
       "policy.freeze[1].name", "appears twice"},
      {"[policy.break_glass]\nusers = []\n", "policy.break_glass.users", "unknown key"},
      {"[policy.approval]\nrequired = 2\n", "policy.approval", "unknown key"},
  };
  for (const auto& k : cases) {
    testing::TempDir tmp;
    INFO(k.policy);
    const std::string msg = configError(configWithPolicy(tmp, k.policy));
    CHECK_THAT(msg, Catch::Contains("coordinator.toml:"));
    CHECK_THAT(msg, Catch::Contains(k.key));
    CHECK_THAT(msg, Catch::Contains(k.problem));
  }
}
