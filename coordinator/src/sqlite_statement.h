#pragma once
// Small helpers over SQLite's statement API, shared by SqliteStore and its
// migrations: positional binding that resets the statement when done, and
// column reads that copy into std::string. Private to the coordinator library.

#include <sqlite3.h>

#include <cstdint>
#include <string>

namespace flotilla::coordinator::sqlite {

inline std::string columnText(sqlite3_stmt* s, int i) {
  auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

inline std::string columnBlob(sqlite3_stmt* s, int i) {
  auto* p = sqlite3_column_blob(s, i);
  return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

// Binds positional parameters and resets the statement when it goes out of scope.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* s) : s_(s) {}
  ~Binder() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Binder(const Binder&) = delete;
  Binder& operator=(const Binder&) = delete;
  Binder& text(const std::string& v) {
    sqlite3_bind_text(s_, ++i_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Binder& blob(const std::string& v) {
    sqlite3_bind_blob(s_, ++i_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Binder& i64(std::int64_t v) {
    sqlite3_bind_int64(s_, ++i_, v);
    return *this;
  }
  Binder& f64(double v) {
    sqlite3_bind_double(s_, ++i_, v);
    return *this;
  }
  Binder& null() {
    sqlite3_bind_null(s_, ++i_);
    return *this;
  }
  int step() { return sqlite3_step(s_); }

 private:
  sqlite3_stmt* s_;
  int i_ = 0;
};

}  // namespace flotilla::coordinator::sqlite
