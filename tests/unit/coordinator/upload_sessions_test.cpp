#include "flotilla/coordinator/upload_sessions.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

using flotilla::Errc;
using flotilla::common::asBytes;
using flotilla::common::blake2bHex;
using flotilla::coordinator::UploadLimits;
using flotilla::coordinator::UploadSessions;
using flotilla::testing::FakeClock;
using flotilla::testing::TempDir;
namespace fs = std::filesystem;

namespace {

UploadLimits smallLimits() {
  UploadLimits l;
  l.chunk_bytes = 4;
  l.credit = 2;
  l.max_artifact_bytes = 64;
  l.max_total_bytes = 100;
  l.max_sessions = 2;
  l.timeout = std::chrono::seconds(30);
  return l;
}

// Files in `dir` (temporary uploads included).
std::size_t fileCount(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

struct Fixture {
  TempDir tmp{"flotilla-upload"};
  FakeClock clock;
  UploadSessions uploads{tmp.path(), smallLimits(), clock};
  const std::string content = "0123456789";
  const std::string digest = blake2bHex(asBytes(content));

  std::string begin() {
    auto g = uploads.begin(digest, content.size());
    REQUIRE(g.ok());
    REQUIRE_FALSE(g->already_stored);
    REQUIRE(fs::exists(uploads.tempPath(g->upload_id)));
    return g->upload_id;
  }
  flotilla::Result<std::uint64_t> put(const std::string& id, std::size_t offset, std::size_t len) {
    return uploads.append(id, offset, asBytes(std::string_view(content).substr(offset, len)));
  }
};

}  // namespace

TEST_CASE("upload: chunks in order are stored under the digest, the temporary file renamed", "[coordinator][upload]") {
  Fixture f;
  const std::string id = f.begin();
  CHECK(*f.put(id, 0, 4) == 4);
  CHECK(*f.put(id, 4, 4) == 8);
  CHECK(*f.put(id, 8, 2) == 10);
  auto stored = f.uploads.finish(id);
  REQUIRE(stored.ok());
  CHECK(stored->digest == f.digest);
  CHECK(stored->size == 10);
  CHECK(*flotilla::common::readFile(f.tmp.path() / f.digest) == f.content);
  CHECK_FALSE(fs::exists(f.uploads.tempPath(id)));
  CHECK(f.uploads.openCount() == 0);
}

TEST_CASE("upload: an artifact already stored is not sent again", "[coordinator][upload]") {
  Fixture f;
  REQUIRE(flotilla::common::atomicWriteFile(f.tmp.path() / f.digest, f.content).ok());
  auto g = f.uploads.begin(f.digest, f.content.size());
  REQUIRE(g.ok());
  CHECK(g->already_stored);
  CHECK(g->upload_id.empty());
  CHECK(f.uploads.openCount() == 0);
}

TEST_CASE("upload: an out-of-order chunk is refused and ends the session", "[coordinator][upload]") {
  Fixture f;
  const std::string id = f.begin();
  REQUIRE(f.put(id, 0, 4).ok());
  auto r = f.put(id, 8, 2);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kInvalidArgument);
  CHECK_THAT(r.error().message, Catch::Contains("out of order"));
  CHECK_FALSE(fs::exists(f.uploads.tempPath(id)));
  CHECK(f.put(id, 4, 4).error().code == Errc::kNotFound);
}

TEST_CASE("upload: a duplicated chunk is refused", "[coordinator][upload]") {
  Fixture f;
  const std::string id = f.begin();
  REQUIRE(f.put(id, 0, 4).ok());
  auto r = f.put(id, 0, 4);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("duplicate or overlapping"));
  CHECK(fileCount(f.tmp.path()) == 0);
}

TEST_CASE("upload: an overlapping chunk is refused", "[coordinator][upload]") {
  Fixture f;
  const std::string id = f.begin();
  REQUIRE(f.put(id, 0, 4).ok());
  auto r = f.put(id, 2, 4);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("duplicate or overlapping"));
  CHECK(fileCount(f.tmp.path()) == 0);
}

TEST_CASE("upload: a chunk larger than granted or past the declared size is refused", "[coordinator][upload]") {
  Fixture f;
  std::string id = f.begin();
  CHECK_FALSE(f.uploads.append(id, 0, asBytes("01234")).ok());  // chunk_bytes is 4
  id = f.begin();
  REQUIRE(f.put(id, 0, 4).ok());
  REQUIRE(f.put(id, 4, 4).ok());
  CHECK_FALSE(f.uploads.append(id, 8, asBytes("890")).ok());  // 11 bytes of 10
  CHECK(fileCount(f.tmp.path()) == 0);
}

