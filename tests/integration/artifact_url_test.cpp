// Artifacts from an HTTP store (docs/artifacts.md): a real coordinator, real
// agents and a real HTTP server on loopback. Agents download the artifact from
// the order's URL and check length and digest before extracting; the
// coordinator's artifact store never receives the bytes. A tampered, cut short
// or too slow download fails the order, is reported, and leaves the host on
// its previous release.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "flotilla/common/crypto.h"
#include "support/artifact_server.h"
#include "support/cluster.h"
#include "support/http_get.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kHosts = {"u1", "u2"};

std::size_t artifactFiles(Fleet& f) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(f.dir() / "coord/artifacts", ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

std::string sha256Of(const std::string& bytes) {
  flotilla::common::Sha256Hasher h;
  h.update(flotilla::common::asBytes(bytes));
  return h.finalHex();
}

// A plan for release `version` of web whose [artifact] table is `artifact_toml`.
fs::path urlPlan(Fleet& f, const std::string& version, const std::string& artifact_toml,
                 const std::string& waves = kOneWaveAllAtOnce) {
  const fs::path plan = f.writePlan("web", version, "PLACEHOLDER", waves);
  std::string text = readFile(plan);
  const std::string placeholder = "file = \"PLACEHOLDER\"\n";
  text.replace(text.find(placeholder), placeholder.size(), artifact_toml);
  std::ofstream(plan, std::ios::trunc) << text;
  return plan;
}

std::string shaPlanArtifact(const ArtifactServer& server, const std::string& path, const std::string& bytes) {
  return "url = \"" + server.url(path) + "\"\ndigest = \"sha256:" + sha256Of(bytes) +
         "\"\nlength = " + std::to_string(bytes.size()) + "\n";
}

// Rolls `plan` out, waits for it to end, and checks it failed with `why` in a
// host_failed event, every host still on `live`.
void expectRefused(Fleet& f, const fs::path& plan, const std::string& why, const std::string& live) {
  const std::string id = f.submit(plan);
  auto st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  CHECK(st.value("state", "") != "succeeded");
  // The first failure ends the wave (max_failed 0); a host whose order it stopped never moved either.
  CHECK(f.countEvents(id, "host_failed") >= 1);
  for (const auto& h : kHosts) {
    CHECK(f.liveRelease(h, "web") == live);
    CHECK(f.reportedRelease(h, "web") == live);
  }
  auto ev = f.findEvent(id, "host_failed", why);
  INFO(f.events(id).dump(2));
  CHECK(ev.has_value());
}

}  // namespace

