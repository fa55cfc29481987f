#include "flotilla/agent/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <system_error>

#include "support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using flotilla::Errc;
using flotilla::Status;
using flotilla::agent::extractArchive;
using flotilla::agent::ExtractLimits;
using flotilla::testing::TempDir;

// work/
//   artifact.tar.gz
//   box/           the sandbox: after any extraction it holds release/ or nothing
//     release/     dest_dir
struct Sandbox {
  TempDir work;
  fs::path archive = work.path() / "artifact.tar.gz";
  fs::path box = work.path() / "box";
  fs::path dest = box / "release";
  Sandbox() { fs::create_directory(box); }
};

std::set<std::string> listDir(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

void checkNothingOutside(const Sandbox& sb) {
  auto box = listDir(sb.box);
  CHECK((box.empty() || box == std::set<std::string>{"release"}));
  auto work = listDir(sb.work.path());
  CHECK(work == std::set<std::string>{sb.archive.filename().string(), "box"});
}

enum class Format { kTarGz, kTarXz, kTarZstd, kZip };

// Builds archives entry by entry with libarchive's writer, which stores names,
// types and modes exactly as given: hostile entries included.
class ArchiveBuilder {
 public:
  explicit ArchiveBuilder(const fs::path& path, Format format = Format::kTarGz) : a_(archive_write_new()) {
    switch (format) {
      case Format::kTarGz:
        REQUIRE(archive_write_set_format_pax_restricted(a_) == ARCHIVE_OK);
        REQUIRE(archive_write_add_filter_gzip(a_) == ARCHIVE_OK);
        break;
      case Format::kTarXz:
        REQUIRE(archive_write_set_format_pax_restricted(a_) == ARCHIVE_OK);
        REQUIRE(archive_write_add_filter_xz(a_) == ARCHIVE_OK);
        break;
      case Format::kTarZstd:
        REQUIRE(archive_write_set_format_pax_restricted(a_) == ARCHIVE_OK);
        REQUIRE(archive_write_add_filter_zstd(a_) == ARCHIVE_OK);
        break;
      case Format::kZip:
        REQUIRE(archive_write_set_format_zip(a_) == ARCHIVE_OK);
        break;
    }
    REQUIRE(archive_write_open_filename(a_, path.c_str()) == ARCHIVE_OK);
  }
  ~ArchiveBuilder() {
    if (a_ != nullptr) archive_write_free(a_);
  }
  ArchiveBuilder(const ArchiveBuilder&) = delete;
  ArchiveBuilder& operator=(const ArchiveBuilder&) = delete;

  ArchiveBuilder& file(const std::string& name, const std::string& content, unsigned mode = 0644,
                       std::int64_t mtime = 1'700'000'000) {
    return add(name, AE_IFREG, mode, content, [&](archive_entry* e) { archive_entry_set_mtime(e, mtime, 0); });
  }
  ArchiveBuilder& dir(const std::string& name, unsigned mode = 0755) { return add(name, AE_IFDIR, mode, "", nullptr); }
  ArchiveBuilder& symlink(const std::string& name, const std::string& target) {
    return add(name, AE_IFLNK, 0777, "", [&](archive_entry* e) { archive_entry_set_symlink(e, target.c_str()); });
  }
  ArchiveBuilder& hardlink(const std::string& name, const std::string& target) {
    return add(name, AE_IFREG, 0644, "", [&](archive_entry* e) { archive_entry_set_hardlink(e, target.c_str()); });
  }
  ArchiveBuilder& special(const std::string& name, unsigned type, unsigned mode = 0644) {
    return add(name, type, mode, "", [&](archive_entry* e) { archive_entry_set_rdev(e, makedev(1, 3)); });
  }
  void close() {
    REQUIRE(archive_write_close(a_) == ARCHIVE_OK);
    archive_write_free(a_);
    a_ = nullptr;
  }

 private:
  template <typename Extra>
  ArchiveBuilder& add(const std::string& name, unsigned type, unsigned mode, const std::string& content, Extra extra) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_set_mtime(e, 1'700'000'000, 0);
    if constexpr (!std::is_same_v<Extra, std::nullptr_t>) extra(e);
    REQUIRE(archive_write_header(a_, e) == ARCHIVE_OK);
    if (!content.empty())
      REQUIRE(archive_write_data(a_, content.data(), content.size()) == static_cast<la_ssize_t>(content.size()));
    archive_entry_free(e);
    return *this;
  }

  archive* a_;
};

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeAll(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

unsigned modeOf(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string randomBytes(std::size_t n) {
  std::mt19937 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Extraction must fail, name `entry`, and leave nothing outside dest_dir.
void expectRefused(const Sandbox& sb, const std::string& entry, const std::string& reason,
                   const ExtractLimits& limits = {}) {
  Status st = extractArchive(sb.archive, sb.dest, limits);
  REQUIRE_FALSE(st.ok());
  INFO(st.error().message);
  CHECK_THAT(st.error().message, Contains("entry '" + entry + "'"));
  CHECK_THAT(st.error().message, Contains(reason));
  checkNothingOutside(sb);
}

}  // namespace

TEST_CASE("a good tree extracts with contents, modes, times and links", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.dir("bin/", 0755)
        .file("bin/run", "#!/bin/sh\necho hi\n", 0755)
        .dir("etc/", 0750)
        .file("etc/app.conf", "port = 8080\n", 0640, 1'600'000'000)
        .file("share/doc/readme.txt", "read me\n", 0644)  // parents implied
        .symlink("bin/app.conf", "../etc/app.conf")
        .symlink("docs", "share/doc")
        .hardlink("etc/app.conf.orig", "etc/app.conf")
        .dir("private/", 0700);
    b.close();
  }
  Status st = extractArchive(sb.archive, sb.dest);
  INFO((st.ok() ? "" : st.error().message));
  REQUIRE(st.ok());

  CHECK(modeOf(sb.dest) == 0755);
  CHECK(readAll(sb.dest / "bin/run") == "#!/bin/sh\necho hi\n");
  CHECK(modeOf(sb.dest / "bin/run") == 0755);
  CHECK(modeOf(sb.dest / "bin") == 0755);
  CHECK(modeOf(sb.dest / "etc") == 0750);
  CHECK(modeOf(sb.dest / "etc/app.conf") == 0640);
  CHECK(modeOf(sb.dest / "private") == 0700);
  CHECK(readAll(sb.dest / "share/doc/readme.txt") == "read me\n");

  struct stat conf {};
  REQUIRE(::stat((sb.dest / "etc/app.conf").c_str(), &conf) == 0);
  CHECK(conf.st_mtime == 1'600'000'000);

  CHECK(fs::is_symlink(sb.dest / "bin/app.conf"));
  CHECK(fs::read_symlink(sb.dest / "bin/app.conf") == "../etc/app.conf");
  CHECK(readAll(sb.dest / "bin/app.conf") == "port = 8080\n");
  CHECK(fs::read_symlink(sb.dest / "docs") == "share/doc");
  CHECK(readAll(sb.dest / "docs/readme.txt") == "read me\n");

  CHECK(fs::equivalent(sb.dest / "etc/app.conf.orig", sb.dest / "etc/app.conf"));
  checkNothingOutside(sb);
}

TEST_CASE("a tree archived as './' extracts into dest_dir", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.dir("./", 0777).dir("./bin/").file("./bin/run", "x", 0755).symlink("./run", "bin/run");
    b.close();
  }
  Status st = extractArchive(sb.archive, sb.dest);
  INFO((st.ok() ? "" : st.error().message));
  REQUIRE(st.ok());
  CHECK(modeOf(sb.dest) == 0755);  // the archive's "./" does not loosen dest_dir
  CHECK(readAll(sb.dest / "run") == "x");
}

TEST_CASE("tar.xz, tar.zst and zip artifacts extract", "[agent][extract]") {
  auto format = GENERATE(Format::kTarXz, Format::kTarZstd, Format::kZip);
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive, format);
    b.dir("bin/").file("bin/run", "hello", 0755).file("data.bin", randomBytes(70'000));
    b.close();
  }
  Status st = extractArchive(sb.archive, sb.dest);
  INFO((st.ok() ? "" : st.error().message));
  REQUIRE(st.ok());
  CHECK(readAll(sb.dest / "bin/run") == "hello");
  CHECK(modeOf(sb.dest / "bin/run") == 0755);
  CHECK(readAll(sb.dest / "data.bin") == randomBytes(70'000));
}

TEST_CASE("missing parents of dest_dir are created", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.file("a", "1");
    b.close();
  }
  fs::path dest = sb.box / "releases" / "1.0";
  REQUIRE(extractArchive(sb.archive, dest).ok());
  CHECK(readAll(dest / "a") == "1");
}

TEST_CASE("refuses an absolute path", "[agent][extract]") {
  Sandbox sb;
  fs::path target = sb.box / "abs-evil";
  {
    ArchiveBuilder b(sb.archive);
    b.file("ok", "fine").file(target.string(), "evil");
    b.close();
  }
  expectRefused(sb, target.string(), "absolute path");
  CHECK_FALSE(fs::exists(target));
}

TEST_CASE("refuses '../x'", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.file("../x", "evil");
    b.close();
  }
  expectRefused(sb, "../x", "path leaves the release directory");
}

TEST_CASE("refuses 'a/../../x'", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.dir("a/").file("a/../../x", "evil");
    b.close();
  }
  expectRefused(sb, "a/../../x", "path leaves the release directory");
}

TEST_CASE("refuses any '..' component, even one that stays inside", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.dir("a/").file("a/../b", "x");
    b.close();
  }
  expectRefused(sb, "a/../b", "'..'");
}

TEST_CASE("refuses a symlink to an absolute path", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.symlink("etc", "/etc");
    b.close();
  }
  expectRefused(sb, "etc", "symlink target '/etc' is absolute");
}

