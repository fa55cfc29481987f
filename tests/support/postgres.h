#pragma once
// A real PostgreSQL 15 for tests of the PostgreSQL store: initdb in a
// temporary directory, the server on a free loopback port (trust
// authentication, no fsync), a new database per test, stopped (fast shutdown)
// and its directory removed when the test binary exits. PostgreSQL refuses to
// run as root, so as root the directory is given to the `postgres` user and
// the binaries run as that user (setpriv).
//
// One server per test binary run: testPostgres() starts it on first use. When
// the binaries are missing (PostgreSQL not installed), testPostgres() gives
// nullptr and unavailableReason() says why; tests WARN and skip.
//
// Not thread-safe: the test thread only.

#include <filesystem>
#include <memory>
#include <string>

#include "support/cluster.h"
#include "support/temp_dir.h"

namespace flotilla::testing {

class PostgresServer {
 public:
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // Creates a new empty database and returns its URL (postgresql://flotilla@127.0.0.1:PORT/NAME).
  std::string createDatabase();
  // A URL for a database name that does not exist.
  std::string urlOf(const std::string& database) const;
  // Runs one SQL statement as the superuser in `database`; returns the first
  // value of the first row ("" when none). Fails the test on an error.
  std::string query(const std::string& database, const std::string& sql) const;

  // Fast shutdown, and start again on the same directory and port.
  void stop();
  void start();
  bool running() const { return server_.pid() > 0 && stopped_ == false; }

 private:
  friend PostgresServer* testPostgres();
  PostgresServer();
  std::vector<std::string> asOwner(std::vector<std::string> argv) const;

  TempDir dir_{"flotilla-pg"};
  int port_ = 0;
  int next_db_ = 0;
  bool stopped_ = true;
  Process server_;
};

// The test binary's PostgreSQL, started on first use; nullptr when PostgreSQL is not installed.
PostgresServer* testPostgres();
// Why testPostgres() gave nullptr.
std::string postgresUnavailableReason();

}  // namespace flotilla::testing