TEST_CASE("upload: a digest mismatch stores nothing and deletes the temporary file", "[coordinator][upload]") {
  Fixture f;
  auto g = f.uploads.begin(blake2bHex(asBytes("something else")), f.content.size());
  REQUIRE(g.ok());
  const std::string id = g->upload_id;
  REQUIRE(f.put(id, 0, 4).ok());
  REQUIRE(f.put(id, 4, 4).ok());
  REQUIRE(f.put(id, 8, 2).ok());
  auto r = f.uploads.finish(id);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kCorrupt);
  CHECK_THAT(r.error().message, Catch::Contains("digest mismatch"));
  CHECK(fileCount(f.tmp.path()) == 0);
}

TEST_CASE("upload: ending before every byte arrived stores nothing", "[coordinator][upload]") {
  Fixture f;
  const std::string id = f.begin();
  REQUIRE(f.put(id, 0, 4).ok());
  CHECK_FALSE(f.uploads.finish(id).ok());
  CHECK(fileCount(f.tmp.path()) == 0);
}

TEST_CASE("upload: an artifact over the size limit is refused at begin", "[coordinator][upload]") {
  Fixture f;
  auto r = f.uploads.begin(f.digest, 65);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kInvalidArgument);
  CHECK_THAT(r.error().message, Catch::Contains("too large"));
  CHECK(fileCount(f.tmp.path()) == 0);
}

TEST_CASE("upload: open uploads are limited in number and total size", "[coordinator][upload]") {
  Fixture f;
  REQUIRE(f.uploads.begin(f.digest, 60).ok());
  CHECK(f.uploads.begin(f.digest, 60).error().code == Errc::kConflict);  // 120 bytes > 100 in total
  REQUIRE(f.uploads.begin(f.digest, 10).ok());
  CHECK(f.uploads.begin(f.digest, 1).error().code == Errc::kConflict);  // two sessions at most
}

TEST_CASE("upload: a malformed digest is refused", "[coordinator][upload]") {
  Fixture f;
  CHECK(f.uploads.begin("../../etc/passwd", 4).error().code == Errc::kInvalidArgument);
  CHECK(f.uploads.begin(std::string(64, 'A'), 4).error().code == Errc::kInvalidArgument);
}

TEST_CASE("upload: a session silent for the timeout expires and its file is deleted", "[coordinator][upload]") {
  Fixture f;
  const std::string id = f.begin();
  REQUIRE(f.put(id, 0, 4).ok());
  CHECK(f.uploads.nextDeadline() == f.clock.steadyNow() + std::chrono::seconds(30));
  f.clock.advance(std::chrono::seconds(20));
  REQUIRE(f.put(id, 4, 4).ok());  // activity pushes the deadline back
  f.clock.advance(std::chrono::seconds(20));
  CHECK(f.uploads.expire().empty());
  CHECK(fs::exists(f.uploads.tempPath(id)));
  f.clock.advance(std::chrono::seconds(10));
  CHECK(f.uploads.expire() == std::vector<std::string>{id});
  CHECK_FALSE(fs::exists(f.uploads.tempPath(id)));
  CHECK_FALSE(f.uploads.nextDeadline().has_value());
  CHECK(f.put(id, 8, 2).error().code == Errc::kNotFound);
}

TEST_CASE("upload: temporary files of an earlier run are removed, stored artifacts kept", "[coordinator][upload]") {
  Fixture f;
  std::ofstream(f.tmp.path() / ".upload-0123abcd") << "half an artifact";
  REQUIRE(flotilla::common::atomicWriteFile(f.tmp.path() / f.digest, f.content).ok());
  auto removed = f.uploads.removeStale();
  REQUIRE(removed.ok());
  CHECK(*removed == 1);
  CHECK(fileCount(f.tmp.path()) == 1);
  CHECK(fs::exists(f.tmp.path() / f.digest));
}

TEST_CASE("upload: destroying the sessions deletes unfinished uploads", "[coordinator][upload]") {
  TempDir tmp{"flotilla-upload"};
  FakeClock clock;
  fs::path temp;
  {
    UploadSessions uploads(tmp.path(), smallLimits(), clock);
    auto g = uploads.begin(std::string(64, 'a'), 10);
    REQUIRE(g.ok());
    temp = uploads.tempPath(g->upload_id);
    REQUIRE(fs::exists(temp));
  }
  CHECK_FALSE(fs::exists(temp));
}
