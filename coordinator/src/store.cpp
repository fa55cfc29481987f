#include "flotilla/coordinator/store.h"

#include <fstream>

#include "flotilla/coordinator/pg_store.h"
#include "flotilla/coordinator/sqlite_store.h"

namespace flotilla::coordinator {

namespace {

template <typename T>
Result<std::unique_ptr<Store>> asStore(Result<std::unique_ptr<T>> opened) {
  if (!opened) return opened.error();
  return std::unique_ptr<Store>(std::move(*opened));
}

// The first line of the password file, without its line ending.
Result<std::string> readPassword(const std::filesystem::path& file) {
  if (file.empty()) return std::string();
  std::ifstream in(file);
  if (!in) return Error(Errc::kIo, "reading the store password from " + file.string());
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

}  // namespace

Result<std::unique_ptr<Store>> openStore(const StoreOptions& options) {
  if (!options.url.empty()) {
    auto password = readPassword(options.password_file);
    if (!password) return password.error();
    if (options.read_only) return asStore(PgStore::openReadOnly(options.url, *password));
    return asStore(PgStore::open(options.url, *password));
  }
  if (options.read_only) return asStore(SqliteStore::openReadOnly(options.file));
  return asStore(SqliteStore::open(options.file));
}

}  // namespace flotilla::coordinator
