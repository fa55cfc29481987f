// A console that stops following a rollout stops costing the coordinator
// anything: it is no longer a watcher once it is gone.
#include <signal.h>

#include <catch2/catch.hpp>

#include "support/cluster.h"
#include "support/http_get.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;

namespace {

std::string scrape(int port) { return httpGet("http://127.0.0.1:" + std::to_string(port) + "/metrics").body; }

bool watchers(int port, int n) {
  return scrape(port).find("\nflotilla_watchers " + std::to_string(n) + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("a console killed while watching a manual-approval rollout stops being a watcher", "[integration][watch]") {
  Fleet f;
  const int port = freeTcpPort();
  f.startCoordinator({"http = \"127.0.0.1:" + std::to_string(port) + "\""});
  f.startAgent({"h0"});
  f.startAgent({"h1"});
  REQUIRE(f.waitOnline(2));
  auto plan = f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [1, \"100%\"]\napproval = \"manual\"");
  const std::string id = f.submit(plan);
  REQUIRE(waitUntil([&] { return f.status(id)["waves"][1]["state"] == "awaiting_approval"; }, 30s));
  REQUIRE(waitUntil([&] { return watchers(port, 0); }, 10s, 200ms));

  Process console(
      {(binDir() / "coordinator/flotilla").string(), "--control", f.controlEndpoint(), "--json", "watch", id},
      f.dir() / "watch.log");
  REQUIRE(waitUntil([&] { return watchers(port, 1); }, 15s, 200ms));
  console.stop(SIGKILL);
  // The rollout still awaits approval; its departed watcher is dropped at the next push.
  CHECK(waitUntil([&] { return watchers(port, 0); }, 15s, 200ms));
  CHECK(f.status(id)["waves"][1]["state"] == "awaiting_approval");
  REQUIRE(f.console({"promote", id}).exit_code == 0);
  CHECK(f.waitFinished(id)["state"] == "succeeded");
}
