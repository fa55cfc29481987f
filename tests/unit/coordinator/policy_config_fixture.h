#pragma once
// coordinator.toml files with a [policy] table, for the policy configuration
// tests (policy_config_test.cpp, alarm_policy_test.cpp).
#include <catch2/catch.hpp>
#include <filesystem>
#include <optional>
#include <string>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/config.h"
#include "support/temp_dir.h"

namespace policy_config_fixture {

// A coordinator directory from `initCoordinator` under `tmp`, with `policy`
// appended to its coordinator.toml; returns the file.
inline std::filesystem::path configWithPolicy(const flotilla::testing::TempDir& tmp, const std::string& policy) {
  REQUIRE(flotilla::common::initCrypto().ok());
  flotilla::coordinator::InitOptions opts;
  opts.dir = tmp.path() / "coord";
  if (!std::filesystem::exists(opts.dir / "coordinator.toml"))
    REQUIRE(flotilla::coordinator::initCoordinator(opts).ok());
  const auto file = opts.dir / "coordinator.toml";
  auto text = flotilla::common::readFile(file);
  REQUIRE(text.ok());
  REQUIRE(flotilla::common::atomicWriteFile(file, *text + "\n" + policy, 0640).ok());
  return file;
}

// The message of the error loading `file` gives: with `expected`, of that
// code; without, of any code but kInternal (a missing key file is kNotFound).
inline std::string configError(const std::filesystem::path& file,
                               std::optional<flotilla::Errc> expected = flotilla::Errc::kInvalidArgument) {
  auto c = flotilla::coordinator::loadCoordinatorConfig(file);
  REQUIRE_FALSE(c.ok());
  if (expected)
    CHECK(c.error().code == *expected);
  else
    CHECK(c.error().code != flotilla::Errc::kInternal);
  return c.error().message;
}

}  // namespace policy_config_fixture
