// coordinator.toml's [leadership] (docs/ha.md): defaults from the listen
// addresses, file:line:col errors, and refused without store.url.
#include <catch2/catch.hpp>
#include <string>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/config.h"
#include "support/temp_dir.h"

using namespace flotilla;
using namespace std::chrono_literals;

namespace {

// A coordinator from `initCoordinator`, with `store` added to its [store] and `tail` appended.
std::filesystem::path configWith(const testing::TempDir& tmp, const std::string& store, const std::string& tail) {
  REQUIRE(common::initCrypto().ok());
  coordinator::InitOptions opts;
  opts.dir = tmp.path() / "coord";
  opts.listen = "tcp://0.0.0.0:7711";
  REQUIRE(coordinator::initCoordinator(opts).ok());
  const auto file = opts.dir / "coordinator.toml";
  auto text = common::readFile(file);
  REQUIRE(text.ok());
  std::string t = *text;
  const auto at = t.find("[store]\n");
  REQUIRE(at != std::string::npos);
  t.insert(at + 8, store);
  t += tail;
  REQUIRE(common::atomicWriteFile(file, t, 0640).ok());
  return file;
}

const std::string kUrl = "url = \"postgresql://flotilla@db.example:5432/fleet\"\n";

}  // namespace

TEST_CASE("leadership config: defaults are a 10 s lease renewed every third and the listen addresses",
          "[coordinator][config][leadership]") {
  testing::TempDir tmp;
  auto c = coordinator::loadCoordinatorConfig(configWith(tmp, kUrl, ""));
  REQUIRE(c.ok());
  CHECK(c->leadership.lease_ttl == 10s);
  CHECK(c->leadership.renewEvery() == common::Millis(3333));
  CHECK(c->leadership.agents_endpoint == "tcp://127.0.0.1:7711");
  CHECK(c->leadership.control_endpoint == c->control_endpoint);
}

TEST_CASE("leadership config: the keys load", "[coordinator][config][leadership]") {
  testing::TempDir tmp;
  auto c = coordinator::loadCoordinatorConfig(configWith(
      tmp, kUrl,
      "\n[leadership]\nlease_ttl = \"2s\"\nrenew_interval = \"500ms\"\n"
      "agents_endpoint = \"tcp://coord-a.example:7700\"\ncontrol_endpoint = \"tcp://coord-a.example:7701\"\n"));
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->leadership.lease_ttl == 2s);
  CHECK(c->leadership.renewEvery() == 500ms);
  CHECK(c->leadership.agents_endpoint == "tcp://coord-a.example:7700");
  CHECK(c->leadership.control_endpoint == "tcp://coord-a.example:7701");
}

TEST_CASE("leadership config: bad values are refused with file, line, column and key",
          "[coordinator][config][leadership]") {
  testing::TempDir tmp;
  const auto [lines, why] =
      GENERATE(std::pair<std::string, std::string>{"lease_ttl = \"100ms\"", "shorter than"},
               std::pair<std::string, std::string>{"lease_ttl = \"soon\"", "leadership.lease_ttl"},
               std::pair<std::string, std::string>{"lease_ttl = \"4s\"\nrenew_interval = \"3s\"", "more than half"},
               std::pair<std::string, std::string>{"agents_endpoint = \"coord-a:7700\"", "expected tcp://"},
               std::pair<std::string, std::string>{"lease = \"10s\"", "unknown key"});
  const auto file = configWith(tmp, kUrl, "\n[leadership]\n" + lines + "\n");
  auto c = coordinator::loadCoordinatorConfig(file);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == Errc::kInvalidArgument);
  CHECK(c.error().message.find(file.string() + ":") == 0);
  CHECK(c.error().message.find(why) != std::string::npos);
}

TEST_CASE("leadership config: [leadership] without store.url is refused", "[coordinator][config][leadership]") {
  testing::TempDir tmp;
  auto c = coordinator::loadCoordinatorConfig(configWith(tmp, "", "\n[leadership]\nlease_ttl = \"2s\"\n"));
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("store.url") != std::string::npos);
}
