#include "flotilla/coordinator/shared_artifacts.h"

#include <fstream>

#include "flotilla/common/crypto.h"
#include "flotilla/coordinator/pg_store.h"

namespace flotilla::coordinator {
namespace {

namespace fs = std::filesystem;

// Artifacts in the PostgreSQL store's artifacts / artifact_chunks tables.
class PgSharedArtifacts final : public SharedArtifacts {
 public:
  explicit PgSharedArtifacts(StoreOptions options) : options_(std::move(options)) {}

  Status publish(const std::string& digest, const fs::path& file) override {
    auto store = connect();
    if (!store) return store.error();
    return keep((*store)->putArtifact(digest, file));
  }

  Status fetchInto(const std::string& digest, const fs::path& dir) override {
    auto store = connect();
    if (!store) return store.error();
    const fs::path part = dir / (digest + ".shared-part");
    auto copied = [&]() -> Status {
      std::ofstream out(part, std::ios::binary | std::ios::trunc);
      if (!out) return Error(Errc::kIo, "writing " + part.string());
      FLOTILLA_TRY(keep((*store)->readArtifact(digest, [&](const std::string& bytes) -> Status {
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return out ? Status() : Status(Error(Errc::kIo, "writing " + part.string()));
      })));
      out.close();
      if (!out) return Error(Errc::kIo, "writing " + part.string());
      auto got = common::digestFile(part);
      if (!got) return got.error();
      if (got->digest != digest)
        return Error(Errc::kCorrupt, "the store's copy of artifact " + digest + " hashes to " + got->digest);
      std::error_code ec;
      fs::rename(part, dir / digest, ec);
      if (ec) return Error(Errc::kIo, "storing artifact " + digest + ": " + ec.message());
      return {};
    }();
    if (!copied.ok()) {
      std::error_code ec;
      fs::remove(part, ec);
    }
    return copied;
  }

 private:
  Result<PgStore*> connect() {
    if (store_) return store_.get();
    auto password = storePassword(options_);
    if (!password) return password.error();
    auto opened = PgStore::open(options_.url, *password);
    if (!opened) return opened.error();
    store_ = std::move(*opened);
    return store_.get();
  }

  // A failure that may have been the connection's: the next call connects afresh.
  Status keep(Status st) {
    if (!st.ok() && st.error().code != Errc::kNotFound) store_.reset();
    return st;
  }

  StoreOptions options_;
  std::unique_ptr<PgStore> store_;
};

}  // namespace

std::unique_ptr<SharedArtifacts> openSharedArtifacts(const StoreOptions& options) {
  if (options.url.empty()) return nullptr;
  return std::make_unique<PgSharedArtifacts>(options);
}

}  // namespace flotilla::coordinator
