// A coordinator on a real PostgreSQL (store.url, docs/postgresql.md): a
// rollout with real agents succeeds, and after a restart with the SQLite
// file and the artifacts directory gone, the history is still there and a host
// joining later is brought to the release from the artifact kept in PostgreSQL.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/cluster.h"
#include "support/postgres.h"
#include "support/text_file.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Adds store.url to the fleet's coordinator.toml.
void useStore(Fleet& f, const std::string& url) {
  const auto cfg = f.dir() / "coord/coordinator.toml";
  std::string text = readFile(cfg);
  const auto at = text.find("[store]\n");
  REQUIRE(at != std::string::npos);
  text.insert(at + 8, "url = \"" + url + "\"\n");
  std::ofstream(cfg) << text;
}

void acceptAgent(Fleet& f, const std::string& id) {
  // The join token lives in the SQLite store init made, not in PostgreSQL.
  REQUIRE(waitUntil([&] { return f.console({"agents", "accept", id}).exit_code == 0; }, 20s));
}

}  // namespace

TEST_CASE("a coordinator on PostgreSQL rolls out, and keeps history and artifacts across a restart",
          "[integration][store][postgres]") {
  auto* pg = testPostgres();
  if (!pg) {
    WARN("skipped: " << postgresUnavailableReason());
    return;
  }
  Fleet f;
  useStore(f, pg->createDatabase());
  f.startCoordinator();
  for (const char* id : {"h0", "h1"}) {
    f.startAgent({id});
    acceptAgent(f, id);
  }
  REQUIRE(f.waitOnline(2));
  auto submitted =
      f.console({"rollout", f.writePlan("web", "1", f.makeRelease("1", true), kOneWaveAllAtOnce).string()});
  INFO(submitted.out << submitted.err);
  REQUIRE(submitted.exit_code == 0);
  const std::string id = submitted.json["id"];
  REQUIRE(f.waitFinished(id)["state"] == "succeeded");
  CHECK(f.liveRelease("h0", "web") == "1");
  CHECK(f.liveRelease("h1", "web") == "1");

  // Nothing of the record or the artifact is left on this machine's disk.
  f.stopCoordinator();
  fs::remove(f.dir() / "coord/flotilla.db");
  for (const auto& e : fs::directory_iterator(f.dir() / "coord/artifacts")) fs::remove_all(e.path());
  f.startCoordinator();

  auto hist = f.console({"history"});
  INFO(hist.out << hist.err);
  REQUIRE(hist.exit_code == 0);
  CHECK(hist.out.find(id) != std::string::npos);
  CHECK(f.status(id)["state"] == "succeeded");

  // A host that joins now converges to release 1, served from PostgreSQL.
  f.startAgent({"h2"});
  acceptAgent(f, "h2");
  CHECK(waitUntil([&] { return f.liveRelease("h2", "web") == "1"; }, 60s));
  CHECK_FALSE(fs::is_empty(f.dir() / "coord/artifacts"));  // copied back from PostgreSQL
}
