// `flotilla-coordinator init DIR2 --from DIR`: the second coordinator has the
// first's keys, store and settings with its own addresses, and the refusals
// say what is wrong before anything is written.
#include "flotilla/coordinator/init_from.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <fstream>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/config.h"
#include "support/temp_dir.h"

using namespace flotilla;
namespace fs = std::filesystem;

namespace {

constexpr const char* kUrl = "postgresql://flotilla@127.0.0.1:5432/flotilla";

// A first coordinator in tmp/first; with `postgres`, its store in PostgreSQL
// (a password file beside it, a CI key and an [orders] setting to carry over).
fs::path firstCoordinator(const testing::TempDir& tmp, bool postgres) {
  REQUIRE(common::initCrypto().ok());
  coordinator::InitOptions opts;
  opts.dir = tmp.path() / "first";
  opts.listen = "tcp://0.0.0.0:7700";
  REQUIRE(coordinator::initCoordinator(opts).ok());
  if (postgres) {
    auto text = common::readFile(opts.dir / "coordinator.toml");
    REQUIRE(text.ok());
    std::string cfg = *text;
    const std::string store = "[store]\n";
    cfg.insert(cfg.find(store) + store.size(),
               std::string("url = \"") + kUrl + "\"\npassword_file = \"pg.password\"\n");
    cfg.replace(cfg.find("ttl = \"1h\""), 10, "ttl = \"2h\"");
    cfg += "\n[policy.provenance]\nci_keys = [\"ci/ci.pub\"]\n";
    REQUIRE(common::atomicWriteFile(opts.dir / "coordinator.toml", cfg, 0640).ok());
    REQUIRE(common::writeSecretFile(opts.dir / "pg.password", "s3cret\n").ok());
    REQUIRE(common::ensureDir(opts.dir / "ci").ok());
    REQUIRE(common::atomicWriteFile(opts.dir / "ci/ci.pub", std::string(64, 'e') + "\n").ok());
  }
  return opts.dir;
}

std::string read(const fs::path& p) {
  auto text = common::readFile(p);
  REQUIRE(text.ok());
  return *text;
}

mode_t modeOf(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("init --from: the same keys, store and settings, with its own addresses", "[coordinator][config][ha]") {
  testing::TempDir tmp;
  const fs::path first = firstCoordinator(tmp, true);
  coordinator::InitFromOptions opts;
  opts.dir = tmp.path() / "second";
  opts.from = first;
  opts.listen = "tcp://0.0.0.0:7710";
  auto st = coordinator::initCoordinatorFrom(opts);
  INFO((st.ok() ? std::string() : st.error().message));
  REQUIRE(st.ok());

  for (const char* key : {"keys/plan.key", "keys/plan.pub", "keys/curve.key", "keys/curve.pub"})
    CHECK(read(opts.dir / key) == read(first / key));
  CHECK(modeOf(opts.dir / "keys/plan.key") == 0600);
  CHECK(modeOf(opts.dir / "keys/curve.key") == 0600);
  CHECK(read(opts.dir / "pg.password") == "s3cret\n");
  CHECK(modeOf(opts.dir / "pg.password") == 0600);

  auto a = coordinator::loadCoordinatorConfig(first / "coordinator.toml");
  auto b = coordinator::loadCoordinatorConfig(opts.dir / "coordinator.toml");
  INFO((b ? std::string() : b.error().message));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(b->plan_key.public_key == a->plan_key.public_key);
  CHECK(b->curve_key.public_key == a->curve_key.public_key);
  CHECK(b->store_url == kUrl);
  CHECK(b->store_password_file == opts.dir / "pg.password");
  CHECK(b->order_ttl == a->order_ttl);
  CHECK(b->ci_keys == a->ci_keys);
  CHECK(b->agent_listen == "tcp://0.0.0.0:7710");
  CHECK(b->control_endpoint == "ipc://" + (opts.dir / "control.sock").string());
  CHECK(b->artifacts_dir == opts.dir / "artifacts");
  CHECK(b->http.listen.empty());

  // join.toml: the first's token and keys, both coordinators listed, first's first.
  const std::string join = read(opts.dir / "join.toml");
  CHECK(modeOf(opts.dir / "join.toml") == 0600);
  CHECK_THAT(join, Catch::Contains("coordinator = [ 'tcp://127.0.0.1:7700', 'tcp://127.0.0.1:7710' ]") ||
                       Catch::Contains("coordinator = [ \"tcp://127.0.0.1:7700\", \"tcp://127.0.0.1:7710\" ]"));
  const std::string first_join = read(first / "join.toml");
  const auto token = first_join.substr(first_join.find("token"));
  CHECK_THAT(join, Catch::Contains(token.substr(0, token.find('\n'))));
}

TEST_CASE("init --from: a store password named by an absolute path is copied, 0600", "[coordinator][config][ha]") {
  testing::TempDir tmp;
  const fs::path first = firstCoordinator(tmp, true);
  REQUIRE(common::writeSecretFile(tmp.path() / "elsewhere.password", "pw\n").ok());
  std::string cfg = read(first / "coordinator.toml");
  cfg.replace(cfg.find("\"pg.password\""), 13, "\"" + (tmp.path() / "elsewhere.password").string() + "\"");
  REQUIRE(common::atomicWriteFile(first / "coordinator.toml", cfg, 0640).ok());
  coordinator::InitFromOptions opts;
  opts.dir = tmp.path() / "second";
  opts.from = first / "coordinator.toml";
  opts.listen = "tcp://127.0.0.1:7711";
  auto st = coordinator::initCoordinatorFrom(opts);
  INFO((st.ok() ? std::string() : st.error().message));
  REQUIRE(st.ok());
  CHECK(read(opts.dir / "keys/store.password") == "pw\n");
  CHECK(modeOf(opts.dir / "keys/store.password") == 0600);
  auto b = coordinator::loadCoordinatorConfig(opts.dir / "coordinator.toml");
  REQUIRE(b.ok());
  CHECK(b->store_password_file == opts.dir / "keys/store.password");
}

TEST_CASE("init --from: a first coordinator on SQLite is refused, saying why", "[coordinator][config][ha]") {
  testing::TempDir tmp;
  const fs::path first = firstCoordinator(tmp, false);
  coordinator::InitFromOptions opts;
  opts.dir = tmp.path() / "second";
  opts.from = first;
  auto st = coordinator::initCoordinatorFrom(opts);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kInvalidArgument);
  CHECK_THAT(st.error().message,
             Catch::Contains("has no store.url") && Catch::Contains("SQLite") && Catch::Contains("would not share"));
  CHECK_FALSE(fs::exists(opts.dir));
}

TEST_CASE("init --from: a target that exists and is not empty, or is the first itself, is refused",
          "[coordinator][config][ha]") {
  testing::TempDir tmp;
  const fs::path first = firstCoordinator(tmp, true);
  coordinator::InitFromOptions opts;
  opts.from = first;

  opts.dir = tmp.path() / "busy";
  fs::create_directories(opts.dir);
  std::ofstream(opts.dir / "notes.txt") << "mine\n";
  auto busy = coordinator::initCoordinatorFrom(opts);
  REQUIRE_FALSE(busy.ok());
  CHECK(busy.error().code == Errc::kAlreadyExists);
  CHECK_THAT(busy.error().message, Catch::Contains("exists and is not empty"));
  CHECK_FALSE(fs::exists(opts.dir / "coordinator.toml"));

  opts.dir = first;
  auto same = coordinator::initCoordinatorFrom(opts);
  REQUIRE_FALSE(same.ok());
  CHECK_THAT(same.error().message, Catch::Contains("is the first coordinator's directory"));

  // An empty directory is fine.
  opts.dir = tmp.path() / "empty";
  fs::create_directories(opts.dir);
  opts.listen = "tcp://127.0.0.1:7712";
  auto empty = coordinator::initCoordinatorFrom(opts);
  INFO((empty.ok() ? std::string() : empty.error().message));
  CHECK(empty.ok());
}

TEST_CASE("init --from: a directory without coordinator.toml is named", "[coordinator][config][ha]") {
  testing::TempDir tmp;
  coordinator::InitFromOptions opts;
  opts.dir = tmp.path() / "second";
  opts.from = tmp.path() / "nothing-here";
  auto st = coordinator::initCoordinatorFrom(opts);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kNotFound);
  CHECK_THAT(st.error().message, Catch::Contains("nothing-here/coordinator.toml"));
}
