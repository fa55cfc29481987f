#include "support/postgres.h"

#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>

#include <libpq-fe.h>
#include <catch2/catch.hpp>

namespace flotilla::testing {
namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
constexpr const char* kSuperuser = "flotilla";
constexpr const char* kSetpriv = "/usr/bin/setpriv";

std::string& unavailable() {
  static std::string why;
  return why;
}

std::string binary(const char* name) { return std::string(kBinDir) + "/" + name; }

}  // namespace

PostgresServer::PostgresServer() {
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw) throw std::runtime_error("running as root and there is no postgres user to run PostgreSQL as");
    if (::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("cannot give " + dir_.path().string() + " to the postgres user");
  }
  auto init = runCommand(asOwner({binary("initdb"), "-D", (dir_.path() / "data").string(), "-U", kSuperuser,
                                  "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"}));
  if (init.exit_code != 0) throw std::runtime_error("initdb failed: " + init.out + init.err);
  port_ = freeTcpPort();
  start();
}

PostgresServer::~PostgresServer() { stop(); }

std::vector<std::string> PostgresServer::asOwner(std::vector<std::string> argv) const {
  const bool root = ::geteuid() == 0;
  if (!root && !std::filesystem::exists(kSetpriv)) return argv;
  // setpriv execs in place (the pid stays the server's); --pdeathsig ends the
  // server with a fast shutdown should the test binary die without stopping it.
  std::vector<std::string> out{kSetpriv, "--pdeathsig", "INT"};
  if (root) out.insert(out.end(), {"--reuid=postgres", "--regid=postgres", "--init-groups"});
  out.push_back("--");
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

void PostgresServer::start() {
  if (!stopped_) return;
  server_ = Process(asOwner({binary("postgres"), "-D", (dir_.path() / "data").string(), "-p", std::to_string(port_),
                             "-k", dir_.path().string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                             "full_page_writes=off", "-c", "max_connections=200"}),
                    dir_.path() / "postgres.log");
  stopped_ = false;
  const std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + kSuperuser + " dbname=postgres connect_timeout=2";
  const bool up = waitUntil([&] { return PQping(conninfo.c_str()) == PQPING_OK; }, std::chrono::seconds(60),
                            std::chrono::milliseconds(100));
  if (!up)
    throw std::runtime_error("PostgreSQL did not accept connections; see " + (dir_.path() / "postgres.log").string());
}

void PostgresServer::stop() {
  if (stopped_) return;
  server_.stop(SIGINT);  // fast shutdown: ends sessions, checkpoints, exits
  stopped_ = true;
}

std::string PostgresServer::urlOf(const std::string& database) const {
  return std::string("postgresql://") + kSuperuser + "@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PostgresServer::createDatabase() {
  const std::string name = "flotilla_test_" + std::to_string(++next_db_);
  query("postgres", "CREATE DATABASE " + name);
  return urlOf(name);
}

std::string PostgresServer::query(const std::string& database, const std::string& sql) const {
  PGconn* c = PQconnectdb(urlOf(database).c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    PQfinish(c);
    FAIL("connecting to the test PostgreSQL: " << why);
  }
  PGresult* r = PQexec(c, sql.c_str());
  const auto status = PQresultStatus(r);
  std::string out;
  std::string why = PQresultErrorMessage(r);
  if (status == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
  PQclear(r);
  PQfinish(c);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) FAIL(sql << ": " << why);
  return out;
}

PostgresServer* testPostgres() {
  static std::unique_ptr<PostgresServer> server;
  static bool tried = false;
  if (tried) return server.get();
  tried = true;
  if (!std::filesystem::exists(binary("postgres")) || !std::filesystem::exists(binary("initdb"))) {
    unavailable() =
        std::string("PostgreSQL 15 is not installed (no ") + kBinDir + "/postgres; scripts/bootstrap.sh installs it)";
    return nullptr;
  }
  try {
    server.reset(new PostgresServer());
  } catch (const std::exception& e) {
    unavailable() = e.what();
  }
  return server.get();
}

std::string postgresUnavailableReason() { return unavailable(); }

}  // namespace flotilla::testing
