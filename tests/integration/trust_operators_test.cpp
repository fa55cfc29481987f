// Operators and keys end to end: the TCP control endpoint's operator
// allowlist, the IPC socket's mode, offline release keys, plan key rotation,
// and refused orders counted in /metrics.
#include <curl/curl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <regex>

#include "flotilla/common/crypto.h"
#include "support/cluster.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
namespace common = flotilla::common;

// ================================================================ 6. operators

namespace {
struct TcpControl {
  Fleet f;
  std::string endpoint;
  fs::path op_prefix;
  std::string op_pub;
  Process coord;

  TcpControl() {
    endpoint = "tcp://127.0.0.1:" + std::to_string(freeTcpPort());
    op_prefix = f.dir() / "op";
    auto k = runCommand({(binDir() / "coordinator/flotilla").string(), "keygen", "--operator", op_prefix.string()});
    INFO(k.out << k.err);
    REQUIRE(k.exit_code == 0);
    op_pub = trimmed(readFile(op_prefix.string() + ".pub"));
    const auto cfg = f.dir() / "coord/coordinator.toml";
    setTomlLine(cfg, "endpoint", "endpoint = '" + endpoint + "'");
    setTomlLine(cfg, "operators", "operators = [\"" + op_pub + "\"]");
    coord = Process({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config", cfg.string(),
                     "--log-level", "debug"},
                    f.dir() / "coordinator.log");
    REQUIRE(waitUntil([&] { return console({"agents"}).exit_code == 0; }, 20s));
  }
  CommandResult console(const std::vector<std::string>& args, const std::string& key = "",
                        std::chrono::milliseconds timeout = 30s) {
    std::vector<std::string> argv{(binDir() / "coordinator/flotilla").string(),
                                  "--control",
                                  endpoint,
                                  "--json",
                                  "--timeout",
                                  "2",
                                  "--coordinator-key",
                                  trimmed(readFile(f.dir() / "coord/keys/curve.pub"))};
    argv.push_back("--key");
    argv.push_back(key.empty() ? op_prefix.string() + ".key" : key);
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, timeout);
  }
};
}  // namespace

