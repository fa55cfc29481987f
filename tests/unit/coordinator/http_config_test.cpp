// coordinator.toml's `http`: the shorthand string and the [http] table, the
// token file, and the refusal to serve the dashboard on a non-loopback address
// without a token (docs/dashboard.md "Configuration").
#include <catch2/catch.hpp>
#include <string>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/config.h"
#include "support/temp_dir.h"

using namespace flotilla;

namespace {

const std::string kToken = "0123456789abcdef0123456789abcdef0123456789abcdef";

// A coordinator directory from `initCoordinator` whose `http = ""` line is replaced by `http`.
std::filesystem::path configWithHttp(const testing::TempDir& tmp, const std::string& http) {
  REQUIRE(common::initCrypto().ok());
  coordinator::InitOptions opts;
  opts.dir = tmp.path() / "coord";
  REQUIRE(coordinator::initCoordinator(opts).ok());
  const auto file = opts.dir / "coordinator.toml";
  auto text = common::readFile(file);
  REQUIRE(text.ok());
  std::string t = *text;
  const auto line = t.find("\nhttp = ");
  REQUIRE(line != std::string::npos);
  const auto at = line + 1;
  t.erase(at, t.find('\n', at) - at);
  // A table must come after the top-level keys: at the end.
  t = http.rfind("[http]", 0) == 0 ? t + "\n" + http + "\n" : http + "\n" + t;
  REQUIRE(common::atomicWriteFile(file, t, 0640).ok());
  return file;
}

}  // namespace

TEST_CASE("http config: the shorthand serves the dashboard on loopback only", "[coordinator][config][http]") {
  testing::TempDir tmp;
  auto loop = coordinator::loadCoordinatorConfig(configWithHttp(tmp, "http = \"127.0.0.1:7780\""));
  REQUIRE(loop.ok());
  CHECK(loop->http.listen == "127.0.0.1:7780");
  CHECK(loop->http.dashboard);
  CHECK(loop->http.token.empty());

  testing::TempDir tmp2;
  auto wide = coordinator::loadCoordinatorConfig(configWithHttp(tmp2, "http = \"0.0.0.0:7780\""));
  REQUIRE(wide.ok());
  CHECK_FALSE(wide->http.dashboard);  // /metrics and /healthz as before, no dashboard

  testing::TempDir tmp3;
  auto named = coordinator::loadCoordinatorConfig(configWithHttp(tmp3, "http = \"127.example.com:7780\""));
  REQUIRE(named.ok());
  CHECK_FALSE(named->http.dashboard);  // a name, not a loopback address
}

TEST_CASE("http config: a table with a token file reads the token", "[coordinator][config][http]") {
  testing::TempDir tmp;
  const auto file =
      configWithHttp(tmp, "[http]\nlisten = \"0.0.0.0:7780\"\ntoken_file = \"dashboard.token\"\nmetrics_public = true");
  REQUIRE(common::atomicWriteFile(file.parent_path() / "dashboard.token", kToken + "\n", 0600).ok());
  auto c = coordinator::loadCoordinatorConfig(file);
  REQUIRE(c.ok());
  CHECK(c->http.token == kToken);
  CHECK(c->http.dashboard);
  CHECK(c->http.metrics_public);
}

TEST_CASE("http config: the dashboard on a non-loopback address without a token is refused",
          "[coordinator][config][http]") {
  testing::TempDir tmp;
  const auto file = configWithHttp(tmp, "[http]\nlisten = \"0.0.0.0:7780\"\ndashboard = true");
  auto c = coordinator::loadCoordinatorConfig(file);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == Errc::kInvalidArgument);
  CHECK(c.error().message.find(file.string()) != std::string::npos);
  CHECK(c.error().message.find("http.token_file") != std::string::npos);
}

TEST_CASE("http config: a short, missing or unknown token file or key is refused with the key",
          "[coordinator][config][http]") {
  testing::TempDir tmp;
  const auto file = configWithHttp(tmp, "[http]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"t\"");
  auto missing = coordinator::loadCoordinatorConfig(file);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("http.token_file") != std::string::npos);
  REQUIRE(common::atomicWriteFile(file.parent_path() / "t", "short\n", 0600).ok());
  auto shorter = coordinator::loadCoordinatorConfig(file);
  REQUIRE_FALSE(shorter.ok());
  CHECK(shorter.error().message.find("at least 32") != std::string::npos);

  testing::TempDir tmp2;
  auto unknown =
      coordinator::loadCoordinatorConfig(configWithHttp(tmp2, "[http]\nlisten = \"127.0.0.1:0\"\ntoken = \"x\""));
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message.find("http.token: unknown key") != std::string::npos);
}
