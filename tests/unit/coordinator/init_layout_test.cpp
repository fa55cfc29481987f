// initCoordinator with a separate state directory (`init --system`, the Debian
// package's layout): the configuration and keys stay in dir, the store,
// artifacts and control socket go to the state directory, and the written
// coordinator.toml loads back with those paths.
#include <catch2/catch.hpp>

#include "flotilla/common/crypto.h"
#include "flotilla/coordinator/config.h"
#include "support/temp_dir.h"

using namespace flotilla;

TEST_CASE("coordinator init: a separate state directory holds the store, artifacts and control socket",
          "[coordinator][config]") {
  REQUIRE(common::initCrypto().ok());
  testing::TempDir tmp;
  coordinator::InitOptions opts;
  opts.dir = tmp.path() / "etc";
  opts.state_dir = tmp.path() / "state";
  auto st = coordinator::initCoordinator(opts);
  INFO((st.ok() ? std::string() : st.error().message));
  REQUIRE(st.ok());

  CHECK(std::filesystem::exists(opts.dir / "keys/plan.key"));
  CHECK(std::filesystem::exists(opts.dir / "join.toml"));
  CHECK(std::filesystem::exists(opts.state_dir / "flotilla.db"));
  CHECK_FALSE(std::filesystem::exists(opts.dir / "flotilla.db"));
  auto config = coordinator::loadCoordinatorConfig(opts.dir / "coordinator.toml");
  INFO((config ? std::string() : config.error().message));
  REQUIRE(config.ok());
  CHECK(config->store_file == opts.state_dir / "flotilla.db");
  CHECK(config->artifacts_dir == opts.state_dir / "artifacts");
  CHECK(config->control_endpoint == "ipc://" + (opts.state_dir / "control.sock").string());
}

TEST_CASE("coordinator init: a daemon user that does not exist is named, and nothing is written",
          "[coordinator][config]") {
  REQUIRE(common::initCrypto().ok());
  testing::TempDir tmp;
  coordinator::InitOptions opts;
  opts.dir = tmp.path() / "etc";
  opts.state_dir = tmp.path() / "state";
  opts.user = "flotilla-no-such-user";
  auto st = coordinator::initCoordinator(opts);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message, Catch::Contains("flotilla-no-such-user"));
  // Nothing was written, so init can be run again once the user exists.
  CHECK_FALSE(std::filesystem::exists(opts.dir / "coordinator.toml"));
}
