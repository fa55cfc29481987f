// initAgent with agent.toml outside the agent's directory (`init --system`,
// the Debian package's layout): the paths it writes are absolute, in the
// agent's directory, and the file loads back with them.
#include <catch2/catch.hpp>

#include <string>

#include "flotilla/agent/config.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "support/temp_dir.h"

using namespace flotilla;

namespace {

// A coordinator's join.toml with both keys `key_char` x 64 and `token_line`.
std::filesystem::path writeJoin(const testing::TempDir& tmp, char key_char, const std::string& token_line) {
  const std::string key(64, key_char);
  return tmp.write("join.toml", "coordinator = \"tcp://127.0.0.1:7700\"\ncoordinator_key = \"" + key +
                                    "\"\nplan_key = \"" + key + "\"\n" + token_line);
}

}  // namespace

TEST_CASE("agent init: agent.toml elsewhere keeps keys, state and apps in the agent's directory", "[agent][config]") {
  REQUIRE(common::initCrypto().ok());
  testing::TempDir tmp;
  agent::AgentInitOptions opts;
  opts.join_file = writeJoin(tmp, 'a', "token = \"t\"\n");
  opts.dir = tmp.path() / "var/lib/agent";
  opts.config_file = tmp.path() / "etc/flotilla/agent.toml";
  opts.id = "h0";
  auto created = agent::initAgent(opts);
  INFO((created ? std::string() : created.error().message));
  REQUIRE(created.ok());
  CHECK(*created == opts.config_file);
  CHECK_FALSE(std::filesystem::exists(opts.dir / "agent.toml"));

  auto config = agent::loadAgentConfig(opts.config_file);
  INFO((config ? std::string() : config.error().message));
  REQUIRE(config.ok());
  CHECK(config->state_dir == opts.dir / "state");
  CHECK(config->apps_dir == opts.dir / "apps");
  CHECK(config->join_token == "t");
}

TEST_CASE("agent init: agent.toml in the agent's directory keeps relative paths", "[agent][config]") {
  REQUIRE(common::initCrypto().ok());
  testing::TempDir tmp;
  agent::AgentInitOptions opts;
  opts.join_file = writeJoin(tmp, 'b', "");
  opts.dir = tmp.path() / "agent";
  opts.id = "h0";
  auto created = agent::initAgent(opts);
  INFO((created ? std::string() : created.error().message));
  REQUIRE(created.ok());
  CHECK(*created == opts.dir / "agent.toml");
  auto config = agent::loadAgentConfig(*created);
  REQUIRE(config.ok());
  CHECK(config->state_dir == opts.dir / "state");
}

TEST_CASE("agent init: a join.toml listing several coordinators writes them all, in order", "[agent][config][ha]") {
  REQUIRE(common::initCrypto().ok());
  testing::TempDir tmp;
  const std::string key(64, 'c');
  agent::AgentInitOptions opts;
  opts.join_file = tmp.write("join.toml",
                             "coordinator = [\"tcp://10.0.0.1:7700\", \"tcp://10.0.0.2:7700\"]\n"
                             "coordinator_key = \"" +
                                 key + "\"\nplan_key = \"" + key + "\"\n");
  opts.dir = tmp.path() / "agent";
  opts.id = "h0";
  auto created = agent::initAgent(opts);
  INFO((created ? std::string() : created.error().message));
  REQUIRE(created.ok());
  auto config = agent::loadAgentConfig(*created);
  INFO((config ? std::string() : config.error().message));
  REQUIRE(config.ok());
  CHECK(config->coordinator_endpoints == std::vector<std::string>{"tcp://10.0.0.1:7700", "tcp://10.0.0.2:7700"});

  // A join.toml with one endpoint still writes a plain string.
  testing::TempDir single;
  opts.join_file = writeJoin(single, 'd', "");
  opts.dir = single.path() / "agent";
  auto one = agent::initAgent(opts);
  REQUIRE(one.ok());
  auto text = common::readFile(*one);
  REQUIRE(text.ok());
  CHECK_THAT(*text, Catch::Contains("endpoint = 'tcp://127.0.0.1:7700'\n"));
}

TEST_CASE("agent init: a bad coordinator list in join.toml names the file, line and column", "[agent][config][ha]") {
  testing::TempDir tmp;
  const std::string key(64, 'c');
  agent::AgentInitOptions opts;
  opts.join_file =
      tmp.write("join.toml", "coordinator = []\ncoordinator_key = \"" + key + "\"\nplan_key = \"" + key + "\"\n");
  opts.dir = tmp.path() / "agent";
  auto created = agent::initAgent(opts);
  REQUIRE_FALSE(created.ok());
  CHECK_THAT(created.error().message, Catch::Contains("join.toml:1:15: coordinator: is empty"));
}
