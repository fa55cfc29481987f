// coordinator.toml: loadCoordinatorConfig names the file, the key and what is
// wrong when a value is outside what the fleet can honour.
#include "flotilla/coordinator/config.h"

#include <catch2/catch.hpp>
#include <string>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "support/temp_dir.h"

using namespace flotilla;

namespace {

// A coordinator directory from `initCoordinator`, with its [agents] timing replaced.
std::filesystem::path configWithTiming(const testing::TempDir& tmp, const std::string& interval,
                                       const std::string& expiry) {
  REQUIRE(common::initCrypto().ok());
  coordinator::InitOptions opts;
  opts.dir = tmp.path() / "coord";
  REQUIRE(coordinator::initCoordinator(opts).ok());
  const auto file = opts.dir / "coordinator.toml";
  auto text = common::readFile(file);
  REQUIRE(text.ok());
  std::string t = *text;
  auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = t.find(from);
    REQUIRE(at != std::string::npos);
    t.replace(at, from.size(), to);
  };
  replace("heartbeat_interval = \"5s\"", "heartbeat_interval = \"" + interval + "\"");
  replace("heartbeat_expiry = \"15s\"", "heartbeat_expiry = \"" + expiry + "\"");
  REQUIRE(common::atomicWriteFile(file, t, 0640).ok());
  return file;
}

}  // namespace

TEST_CASE("coordinator config: a heartbeat interval within the agents' range loads", "[coordinator][config]") {
  testing::TempDir tmp;
  const auto [interval, expiry] =
      GENERATE(std::pair<std::string, std::string>{"10ms", "1s"}, std::pair<std::string, std::string>{"1h", "3h"});
  auto c = coordinator::loadCoordinatorConfig(configWithTiming(tmp, interval, expiry));
  REQUIRE(c.ok());
  CHECK((c->heartbeat_interval == coordinator::kMinHeartbeatInterval ||
         c->heartbeat_interval == coordinator::kMaxHeartbeatInterval));
}

TEST_CASE("coordinator config: a heartbeat interval agents would clamp is refused with file and key",
          "[coordinator][config]") {
  testing::TempDir tmp;
  const auto [interval, expiry] =
      GENERATE(std::pair<std::string, std::string>{"61m", "3h"}, std::pair<std::string, std::string>{"30d", "60d"},
               std::pair<std::string, std::string>{"9ms", "1s"});
  const auto file = configWithTiming(tmp, interval, expiry);
  auto c = coordinator::loadCoordinatorConfig(file);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == Errc::kInvalidArgument);
  const std::string& m = c.error().message;
  CHECK(m.find(file.string()) != std::string::npos);
  CHECK(m.find("agents.heartbeat_interval") != std::string::npos);
  CHECK(m.find("outside what agents accept") != std::string::npos);
}
