// join.toml for the swarm: one coordinator endpoint, or the list `init --from` writes.
#include "flotilla/swarm/join.h"

#include <catch2/catch.hpp>

#include <fstream>

#include <unistd.h>

using flotilla::swarm::loadJoinFile;

namespace {

std::filesystem::path writeJoin(const std::string& coordinator_line) {
  const auto path = std::filesystem::temp_directory_path() / ("swarm-join-" + std::to_string(::getpid()) + ".toml");
  const std::string key(64, 'a');
  std::ofstream(path) << coordinator_line << "\ncoordinator_key = \"" << key << "\"\nplan_key = \"" << key << "\"\n";
  return path;
}

}  // namespace

TEST_CASE("swarm join: one endpoint or a list of them", "[swarm][join]") {
  const auto one = writeJoin("coordinator = \"tcp://127.0.0.1:7700\"");
  auto j = loadJoinFile(one);
  REQUIRE(j.ok());
  CHECK(j->endpoints == std::vector<std::string>{"tcp://127.0.0.1:7700"});
  const auto two = writeJoin("coordinator = [\"tcp://127.0.0.1:7700\", \"tcp://127.0.0.1:7710\"]");
  j = loadJoinFile(two);
  REQUIRE(j.ok());
  CHECK(j->endpoints == std::vector<std::string>{"tcp://127.0.0.1:7700", "tcp://127.0.0.1:7710"});
  const auto none = writeJoin("coordinator = []");
  j = loadJoinFile(none);
  REQUIRE_FALSE(j.ok());
  CHECK_THAT(j.error().message, Catch::Contains(":1:15: coordinator: is empty"));
  std::filesystem::remove(none);
}
