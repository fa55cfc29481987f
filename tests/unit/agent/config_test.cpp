// agent.toml: the keys that bound an order (clock_skew, max_artifact_bytes) and artifact downloads
// are read, and a bad value names the file, the line and the key.
#include "flotilla/agent/config.h"

#include <catch2/catch.hpp>

#include <string>

#include "support/temp_dir.h"

using flotilla::agent::loadAgentConfig;
using flotilla::testing::TempDir;

namespace {

// A complete agent.toml with `extra` lines at its top level (and the
// [coordinator] endpoint line `endpoint_line`, line 5 when `extra` is empty).
std::filesystem::path writeConfig(const TempDir& dir, const std::string& extra,
                                  const std::string& endpoint_line = "endpoint = \"tcp://127.0.0.1:7700\"") {
  const std::string key(64, 'a');
  std::filesystem::create_directories(dir.path() / "keys");
  std::filesystem::permissions(dir.write("keys/agent.key", std::string(64, '1') + "\n"),
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const std::string text = "id = \"h0\"\napps_dir = \"apps\"\n" + extra + "\n[coordinator]\n" + endpoint_line +
                           "\ncurve_key = \"" + key + "\"\nplan_key = \"" + key + "\"\n";
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

TEST_CASE("agent config: [flags] listen is off by default and loopback only", "[agent][config][flags]") {
  TempDir none;
  auto off = loadAgentConfig(writeConfig(none, ""));
  REQUIRE(off.ok());
  CHECK_FALSE(off->flags_listen);

  TempDir v4;
  auto on = loadAgentConfig(writeConfig(v4, "[flags]\nlisten = \"127.0.0.1:8013\""));
  INFO((on ? std::string() : on.error().message));
  REQUIRE(on.ok());
  REQUIRE(on->flags_listen);
  CHECK(on->flags_listen->host == "127.0.0.1");
  CHECK(on->flags_listen->port == 8013);

  TempDir v6;
  auto six = loadAgentConfig(writeConfig(v6, "[flags]\nlisten = \"[::1]:8013\""));
  REQUIRE(six.ok());
  CHECK(six->flags_listen->host == "::1");

  for (const char* bad :
       {"0.0.0.0:8013", "10.1.2.3:8013", "example.com:8013", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999"}) {
    TempDir dir;
    auto refused = loadAgentConfig(writeConfig(dir, std::string("[flags]\nlisten = \"") + bad + "\""));
    INFO(bad);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("agent.toml:4") && Catch::Contains("flags.listen"));
  }
  TempDir typo;
  auto unknown = loadAgentConfig(writeConfig(typo, "[flags]\nlisen = \"127.0.0.1:8013\""));
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(unknown.error().message, Catch::Contains("flags.lisen: unknown key"));
}

TEST_CASE("agent config: coordinator.endpoint is one endpoint or a list of them, in order", "[agent][config][ha]") {
  TempDir one;
  auto single = loadAgentConfig(writeConfig(one, "", "endpoint = \"tcp://127.0.0.1:7700\""));
  INFO((single ? std::string() : single.error().message));
  REQUIRE(single.ok());
  CHECK(single->coordinator_endpoints == std::vector<std::string>{"tcp://127.0.0.1:7700"});

  TempDir two;
  auto list = loadAgentConfig(writeConfig(two, "", "endpoint = [\"tcp://10.0.0.1:7700\", \"tcp://10.0.0.2:7700\"]"));
  INFO((list ? std::string() : list.error().message));
  REQUIRE(list.ok());
  CHECK(list->coordinator_endpoints == std::vector<std::string>{"tcp://10.0.0.1:7700", "tcp://10.0.0.2:7700"});
}

TEST_CASE("agent config: a bad endpoint list names the file, line, column and key", "[agent][config][ha]") {
  struct Case {
    std::string line;
    std::string where;
    std::string says;
  };
  const Case cases[] = {
      {"endpoint = []", "agent.toml:5:12", "coordinator.endpoint: is empty"},
      {"endpoint = [\"tcp://a:1\", 7]", "agent.toml:5:26", "coordinator.endpoint: expected an endpoint"},
      {"endpoint = [\"tcp://a:1\", \"tcp://a:1\"]", "agent.toml:5:26", "'tcp://a:1': listed twice"},
      {"endpoint = [\"tcp://a:1\", \"udp://b:1\"]", "agent.toml:5:26",
       "'udp://b:1': expected tcp://HOST:PORT or ipc://PATH"},
      {"endpoint = 7700", "agent.toml:5:12", "coordinator.endpoint: expected an endpoint"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    auto r = loadAgentConfig(writeConfig(dir, "", c.line));
    INFO(c.line);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains(c.where) && Catch::Contains(c.says));
  }
}

TEST_CASE("agent config: coordinator.link_timeout is read, and a bad one names file, line and key",
          "[agent][config][ha]") {
  TempDir none;
  auto defaults = loadAgentConfig(writeConfig(none, ""));
  REQUIRE(defaults.ok());
  CHECK_FALSE(defaults->link_timeout.has_value());

  TempDir set;
  auto c = loadAgentConfig(writeConfig(set, "", "endpoint = \"tcp://127.0.0.1:7700\"\nlink_timeout = \"6s\""));
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->link_timeout == std::chrono::milliseconds(6000));

  const std::pair<std::string, std::string> bad[] = {
      {"link_timeout = \"1s\"", "agent.toml:6:16: coordinator.link_timeout: 1s is outside 2s-10m"},
      {"link_timeout = \"1h\"", "agent.toml:6:16: coordinator.link_timeout: 1h is outside 2s-10m"},
      {"link_timeout = \"soon\"", "agent.toml:6:16: coordinator.link_timeout:"},
      {"link_timeout = 10", "coordinator.link_timeout"},
  };
  for (const auto& [line, says] : bad) {
    TempDir dir;
    auto r = loadAgentConfig(writeConfig(dir, "", "endpoint = \"tcp://127.0.0.1:7700\"\n" + line));
    INFO(line);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains(says));
  }
}

TEST_CASE("agent config: fetch_proxy and fetch_ca_file for artifact URLs", "[agent][config][artifact_url]") {
  TempDir none;
  auto defaults = loadAgentConfig(writeConfig(none, ""));
  REQUIRE(defaults.ok());
  CHECK_FALSE(defaults->fetch_proxy.has_value());
  CHECK(defaults->fetch_ca_file.empty());

  TempDir set;
  set.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  auto c = loadAgentConfig(writeConfig(set, "fetch_proxy = \"http://proxy:3128\"\nfetch_ca_file = \"ca.pem\""));
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->fetch_proxy == std::string("http://proxy:3128"));
  CHECK(c->fetch_ca_file == set.path() / "ca.pem");

  TempDir off;
  auto direct = loadAgentConfig(writeConfig(off, "fetch_proxy = \"\""));
  REQUIRE(direct.ok());
  CHECK(direct->fetch_proxy == std::string());

  TempDir bad;
  auto proxy = loadAgentConfig(writeConfig(bad, "fetch_proxy = \"socks5://p:1080\""));
  REQUIRE_FALSE(proxy.ok());
  CHECK_THAT(proxy.error().message, Catch::Contains("agent.toml:3") && Catch::Contains("fetch_proxy"));
  TempDir missing;
  auto ca = loadAgentConfig(writeConfig(missing, "fetch_ca_file = \"nowhere.pem\""));
  REQUIRE_FALSE(ca.ok());
  CHECK_THAT(ca.error().message,
             Catch::Contains("agent.toml:3") && Catch::Contains("fetch_ca_file") && Catch::Contains("nowhere.pem"));
}