TEST_CASE("refuses a symlink that resolves outside the tree", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.dir("a/").symlink("a/up", "../../x");
    b.close();
  }
  expectRefused(sb, "a/up", "leaves the release directory");
}

TEST_CASE("refuses 'a -> ../../x' at the top of the tree", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.symlink("a", "../../x");
    b.close();
  }
  expectRefused(sb, "a", "symlink target '../../x' leaves the release directory");
}

TEST_CASE("refuses writing through a symlink to the parent ('link -> ..', 'link/x')", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.symlink("link", "..").file("link/x", "evil");
    b.close();
  }
  expectRefused(sb, "link", "leaves the release directory");
  CHECK_FALSE(fs::exists(sb.box / "x"));
}

TEST_CASE("refuses a path through an in-tree symlink", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.dir("sub/").symlink("sub/up", "..").file("sub/up/x", "through");
    b.close();
  }
  expectRefused(sb, "sub/up/x", "passes through symlink 'sub/up'");
  CHECK_FALSE(fs::exists(sb.dest / "x"));
}

TEST_CASE("refuses a symlink that a later entry makes escape", "[agent][extract]") {
  // 'l1 -> d/..' is inside while d is a directory; 'd -> .' turns it into '..'.
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.symlink("l1", "d/..").symlink("d", ".");
    b.close();
  }
  expectRefused(sb, "l1", "leaves the release directory");
}

