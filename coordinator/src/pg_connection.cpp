#include "pg_connection.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include <libpq-fe.h>

namespace flotilla::coordinator::pg {
namespace {

// SQLSTATE classes the store tells apart (PostgreSQL's errcodes appendix).
constexpr const char* kUniqueViolation = "23505";
constexpr const char* kReadOnlyTransaction = "25006";

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string formatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

Param::Param(double v) : value_(formatDouble(v)) {}

std::string redactUrl(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto start = scheme + 3;
  const auto at = url.find('@', start);
  const auto slash = url.find('/', start);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return url;
  const auto colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + url.substr(at);
}

PgRows::~PgRows() { PQclear(r_); }

PgRows& PgRows::operator=(PgRows&& o) noexcept {
  if (this != &o) {
    PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

int PgRows::size() const { return r_ ? PQntuples(r_) : 0; }
bool PgRows::isNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }

std::string PgRows::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

std::int64_t PgRows::i64(int row, int col) const {
  return isNull(row, col) ? 0 : std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
}

double PgRows::f64(int row, int col) const {
  // strtod reads PostgreSQL's "NaN", "Infinity" and "-Infinity" too.
  return isNull(row, col) ? 0 : std::strtod(PQgetvalue(r_, row, col), nullptr);
}

bool PgRows::flag(int row, int col) const { return !isNull(row, col) && PQgetvalue(r_, row, col)[0] == 't'; }

std::string PgRows::bytes(int row, int col) const {
  if (isNull(row, col)) return {};
  std::size_t n = 0;
  unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col)), &n);
  if (!raw) return {};
  std::string out(reinterpret_cast<const char*>(raw), n);
  PQfreemem(raw);
  return out;
}

std::int64_t PgRows::affected() const {
  const char* n = PQcmdTuples(r_);
  return (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
}

Result<std::unique_ptr<Connection>> Connection::open(const ConnectOptions& options) {
  const std::string display = redactUrl(options.url);
  // expand_dbname: `dbname` holds the whole URI; the keywords after it override its parts.
  std::vector<const char*> keys{"dbname", "application_name", "connect_timeout"};
  std::vector<const char*> values{options.url.c_str(), "flotilla-coordinator", "5"};
  if (!options.password.empty()) {
    keys.push_back("password");
    values.push_back(options.password.c_str());
  }
  if (options.read_only) {
    keys.push_back("options");
    values.push_back("-c default_transaction_read_only=on");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* c = PQconnectdbParams(keys.data(), values.data(), 1);
  if (!c) return Error(Errc::kIo, "connecting to " + display + ": out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = trimmed(PQerrorMessage(c));
    PQfinish(c);
    const bool missing = why.find("does not exist") != std::string::npos;
    return Error(missing ? Errc::kNotFound : Errc::kUnavailable, "connecting to " + display + ": " + why);
  }
  // Quiet NOTICEs (CREATE ... IF NOT EXISTS) instead of libpq printing them on stderr.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(c, display));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

bool Connection::inTransaction() const {
  const auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

bool Connection::transactionFailed() const { return PQtransactionStatus(conn_) == PQTRANS_INERROR; }

Status Connection::ensureConnected() {
  if (!broken()) return {};
  PQreset(conn_);
  if (broken())
    return Error(Errc::kUnavailable,
                 "store: PostgreSQL at " + display_url_ + " is unreachable: " + trimmed(PQerrorMessage(conn_)));
  return {};
}

Result<PgRows> Connection::exec(const std::string& what, const char* sql, std::initializer_list<Param> params) {
  return exec(what, sql, std::vector<Param>(params));
}

Result<PgRows> Connection::exec(const std::string& what, const char* sql, const std::vector<Param>& params) {
  FLOTILLA_TRY(ensureConnected());
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const auto& p : params) {
    values.push_back(p.null() ? nullptr : p.value().data());
    lengths.push_back(static_cast<int>(p.value().size()));
    formats.push_back(p.binary() ? 1 : 0);
  }
  PGresult* r = PQexecParams(conn_, sql, static_cast<int>(params.size()), nullptr, values.data(), lengths.data(),
                             formats.data(), 0);
  return checked(what, r);
}

Status Connection::script(const std::string& what, const char* sql) {
  FLOTILLA_TRY(ensureConnected());
  auto r = checked(what, PQexec(conn_, sql));
  if (!r) return r.error();
  return {};
}

Result<PgRows> Connection::checked(const std::string& what, PGresult* r) {
  PgRows rows(r);
  const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return rows;
  if (broken())
    return Error(Errc::kUnavailable, "store: " + what + ": the connection to PostgreSQL at " + display_url_ +
                                         " was lost (" + trimmed(PQerrorMessage(conn_)) +
                                         "); the next operation reconnects");
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string why = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  Errc code = Errc::kIo;
  if (state && std::strcmp(state, kUniqueViolation) == 0) code = Errc::kAlreadyExists;
  if (state && std::strcmp(state, kReadOnlyTransaction) == 0) code = Errc::kPermission;
  return Error(code, "store: " + what + ": " + why);
}

}  // namespace flotilla::coordinator::pg