TEST_CASE("operators: an allowlisted key works and its actions name the key", "[integration][trust]") {
  TcpControl t;
  // A real agent, started by hand (Fleet::startAgent needs no coordinator console).
  t.f.startAgent("h0");
  REQUIRE(waitUntil(
      [&] {
        auto r = t.console({"agents"});
        return r.exit_code == 0 && r.json["agents"].size() == 1 && r.json["agents"][0]["state"] == "online";
      },
      20s));
  auto plan = t.f.writePlan("web", "1", t.f.makeRelease("1", true), kOneWaveAllAtOnce);
  auto r = t.console({"rollout", plan.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto id = r.json["id"].get<std::string>();
  std::string key_id;
  {
    auto pub = common::publicKeyFromHex(t.op_pub);
    REQUIRE(pub.ok());
    key_id = common::keyId(*pub);
  }
  CHECK(r.json.value("submitted_by", "").find("operator:" + key_id) != std::string::npos);
  bool named = false;
  waitUntil(
      [&] {
        auto ev = t.console({"events", id});
        for (const auto& e : ev.json.value("events", json::array()))
          if (e["actor"].is_string() && e["actor"].get<std::string>().find("operator:" + key_id) != std::string::npos)
            named = true;
        return named;
      },
      10s);
  // An operator action after submission is recorded with the key id too.
  auto p = t.console({"pause", id});
  INFO(p.out << p.err);
  auto h = t.console({"history"});
  INFO(h.out);
  CHECK(h.exit_code == 0);
  CHECK(named);
}

TEST_CASE("operators: an unknown operator key is told the coordinator refused it", "[integration][trust]") {
  TcpControl t;
  auto other = t.f.dir() / "intruder";
  REQUIRE(
      runCommand({(binDir() / "coordinator/flotilla").string(), "keygen", "--operator", other.string()}).exit_code ==
      0);
  auto pub = common::publicKeyFromHex(trimmed(readFile(other.string() + ".pub")));
  REQUIRE(pub.ok());
  auto r = t.console({"agents"}, other.string() + ".key");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  const std::string message = r.json["error"].value("message", "");
  CHECK(message.find("refused operator key " + common::keyId(*pub)) != std::string::npos);
  CHECK(message.find("unreachable") == std::string::npos);
  CHECK(t.coord.running());
  CHECK(t.console({"agents"}).exit_code == 0);
}

TEST_CASE("operators: no key at all on a TCP endpoint is a usage error", "[integration][trust]") {
  TcpControl t;
  auto r = runCommand(
      {(binDir() / "coordinator/flotilla").string(), "--control", t.endpoint, "--json", "--timeout", "2", "agents"},
      30s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 2);
  CHECK(!(r.out + r.err).empty());
  CHECK(t.coord.running());
}

TEST_CASE("operators: the IPC control socket is mode 0660", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  struct stat st {};
  REQUIRE(::stat((f.dir() / "coord/control.sock").c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0660);
}

// ================================================================ 7. release keys end to end

TEST_CASE("release keys: an unsigned plan is refused, a signed one deploys", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  const auto rk = f.dir() / "R";
  REQUIRE(runCommand({(binDir() / "coordinator/flotilla").string(), "keygen", "--release", rk.string()}).exit_code ==
          0);
  f.initAgent({"h0"});
  setTomlLine(f.agentDir("h0") / "agent.toml", "release_keys",
              "release_keys = [\"" + trimmed(readFile(rk.string() + ".pub")) + "\"]");
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));

  auto plan = f.writePlan("web", "1", f.makeRelease("1", true), kOneWaveAllAtOnce);
  auto id = f.submit(plan);
  auto st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  CHECK(st["state"] != "succeeded");
  CHECK(f.findEvent(id, "", "unsigned_release"));
  CHECK(f.liveRelease("h0", "web") == "");

  auto s = runCommand(
      {(binDir() / "coordinator/flotilla").string(), "--json", "sign", plan.string(), "--key", rk.string() + ".key"});
  INFO(s.out << s.err);
  REQUIRE(s.exit_code == 0);
  auto sig_file = s.json["signature_file"].get<std::string>();
  std::string text = readFile(plan);
  auto pos = text.find("[artifact]\n");
  REQUIRE(pos != std::string::npos);
  text.insert(pos + 11, "signature = \"" + sig_file + "\"\n");
  auto plan2 = f.dir() / "web-1-signed.toml";
  std::ofstream(plan2) << text;
  auto id2 = f.submit(plan2);
  auto st2 = f.waitFinished(id2, 60s);
  INFO(st2.dump(2));
  CHECK(st2["state"] == "succeeded");
  CHECK(f.liveRelease("h0", "web") == "1");
}

// ================================================================ 8. plan key rotation

TEST_CASE("plan key rotation: agents follow the chain after a restart", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  f.baseline("1");
  f.stopCoordinator();
  auto r = runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "rotate-plan-key", "--config",
                       (f.dir() / "coord/coordinator.toml").string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const std::string new_pub = trimmed(readFile(f.dir() / "coord/keys/plan.pub"));
  f.startCoordinator();
  REQUIRE(f.waitOnline(1));
  f.baseline("2");
  CHECK(f.liveRelease("h0", "web") == "2");
  std::string pinned = readFile(f.agentDir("h0") / "state/plan_key");
  CHECK(pinned.find(new_pub) != std::string::npos);
}

// ================================================================ more: refusal counter, liveness of refused peers

namespace {
std::size_t collectBody(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string httpGet(const std::string& url) {
  std::string body;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_perform(c);
  curl_easy_cleanup(c);
  return body;
}
}  // namespace

TEST_CASE("a refused order is counted in /metrics by reason", "[integration][trust]") {
  Fleet f;
  const int port = freeTcpPort();
  f.startCoordinator({"http = \"127.0.0.1:" + std::to_string(port) + "\""});
  auto rk = common::generateSigningKeyPair();
  f.initAgent({"h0"});
  setTomlLine(f.agentDir("h0") / "agent.toml", "release_keys",
              "release_keys = [\"" + common::toHex(rk.public_key) + "\"]");
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  auto id = f.rollOut("1");
  auto st = f.waitFinished(id, 60s);
  CHECK(st["state"] != "succeeded");
  CHECK(f.findEvent(id, "", "unsigned_release"));
  std::string body;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  waitUntil(
      [&] {
        body = httpGet(url);
        return body.find("flotilla_order_refusals_total{") != std::string::npos;
      },
      8s, 200ms);
  INFO(body);
  CHECK(body.find("flotilla_order_refusals_total{reason=\"unsigned_release\"} 1") != std::string::npos);
  CHECK(f.agentRunning("h0"));
  CHECK(f.agentState("h0") == "online");
}