TEST_CASE("agents deploy artifacts from an HTTP store and refuse bad downloads", "[integration][artifact_url]") {
  Fleet f;
  const int http_port = freeTcpPort();
  f.startCoordinator({"http = \"127.0.0.1:" + std::to_string(http_port) + "\""});
  for (const auto& h : kHosts) {
    f.initAgent(h);
    setTomlLine(f.agentDir(h) / "agent.toml", "fetch_timeout", "fetch_timeout = \"2s\"");
    // Two releases on disk: a rollback to an older one downloads it again.
    setTomlLine(f.agentDir(h) / "agent.toml", "keep_releases", "keep_releases = 2");
    f.startAgent(h);
  }
  REQUIRE(f.waitOnline(kHosts.size()));
  f.baseline("1.0");  // uploaded to the coordinator, as before
  const std::size_t stored = artifactFiles(f);
  ArtifactServer server;

  // A local copy: the console computes digest and length and uploads nothing.
  const fs::path v2 = f.makeRelease("2.0", true);
  server.serve("/web-2.0.tar", readFile(v2));
  const std::string id2 =
      f.submit(urlPlan(f, "2.0", "url = \"" + server.url("/web-2.0.tar") + "\"\nfile = \"" + v2.string() + "\"\n"));
  auto st2 = f.waitFinished(id2, 60s);
  INFO(st2.dump(2));
  REQUIRE(st2.value("state", "") == "succeeded");
  for (const auto& h : kHosts) CHECK(f.liveRelease(h, "web") == "2.0");
  CHECK(server.requests("/web-2.0.tar") >= static_cast<int>(kHosts.size()));
  CHECK(artifactFiles(f) == stored);
  CHECK_FALSE(fs::exists(f.dir() / "coord/artifacts" / flotilla::common::digestFile(v2)->digest));

  // The store's SHA-256 named in the plan: no local copy at all.
  const std::string v21 = readFile(f.makeRelease("2.1", true));
  server.serve("/web-2.1.tar", v21);
  const std::string id21 = f.submit(urlPlan(f, "2.1", shaPlanArtifact(server, "/web-2.1.tar", v21)));
  REQUIRE(f.waitFinished(id21, 60s).value("state", "") == "succeeded");
  for (const auto& h : kHosts) CHECK(f.liveRelease(h, "web") == "2.1");
  CHECK(artifactFiles(f) == stored);

  {  // a tampered artifact fails its digest check
    const std::string v3 = readFile(f.makeRelease("3.0", true));
    std::string tampered = v3;
    tampered[tampered.size() / 3] ^= 0x5a;
    server.serve("/web-3.0.tar", tampered);
    expectRefused(f, urlPlan(f, "3.0", shaPlanArtifact(server, "/web-3.0.tar", v3)), "digest mismatch", "2.1");
  }
  {  // a download cut short is refused as truncated
    const std::string v4 = readFile(f.makeRelease("4.0", true));
    server.serve("/web-4.0.tar", v4, ArtifactServer::Mode::kTruncated);
    expectRefused(f, urlPlan(f, "4.0", shaPlanArtifact(server, "/web-4.0.tar", v4)), "truncated", "2.1");
  }
  {                                          // a download slower than fetch_timeout fails cleanly
    const std::string slow(64 * 1024, 's');  // ~6.4 s at the server's trickle, fetch_timeout is 2 s
    server.serve("/web-5.0.tar", slow, ArtifactServer::Mode::kSlow);
    const auto start = std::chrono::steady_clock::now();
    expectRefused(f, urlPlan(f, "5.0", shaPlanArtifact(server, "/web-5.0.tar", slow)), "fetch_timeout", "2.1");
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    // The agents go on: the next good release deploys.
    const std::string v6 = readFile(f.makeRelease("6.0", true));
    server.serve("/web-6.0.tar", v6);
    const std::string id6 = f.submit(urlPlan(f, "6.0", shaPlanArtifact(server, "/web-6.0.tar", v6)));
    CHECK(f.waitFinished(id6, 60s).value("state", "") == "succeeded");
  }

  // Back to 2.0, pruned from the hosts: its orders name its URL again, from the release the coordinator kept.
  const int before = server.requests("/web-2.0.tar");
  auto back = f.console({"rollback", "web", "--to", "2.0"});
  REQUIRE(back.exit_code == 0);
  const std::string back_id = back.json["id"].get<std::string>();
  CHECK(f.waitFinished(back_id, 60s).value("state", "") == "succeeded");
  for (const auto& h : kHosts) CHECK(f.liveRelease(h, "web") == "2.0");
  CHECK(server.requests("/web-2.0.tar") >= before + static_cast<int>(kHosts.size()));
  CHECK(artifactFiles(f) == stored);

  // Each refused download is counted by its reason (the reactor publishes /metrics every second).
  const std::string metrics = "http://127.0.0.1:" + std::to_string(http_port) + "/metrics";
  std::string body;
  auto counted = [&body](const std::string& reason) {
    return body.find("flotilla_artifact_failures_total{reason=\"" + reason + "\"}") != std::string::npos;
  };
  waitUntil(
      [&] {
        body = httpGet(metrics).body;
        return counted("digest_mismatch") && counted("truncated") && counted("timeout");
      },
      10s, 200ms);
  INFO(body);
  CHECK(counted("digest_mismatch"));
  CHECK(counted("truncated"));
  CHECK(counted("timeout"));
}

TEST_CASE("an agent fetches https artifacts only from servers its fetch_ca_file vouches for",
          "[integration][artifact_url][tls]") {
  TempDir tls;
  if (!writeTestTls(tls.path())) {
    WARN("skipped: openssl cannot make a test CA");
    return;
  }
  Fleet f;
  f.startCoordinator();
  f.initAgent("t1");
  setTomlLine(f.agentDir("t1") / "agent.toml", "fetch_timeout",
              "fetch_timeout = \"10s\"\nfetch_ca_file = \"" + (tls.path() / "ca.pem").string() + "\"");
  f.startAgent("t1");
  f.initAgent("t2");  // trusts the system's CA store only
  f.startAgent("t2");
  REQUIRE(f.waitOnline(2));
  ArtifactServer server(tls.path() / "server.pem", tls.path() / "server.key");
  const std::string v1 = readFile(f.makeRelease("1.0", true));
  server.serve("/web-1.0.tar", v1);
  // One of the two hosts may fail: t1 keeps its release whatever t2 does.
  const std::string id = f.submit(urlPlan(f, "1.0", shaPlanArtifact(server, "/web-1.0.tar", v1),
                                          std::string(kOneWaveAllAtOnce) + "\nmax_failed = 1"));
  auto st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  CHECK(f.liveRelease("t1", "web") == "1.0");
  CHECK(f.liveRelease("t2", "web").empty());
  CHECK(f.countEvents(id, "host_failed", "t2") == 1);
  CHECK(f.findEvent(id, "host_failed", "not trusted").has_value());
  CHECK(server.requests("/web-1.0.tar") == 1);
}