TEST_CASE("refuses a symlink loop", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.symlink("a", "b").symlink("b", "a");
    b.close();
  }
  expectRefused(sb, "a", "too many levels of symbolic links");
}

TEST_CASE("refuses a hardlink to /etc/passwd", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.hardlink("passwd", "/etc/passwd");
    b.close();
  }
  expectRefused(sb, "passwd", "hardlink target '/etc/passwd' is absolute");
}

TEST_CASE("refuses a hardlink to '../x'", "[agent][extract]") {
  Sandbox sb;
  writeAll(sb.work.path() / "x", "outside");  // exists, so a link would succeed
  {
    ArchiveBuilder b(sb.archive);
    b.hardlink("h", "../x");
    b.close();
  }
  Status st = extractArchive(sb.archive, sb.dest);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message, Contains("entry 'h'"));
  CHECK_THAT(st.error().message, Contains("leaves the release directory"));
  fs::remove(sb.work.path() / "x");
  checkNothingOutside(sb);
}

TEST_CASE("refuses a hardlink to a file not extracted earlier", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.dir("d/").hardlink("h", "d");
    b.close();
  }
  expectRefused(sb, "h", "not a regular file extracted earlier");
}

TEST_CASE("refuses a character device", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.file("ok", "x").special("null", AE_IFCHR);
    b.close();
  }
  expectRefused(sb, "null", "character device");
}

TEST_CASE("refuses a block device", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.special("disk", AE_IFBLK);
    b.close();
  }
  expectRefused(sb, "disk", "block device");
}

TEST_CASE("refuses a FIFO", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.special("pipe", AE_IFIFO);
    b.close();
  }
  expectRefused(sb, "pipe", "FIFO");
}

TEST_CASE("refuses setuid, setgid and sticky bits", "[agent][extract]") {
  Sandbox sb;
  SECTION("setuid file") {
    {
      ArchiveBuilder b(sb.archive);
      b.file("su", "x", 04755);
      b.close();
    }
    expectRefused(sb, "su", "mode 4755");
  }
  SECTION("setgid directory") {
    {
      ArchiveBuilder b(sb.archive);
      b.dir("shared/", 02775);
      b.close();
    }
    expectRefused(sb, "shared/", "setuid/setgid/sticky");
  }
  SECTION("sticky directory") {
    {
      ArchiveBuilder b(sb.archive);
      b.dir("tmp/", 01777);
      b.close();
    }
    expectRefused(sb, "tmp/", "setuid/setgid/sticky");
  }
}

