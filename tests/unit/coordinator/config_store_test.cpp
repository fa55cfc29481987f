// coordinator.toml's store.url and store.password_file: absent = SQLite as
// before; a bad URL, or one carrying a password, is refused with file:line:col.
#include <catch2/catch.hpp>
#include <string>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/config.h"
#include "support/temp_dir.h"

using namespace flotilla;

namespace {

// A coordinator directory from `initCoordinator`, with `lines` added to its [store].
std::filesystem::path configWithStore(const testing::TempDir& tmp, const std::string& lines) {
  REQUIRE(common::initCrypto().ok());
  coordinator::InitOptions opts;
  opts.dir = tmp.path() / "coord";
  REQUIRE(coordinator::initCoordinator(opts).ok());
  const auto file = opts.dir / "coordinator.toml";
  auto text = common::readFile(file);
  REQUIRE(text.ok());
  std::string t = *text;
  const auto at = t.find("[store]\n");
  REQUIRE(at != std::string::npos);
  t.insert(at + 8, lines);
  REQUIRE(common::atomicWriteFile(file, t, 0640).ok());
  return file;
}

}  // namespace

TEST_CASE("coordinator config: without store.url the store is the SQLite file", "[coordinator][config][store]") {
  testing::TempDir tmp;
  auto c = coordinator::loadCoordinatorConfig(configWithStore(tmp, ""));
  REQUIRE(c.ok());
  auto options = coordinator::storeOptions(*c);
  CHECK(options.url.empty());
  CHECK(options.file == tmp.path() / "coord" / "flotilla.db");
  CHECK_FALSE(options.read_only);
}

TEST_CASE("coordinator config: store.url and store.password_file load", "[coordinator][config][store]") {
  testing::TempDir tmp;
  auto c = coordinator::loadCoordinatorConfig(
      configWithStore(tmp, "url = \"postgresql://flotilla@db.example:5432/fleet\"\npassword_file = \"pg.pass\"\n"));
  REQUIRE(c.ok());
  auto options = coordinator::storeOptions(*c, true);
  CHECK(options.url == "postgresql://flotilla@db.example:5432/fleet");
  CHECK(options.password_file == tmp.path() / "coord" / "pg.pass");
  CHECK(options.read_only);
}

TEST_CASE("coordinator config: a bad store.url is refused with file, line and column", "[coordinator][config][store]") {
  testing::TempDir tmp;
  const auto [url, why] =
      GENERATE(std::pair<std::string, std::string>{"mysql://u@h/db", "must start with postgresql://"},
               std::pair<std::string, std::string>{"postgresql://u@h:5432", "names no database"},
               std::pair<std::string, std::string>{"postgresql://u@:5432/db", "names no host"},
               std::pair<std::string, std::string>{"postgresql://u@h:99999/db", "is not a port"},
               std::pair<std::string, std::string>{"postgresql://u:secret@h/db", "carries a password"});
  const auto file = configWithStore(tmp, "url = \"" + url + "\"\n");
  auto c = coordinator::loadCoordinatorConfig(file);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == Errc::kInvalidArgument);
  const std::string& m = c.error().message;
  CHECK(m.find(file.string() + ":") != std::string::npos);
  CHECK(m.find("store.url") != std::string::npos);
  CHECK(m.find(why) != std::string::npos);
  CHECK(m.find("secret") == std::string::npos);
}

TEST_CASE("coordinator config: store.password_file without store.url is refused", "[coordinator][config][store]") {
  testing::TempDir tmp;
  auto c = coordinator::loadCoordinatorConfig(configWithStore(tmp, "password_file = \"pg.pass\"\n"));
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("store.password_file") != std::string::npos);
}
