// What PgStore does beyond the store contract (store_contract.h runs that on
// it): a real PostgreSQL restarted or killing the store's backend, the
// read-only session, the schema version, and the artifacts kept in chunks.
#include "flotilla/coordinator/pg_store.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "flotilla/common/crypto.h"
#include "flotilla/coordinator/shared_artifacts.h"
#include "store_records.h"
#include "support/postgres.h"
#include "support/temp_dir.h"
#include "support/text_file.h"

using namespace store_records;  // NOLINT(google-build-using-namespace): the tests' vocabulary
using flotilla::Errc;
using flotilla::coordinator::openStore;
using flotilla::coordinator::PgStore;
using flotilla::testing::PostgresServer;

namespace {

// The test PostgreSQL, or nullptr after a WARN when it is not installed.
PostgresServer* server() {
  auto* s = flotilla::testing::testPostgres();
  if (!s) WARN("skipped: " << flotilla::testing::postgresUnavailableReason());
  return s;
}

std::string databaseOf(const std::string& url) { return url.substr(url.rfind('/') + 1); }

// Ends every backend the store opened in `url`'s database (as an operator's
// pg_terminate_backend would); returns how many.
int terminateStoreBackends(PostgresServer& pg, const std::string& url) {
  return std::stoi(
      pg.query("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
                               databaseOf(url) + "' AND application_name = 'flotilla-coordinator'"));
}

}  // namespace

TEST_CASE("pg store: what was committed is there after PostgreSQL restarts", "[coordinator][store][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = pg->createDatabase();
  auto store = valueOf(openStore({.url = url}));
  ok(store->upsertAgent(agent("a")));
  ok(store->insertRollout(rolloutRecord("r-1", "web", 1)));

  pg->stop();
  pg->start();

  // The open store's connection died with the server: the next operation says
  // so, and the one after reconnects.
  auto lost = store->loadAgents();
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().code == Errc::kUnavailable);
  CHECK(lost.error().message.find("lost") != std::string::npos);
  CHECK(valueOf(store->loadAgents()).size() == 1);

  auto reopened = valueOf(openStore({.url = url}));
  CHECK(valueOf(reopened->rollout("r-1")).has_value());
  CHECK(valueOf(reopened->nextSequence("web")) == 1);
}

TEST_CASE("pg store: a terminated backend gives a clear error, then the store reconnects",
          "[coordinator][store][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = pg->createDatabase();
  auto store = valueOf(openStore({.url = url}));
  ok(store->upsertAgent(agent("a")));
  REQUIRE(terminateStoreBackends(*pg, url) == 1);

  auto lost = store->loadAgents();
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().code == Errc::kUnavailable);
  CHECK(lost.error().message.find("connection to PostgreSQL") != std::string::npos);
  CHECK(lost.error().message.find("reconnects") != std::string::npos);

  CHECK(valueOf(store->loadAgents()).size() == 1);
  ok(store->upsertAgent(agent("b")));
  CHECK(valueOf(store->loadAgents()).size() == 2);
}

TEST_CASE("pg store: a unit of work whose backend is terminated reports its writes lost",
          "[coordinator][store][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = pg->createDatabase();
  auto store = valueOf(openStore({.url = url}));
  ok(store->begin());
  ok(store->upsertAgent(agent("a")));
  REQUIRE(terminateStoreBackends(*pg, url) == 1);

  // Writes after the loss do not autocommit on a fresh connection: the unit is gone.
  auto after = store->upsertAgent(agent("b"));
  REQUIRE_FALSE(after.ok());
  CHECK(after.error().code == Errc::kUnavailable);
  auto committed = store->commit();
  REQUIRE_FALSE(committed.ok());
  CHECK(committed.error().message.find("writes are lost") != std::string::npos);

  // The next unit works on a new connection, and nothing of the lost one stayed.
  ok(store->begin());
  ok(store->upsertAgent(agent("c")));
  ok(store->commit());
  auto agents = valueOf(store->loadAgents());
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].id == "c");
}

TEST_CASE("pg store: a read-only open makes no schema and refuses writes", "[coordinator][store][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = pg->createDatabase();
  auto refused = openStore({.url = url, .read_only = true});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::kNotFound);
  CHECK(pg->query(databaseOf(url), "SELECT to_regclass('schema_version') IS NULL") == "t");

  { auto writer = valueOf(openStore({.url = url})); }
  auto reader = valueOf(openStore({.url = url, .read_only = true}));
  auto st = reader->upsertAgent(agent("a"));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kPermission);
  CHECK(pg->query(databaseOf(url), "SELECT count(*) FROM agents") == "0");
}

