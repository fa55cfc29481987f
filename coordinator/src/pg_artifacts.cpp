// PgStore's artifact bytes: tables artifacts(digest, size) and
// artifact_chunks(digest, offset, bytes), chunks of kArtifactChunkBytes. An
// artifact is written in one transaction, so a reader sees all of it or none.

#include <fstream>
#include <vector>

#include "flotilla/coordinator/pg_store.h"
#include "pg_connection.h"

namespace flotilla::coordinator {
namespace {

Status done(const Result<pg::PgRows>& r) { return r.ok() ? Status() : Status(r.error()); }

}  // namespace

Status PgStore::putArtifact(const std::string& digest, const std::filesystem::path& file) {
  if (read_only_) return readOnlyError();
  if (in_tx_) return Error(Errc::kInternal, "store: putArtifact inside a unit of work");
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error(Errc::kIo, "store: reading artifact " + file.string());
  FLOTILLA_TRY(conn_->exec("storing artifact " + digest, "BEGIN"));
  auto stored = [&]() -> Status {
    auto claimed = conn_->exec("storing artifact " + digest,
                               "INSERT INTO artifacts (digest, size) VALUES ($1, 0) ON CONFLICT (digest) DO NOTHING "
                               "RETURNING digest",
                               {digest});
    if (!claimed) return claimed.error();
    if (claimed->size() == 0) return {};  // already stored, by us or another coordinator
    std::vector<char> buf(kArtifactChunkBytes);
    std::int64_t offset = 0;
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = static_cast<std::size_t>(in.gcount());
      if (n == 0) break;
      FLOTILLA_TRY(conn_->exec("storing artifact " + digest,
                               "INSERT INTO artifact_chunks (digest, \"offset\", bytes) VALUES ($1, $2, $3)",
                               {digest, offset, pg::Param::bytes(std::string(buf.data(), n))}));
      offset += static_cast<std::int64_t>(n);
    }
    if (in.bad()) return Error(Errc::kIo, "store: reading artifact " + file.string());
    return done(conn_->exec("storing artifact " + digest, "UPDATE artifacts SET size = $2 WHERE digest = $1",
                            {digest, offset}));
  }();
  if (!stored.ok()) {
    if (conn_->inTransaction()) (void)conn_->exec("rolling back", "ROLLBACK");
    return stored;
  }
  return done(conn_->exec("storing artifact " + digest, "COMMIT"));
}

Result<std::optional<std::uint64_t>> PgStore::artifactSize(const std::string& digest) {
  auto s = conn_->exec("reading artifact " + digest, "SELECT size FROM artifacts WHERE digest = $1", {digest});
  if (!s) return s.error();
  if (s->size() == 0) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(s->i64(0, 0)));
}

Status PgStore::readArtifact(const std::string& digest, const std::function<Status(const std::string& bytes)>& sink) {
  auto size = artifactSize(digest);
  if (!size) return size.error();
  if (!*size) return Error(Errc::kNotFound, "store: no artifact " + digest);
  // A chunk at a time, so an artifact of gigabytes never sits in memory whole.
  std::int64_t offset = 0;
  while (static_cast<std::uint64_t>(offset) < **size) {
    auto s = conn_->exec("reading artifact " + digest,
                         "SELECT bytes FROM artifact_chunks WHERE digest = $1 AND \"offset\" = $2", {digest, offset});
    if (!s) return s.error();
    if (s->size() == 0)
      return Error(Errc::kCorrupt, "store: artifact " + digest + " lacks its chunk at " + std::to_string(offset));
    const std::string bytes = s->bytes(0, 0);
    if (bytes.empty()) return Error(Errc::kCorrupt, "store: artifact " + digest + " has an empty chunk");
    FLOTILLA_TRY(sink(bytes));
    offset += static_cast<std::int64_t>(bytes.size());
  }
  return {};
}

}  // namespace flotilla::coordinator
