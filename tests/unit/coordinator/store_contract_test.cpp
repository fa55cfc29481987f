// The Store contract suite (store_contract.h), run against each implementation:
// SQLite, and PostgreSQL on a real server the test binary starts.

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "flotilla/coordinator/store.h"
#include "support/postgres.h"
#include "support/temp_dir.h"

namespace {

// A SqliteStore in a file of its own, opened through openStore() as the coordinator does.
struct SqliteStoreFixture {
  flotilla::testing::TempDir dir{"flotilla-store"};
  std::filesystem::path file = dir.path() / "coordinator.db";

  flotilla::Result<std::unique_ptr<flotilla::coordinator::Store>> open(bool read_only = false) {
    return flotilla::coordinator::openStore({.file = file, .read_only = read_only});
  }
};

// A PgStore in a new database of the test PostgreSQL (support/postgres.h),
// opened through openStore() with store.url as the coordinator does. Where
// PostgreSQL is not installed, the case WARNs and runs on SQLite instead.
struct PgStoreFixture {
  flotilla::testing::PostgresServer* server = flotilla::testing::testPostgres();
  std::string url = server ? server->createDatabase() : std::string();
  SqliteStoreFixture fallback;

  PgStoreFixture() {
    if (!server) WARN("PostgreSQL store contract ran on SQLite: " << flotilla::testing::postgresUnavailableReason());
  }
  flotilla::Result<std::unique_ptr<flotilla::coordinator::Store>> open(bool read_only = false) {
    if (!server) return fallback.open(read_only);
    return flotilla::coordinator::openStore({.url = url, .read_only = read_only});
  }
};

}  // namespace

#define STORE_CONTRACT_FIXTURES SqliteStoreFixture, PgStoreFixture

#include "store_contract.h"