TEST_CASE("pg store: a database at a newer schema version is refused and left alone",
          "[coordinator][store][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = pg->createDatabase();
  { auto writer = valueOf(openStore({.url = url})); }
  pg->query(databaseOf(url), "UPDATE schema_version SET version = 99");
  for (bool read_only : {false, true}) {
    auto s = openStore({.url = url, .read_only = read_only});
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == Errc::kConflict);
    CHECK(s.error().message.find("schema version 99") != std::string::npos);
  }
  CHECK(pg->query(databaseOf(url), "SELECT version FROM schema_version") == "99");
}

TEST_CASE("pg store: artifacts are kept whole in chunks and read back", "[coordinator][store][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = pg->createDatabase();
  flotilla::testing::TempDir dir;
  std::string bytes;
  for (std::size_t i = 0; i < 2 * PgStore::kArtifactChunkBytes + 1000; ++i) bytes.push_back(static_cast<char>(i * 7));
  const auto file = dir.write("artifact", bytes);

  auto store = valueOf(PgStore::open(url, ""));
  ok(store->putArtifact("d1", file));
  ok(store->putArtifact("d1", file));  // already there: left as it is
  CHECK(valueOf(store->artifactSize("d1")) == std::optional<std::uint64_t>(bytes.size()));
  CHECK(pg->query(databaseOf(url), "SELECT count(*) FROM artifact_chunks WHERE digest = 'd1'") == "3");
  CHECK_FALSE(valueOf(store->artifactSize("d2")).has_value());

  auto reader = valueOf(PgStore::openReadOnly(url, ""));
  std::string back;
  ok(reader->readArtifact("d1", [&](const std::string& chunk) {
    back += chunk;
    return flotilla::Status();
  }));
  CHECK(back == bytes);
  auto missing = reader->readArtifact("d2", [](const std::string&) { return flotilla::Status(); });
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::kNotFound);
  auto refused = reader->putArtifact("d3", file);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::kPermission);
}

TEST_CASE("pg store: shared artifacts published by one coordinator are copied, checked, by another",
          "[coordinator][store][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = pg->createDatabase();
  { auto writer = valueOf(openStore({.url = url})); }
  flotilla::testing::TempDir first, second;
  const std::string bytes(PgStore::kArtifactChunkBytes + 17, 'x');
  const auto digest = flotilla::common::blake2bHex(
      flotilla::common::Bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  const auto file = first.write(digest, bytes);

  CHECK(flotilla::coordinator::openSharedArtifacts({.file = "x.db"}) == nullptr);  // SQLite shares none
  auto a = flotilla::coordinator::openSharedArtifacts({.url = url});
  auto b = flotilla::coordinator::openSharedArtifacts({.url = url});
  REQUIRE(a);
  REQUIRE(b);
  ok(a->publish(digest, file));
  ok(b->fetchInto(digest, second.path()));
  CHECK(flotilla::testing::readFile(second.path() / digest) == bytes);

  auto missing = b->fetchInto(std::string(64, '0'), second.path());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::kNotFound);

  // A copy altered in the database is refused and leaves nothing behind.
  std::filesystem::remove(second.path() / digest);
  pg->query(databaseOf(url), "UPDATE artifact_chunks SET bytes = 'tampered' WHERE \"offset\" = 0");
  auto tampered = b->fetchInto(digest, second.path());
  REQUIRE_FALSE(tampered.ok());
  CHECK(tampered.error().code == Errc::kCorrupt);
  CHECK(std::filesystem::is_empty(second.path()));
}

TEST_CASE("pg store: host rows held in a unit whose backend is terminated are lost with it, none written",
          "[coordinator][store][postgres]") {
  auto* pg = server();
  if (!pg) return;
  const auto url = pg->createDatabase();
  auto store = valueOf(openStore({.url = url}));
  ok(store->begin());
  ok(store->insertRollout(rolloutRecord("r-1", "web", 100)));
  for (std::size_t i = 0; i < 3; ++i)
    ok(store->putRolloutHost(
        "r-1", RolloutHostRecord{i, "h" + std::to_string(i), 0, "pending", "", "", "", false, false, "", 0}));
  REQUIRE(terminateStoreBackends(*pg, url) == 1);

  auto committed = store->commit();
  REQUIRE_FALSE(committed.ok());
  CHECK(committed.error().message.find("lost") != std::string::npos);
  // Not written on the new connection either (no autocommit of a lost unit's rows).
  CHECK(valueOf(store->rolloutHosts("r-1")).empty());
  CHECK_FALSE(valueOf(store->rollout("r-1")).has_value());
}
