// agent.toml: the keys that bound an order (clock_skew, max_artifact_bytes)
// are read, and a bad value names the file, the line and the key.
#include "flotilla/agent/config.h"

#include <catch2/catch.hpp>

#include <string>

#include "support/temp_dir.h"

using flotilla::agent::loadAgentConfig;
using flotilla::testing::TempDir;

namespace {

// A complete agent.toml with `extra` lines at its top level.
std::filesystem::path writeConfig(const TempDir& dir, const std::string& extra) {
  const std::string key(64, 'a');
  std::filesystem::create_directories(dir.path() / "keys");
  std::filesystem::permissions(dir.write("keys/agent.key", std::string(64, '1') + "\n"),
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const std::string text = "id = \"h0\"\napps_dir = \"apps\"\n" + extra +
                           "\n[coordinator]\nendpoint = \"tcp://127.0.0.1:7700\"\ncurve_key = \"" + key +
                           "\"\nplan_key = \"" + key + "\"\n";
  return dir.write("agent.toml", text);
}

}  // namespace

TEST_CASE("agent config: clock_skew and max_artifact_bytes default, and are read when set", "[agent][config]") {
  TempDir dir;
  auto defaults = loadAgentConfig(writeConfig(dir, ""));
  INFO((defaults ? std::string() : defaults.error().message));
  REQUIRE(defaults.ok());
  CHECK(defaults->clock_skew_s == 300);
  CHECK(defaults->max_artifact_bytes == (2ull << 30));

  TempDir set;
  auto c = loadAgentConfig(writeConfig(set, "clock_skew = \"90s\"\nmax_artifact_bytes = 1048576"));
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->clock_skew_s == 90);
  CHECK(c->max_artifact_bytes == 1048576);
}

TEST_CASE("agent config: a bad clock_skew or max_artifact_bytes names the file, line and key", "[agent][config]") {
  TempDir dir;
  auto skew = loadAgentConfig(writeConfig(dir, "clock_skew = \"2h\""));
  REQUIRE_FALSE(skew.ok());
  CHECK_THAT(skew.error().message, Catch::Contains("agent.toml:3") && Catch::Contains("clock_skew"));

  TempDir bad;
  auto size = loadAgentConfig(writeConfig(bad, "max_artifact_bytes = -5"));
  REQUIRE_FALSE(size.ok());
  CHECK_THAT(size.error().message, Catch::Contains("agent.toml:3") && Catch::Contains("max_artifact_bytes"));
}
