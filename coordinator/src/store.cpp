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

}  // namespace

Result<std::string> storePassword(const StoreOptions& options) {
  if (options.password_file.empty()) return std::string();
  std::ifstream in(options.password_file);
  if (!in) return Error(Errc::kIo, "reading the store password from " + options.password_file.string());
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

Status checkStoreUrl(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return Error(Errc::kInvalidArgument, "expected postgresql://USER@HOST:PORT/DATABASE: " + why);
  };
  std::string rest;
  for (const char* scheme : {"postgresql://", "postgres://"})
    if (url.rfind(scheme, 0) == 0) rest = url.substr(std::string(scheme).size());
  if (rest.empty()) return bad("the URL must start with postgresql://");
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash + 1 >= rest.size() || rest[slash + 1] == '?')
    return bad("the URL names no database");
  std::string authority = rest.substr(0, slash);
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    if (authority.substr(0, at).find(':') != std::string::npos)
      return bad(
          "the URL carries a password; put it in store.password_file or PGPASSWORD instead, so it never "
          "shows in a log");
    authority = authority.substr(at + 1);
  }
  const auto colon = authority.rfind(':');
  const std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
  if (host.empty()) return bad("the URL names no host");
  if (colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    const bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoi(port) == 0 || std::stoi(port) > 65535) return bad("'" + port + "' is not a port");
  }
  return {};
}

Result<std::unique_ptr<Store>> openStore(const StoreOptions& options) {
  if (!options.url.empty()) {
    auto password = storePassword(options);
    if (!password) return password.error();
    if (options.read_only) return asStore(PgStore::openReadOnly(options.url, *password));
    auto pg = PgStore::open(options.url, *password);
    if (pg && options.fence_epoch != 0) (*pg)->fence(options.fence_epoch, options.fence_holder);
    return asStore(std::move(pg));
  }
  if (options.read_only) return asStore(SqliteStore::openReadOnly(options.file));
  return asStore(SqliteStore::open(options.file));
}

}  // namespace flotilla::coordinator
