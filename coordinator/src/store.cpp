#include "flotilla/coordinator/store.h"

#include "flotilla/coordinator/sqlite_store.h"

namespace flotilla::coordinator {

namespace {

template <typename T>
Result<std::unique_ptr<Store>> asStore(Result<std::unique_ptr<T>> opened) {
  if (!opened) return opened.error();
  return std::unique_ptr<Store>(std::move(*opened));
}

}  // namespace

Result<std::unique_ptr<Store>> openStore(const StoreOptions& options) {
  if (options.read_only) return asStore(SqliteStore::openReadOnly(options.file));
  return asStore(SqliteStore::open(options.file));
}

}  // namespace flotilla::coordinator
