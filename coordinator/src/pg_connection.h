#pragma once
// A small RAII layer over libpq for the PostgreSQL store (pg_store.h): one
// connection (PGconn) and the results of its queries (PGresult), owned and
// freed here. Every query is parameterised (PQexecParams): values travel apart
// from the SQL text, text values in text format and blobs (bytea) in binary
// format, so no value is ever spliced into SQL. Results come back in text
// format; bytea columns are unescaped by PgRows::bytes.
//
// A connection that the server drops (restart, pg_terminate_backend, network)
// fails the query in flight with a kUnavailable error that says so; the next
// query resets the connection first (PQreset) and reports again if the server
// is still unreachable. Connecting blocks the calling thread for at most 5 s
// (connect_timeout) when the server cannot be reached at all. What happens to a transaction the drop interrupted is
// the caller's business (PgStore reports its writes as lost).
//
// Private to the coordinator library. Used by one thread at a time.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/result.h"

struct pg_conn;
struct pg_result;

namespace flotilla::coordinator::pg {

// One query parameter: NULL, text, or binary bytes (bytea).
class Param {
 public:
  Param(std::nullptr_t) : null_(true) {}                 // NOLINT: implicit by design
  Param(std::string text) : value_(std::move(text)) {}   // NOLINT
  Param(const char* text) : value_(text) {}              // NOLINT
  Param(std::int64_t v) : value_(std::to_string(v)) {}   // NOLINT
  Param(int v) : value_(std::to_string(v)) {}            // NOLINT
  Param(std::uint64_t v) : value_(std::to_string(v)) {}  // NOLINT
  Param(double v);                                       // NOLINT: NaN and infinities as PostgreSQL spells them
  static Param bytes(std::string data) {
    Param p(std::move(data));
    p.binary_ = true;
    return p;
  }
  static Param flag(bool b) { return Param(b ? "true" : "false"); }

  bool null() const { return null_; }
  bool binary() const { return binary_; }
  const std::string& value() const { return value_; }

 private:
  std::string value_;
  bool null_ = false;
  bool binary_ = false;
};

// The rows a query returned (owns the PGresult).
class PgRows {
 public:
  explicit PgRows(pg_result* r) : r_(r) {}
  ~PgRows();
  PgRows(PgRows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgRows& operator=(PgRows&& o) noexcept;
  PgRows(const PgRows&) = delete;
  PgRows& operator=(const PgRows&) = delete;

  int size() const;
  bool isNull(int row, int col) const;
  std::string text(int row, int col) const;
  std::int64_t i64(int row, int col) const;
  double f64(int row, int col) const;
  bool flag(int row, int col) const;          // boolean column
  std::string bytes(int row, int col) const;  // bytea column, unescaped
  // Rows changed by an INSERT/UPDATE/DELETE without RETURNING.
  std::int64_t affected() const;

 private:
  pg_result* r_;
};

struct ConnectOptions {
  std::string url;         // postgresql://USER@HOST:PORT/DB (a libpq URI)
  std::string password;    // "" = libpq's usual sources (PGPASSWORD, ~/.pgpass)
  bool read_only = false;  // the session's transactions default to READ ONLY
};

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> open(const ConnectOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement. `what` names it in the error ("saving agent a1").
  // kAlreadyExists for a unique violation, kPermission for a write refused by
  // a read-only transaction, kUnavailable when the connection is lost, kIo otherwise.
  Result<PgRows> exec(const std::string& what, const char* sql, std::initializer_list<Param> params = {});
  Result<PgRows> exec(const std::string& what, const char* sql, const std::vector<Param>& params);

  // Runs several statements that take no parameters (schema migrations), in
  // the simple query protocol.
  Status script(const std::string& what, const char* sql);

  // Inside BEGIN ... COMMIT on the server (including a failed one).
  bool inTransaction() const;
  // A statement failed inside the open transaction: COMMIT would roll it back.
  bool transactionFailed() const;
  // True when the connection was lost and not yet reset.
  bool broken() const;
  // The URL with any password removed, for messages and logs.
  const std::string& displayUrl() const { return display_url_; }

 private:
  Connection(pg_conn* c, std::string display_url) : conn_(c), display_url_(std::move(display_url)) {}
  Status ensureConnected();
  Result<PgRows> checked(const std::string& what, pg_result* r);

  pg_conn* conn_;
  std::string display_url_;
};

// `url` without the password part of its user info, if it has one.
std::string redactUrl(const std::string& url);

}  // namespace flotilla::coordinator::pg