TEST_CASE("refuses a path that turns a directory into a symlink", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.dir("d/").symlink("d", "e");
    b.close();
  }
  expectRefused(sb, "d", "replaces an earlier entry");
}

TEST_CASE("refuses more entries than max_entries", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.file("a", "1").file("b", "2").file("c", "3").file("d", "4").file("e", "5");
    b.close();
  }
  ExtractLimits limits;
  limits.max_entries = 3;
  expectRefused(sb, "d", "more than 3 entries", limits);
}

TEST_CASE("refuses more bytes than max_bytes", "[agent][extract]") {
  Sandbox sb;
  ExtractLimits limits;
  limits.max_bytes = 100;
  SECTION("one large file") {
    {
      ArchiveBuilder b(sb.archive);
      b.file("big", std::string(200, 'x'));
      b.close();
    }
    expectRefused(sb, "big", "exceeds the limit of 100 bytes", limits);
  }
  SECTION("the sum of files") {
    {
      ArchiveBuilder b(sb.archive);
      b.file("a", std::string(60, 'x')).file("b", std::string(60, 'y'));
      b.close();
    }
    expectRefused(sb, "b", "exceeds the limit of 100 bytes", limits);
  }
  SECTION("exactly at the limit is fine") {
    {
      ArchiveBuilder b(sb.archive);
      b.file("a", std::string(60, 'x')).file("b", std::string(40, 'y'));
      b.close();
    }
    CHECK(extractArchive(sb.archive, sb.dest, limits).ok());
  }
}

TEST_CASE("counts the bytes actually written when a header understates the size", "[agent][extract]") {
  // A zip whose headers claim 10 bytes for a member that inflates to 1 MB; the
  // member is larger than libarchive's inflate buffer, so data arrives before
  // libarchive itself notices the size mismatch.
  Sandbox sb;
  sb.archive = sb.work.path() / "artifact.zip";
  {
    ArchiveBuilder b(sb.archive, Format::kZip);
    b.file("big", std::string(1'000'000, 'a'));
    b.close();
  }
  std::string bytes = readAll(sb.archive);
  const std::string real("\x40\x42\x0f\x00", 4);  // 1000000, little-endian
  const std::string fake("\x0a\x00\x00\x00", 4);
  int patched = 0;
  for (auto pos = bytes.find(real); pos != std::string::npos; pos = bytes.find(real, pos)) {
    bytes.replace(pos, 4, fake);
    ++patched;
  }
  REQUIRE(patched >= 2);  // central directory and local header or descriptor
  writeAll(sb.archive, bytes);

  ExtractLimits limits;
  limits.max_bytes = 1000;
  expectRefused(sb, "big", "exceeds the limit of 1000 bytes", limits);
}

TEST_CASE("refuses when dest_dir already exists", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.file("marker", "new");
    b.close();
  }
  fs::create_directory(sb.dest);
  writeAll(sb.dest / "marker", "old");
  Status st = extractArchive(sb.archive, sb.dest);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kAlreadyExists);
  CHECK_THAT(st.error().message, Contains(sb.dest.string()));
  CHECK(readAll(sb.dest / "marker") == "old");
}

TEST_CASE("refuses input that is not an archive", "[agent][extract]") {
  Sandbox sb;
  writeAll(sb.archive, "this is not an archive, just some text\n");
  Status st = extractArchive(sb.archive, sb.dest);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kCorrupt);
  CHECK_THAT(st.error().message, Contains(sb.archive.string()));
  CHECK(listDir(sb.box).empty());
  checkNothingOutside(sb);
}

TEST_CASE("refuses a missing archive", "[agent][extract]") {
  Sandbox sb;
  Status st = extractArchive(sb.work.path() / "nope.tar.gz", sb.dest);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::kNotFound);
  CHECK(listDir(sb.box).empty());
}

TEST_CASE("refuses a truncated archive and names the entry", "[agent][extract]") {
  Sandbox sb;
  {
    ArchiveBuilder b(sb.archive);
    b.file("small", "ok").file("big", randomBytes(200'000));
    b.close();
  }
  std::string bytes = readAll(sb.archive);
  writeAll(sb.archive, bytes.substr(0, bytes.size() / 2));
  Status st = extractArchive(sb.archive, sb.dest);
  REQUIRE_FALSE(st.ok());
  INFO(st.error().message);
  CHECK(st.error().code == Errc::kCorrupt);
  CHECK_THAT(st.error().message, Contains("entry 'big'"));
  checkNothingOutside(sb);
}
