// Store faults with a real file system: the coordinator's SQLite store on a
// small tmpfs that the test fills up, and one mounted read-only. Needs root
// (mount(2)); elsewhere the cases say why and do nothing.
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "support/cluster.h"
#include "support/small_disk.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool canMount(const SmallDisk& d) {
  if (::geteuid() != 0 || !d.error().empty()) {
    WARN("skipped: needs root to mount a tmpfs for the store (" << (d.error().empty() ? "not root" : d.error()) << ")");
    return false;
  }
  return true;
}

std::string integrityCheck(const fs::path& db_file) {
  sqlite3* db = nullptr;
  std::string out = "cannot open";
  if (sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return out;
}

void acceptAgent(Fleet& f, const std::string& id) {
  REQUIRE(waitUntil([&] { return f.console({"agents", "accept", id}).exit_code == 0; }, 20s));
}

}  // namespace

TEST_CASE("a full disk refuses new rollouts with the store's error and loses nothing", "[integration][fault][store]") {
  Fleet f;
  SmallDisk disk(f.dir() / "storefs", "4m");
  if (!canMount(disk)) return;
  const auto db = disk.path() / "flotilla.db";
  f.startCoordinator({"store.file = \"" + db.string() + "\""});
  f.startAgent({"h0"});
  acceptAgent(f, "h0");  // the join token lives in the store init made, not in this one
  REQUIRE(f.waitOnline(1));
  auto first = f.console({"rollout", f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]").string()});
  REQUIRE(first.exit_code == 0);
  const std::string id1 = first.json["id"];
  REQUIRE(f.waitFinished(id1)["state"] == "succeeded");

  const auto filler = disk.fill();
  // A plan with a large comment: storing it needs room the disk no longer has.
  auto plan = f.writePlan("web", "2", f.makeRelease("2", true), "sizes = [\"100%\"]");
  {
    std::ofstream out(plan, std::ios::app);
    for (int i = 0; i < 8000; ++i) out << "# padding padding padding padding padding padding padding padding\n";
  }
  auto refused = f.console({"rollout", plan.string()});
  INFO(refused.out << refused.err);
  CHECK(refused.exit_code != 0);
  const std::string msg = refused.json["error"].value("message", "");
  CHECK(msg.find("store") != std::string::npos);
  CHECK(msg.find("full") != std::string::npos);
  CHECK(f.liveRelease("h0", "web") == "1");  // nothing was sent
  // The coordinator is still up and still answers from what it stored.
  auto hist = f.console({"history"});
  REQUIRE(hist.exit_code == 0);
  CHECK(f.status(id1)["state"] == "succeeded");

  // Room again: the next rollout goes through.
  fs::remove(filler);
  auto again = f.console({"rollout", plan.string()});
  INFO(again.out << again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(f.waitFinished(again.json["id"])["state"] == "succeeded");
  CHECK(f.liveRelease("h0", "web") == "2");
  f.stopCoordinator();
  CHECK(integrityCheck(db) == "ok");
}

TEST_CASE("a store on a read-only file system stops the coordinator with a clear error",
          "[integration][fault][store]") {
  Fleet f;
  SmallDisk disk(f.dir() / "storefs", "2m");
  if (!canMount(disk)) return;
  const auto db = disk.path() / "flotilla.db";
  f.startCoordinator({"store.file = \"" + db.string() + "\""});
  f.startAgent({"h0"});
  acceptAgent(f, "h0");  // the join token lives in the store init made, not in this one
  REQUIRE(f.waitOnline(1));
  const std::string id =
      f.console({"rollout", f.writePlan("web", "1", f.makeRelease("1", true), "sizes = [\"100%\"]").string()})
          .json["id"];
  REQUIRE(f.waitFinished(id)["state"] == "succeeded");
  f.stopCoordinator();
  REQUIRE(disk.remount(MS_RDONLY));
  auto run = runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config",
                         (f.dir() / "coord/coordinator.toml").string()},
                        20s);
  INFO(run.out << run.err);
  CHECK(run.exit_code != 0);
  CHECK(run.err.find(db.string()) != std::string::npos);
  CHECK(run.err.find("read-only") != std::string::npos);
  // Writable again: it starts on the same store with everything in it.
  REQUIRE(disk.remount(0));
  CHECK(integrityCheck(db) == "ok");
  f.startCoordinator();
  REQUIRE(f.waitOnline(1, 30s));
  CHECK(f.status(id)["state"] == "succeeded");
}
