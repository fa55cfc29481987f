#include "flotilla/common/fs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/temp_dir.h"

using namespace flotilla::common;
using flotilla::Errc;

namespace {

using flotilla::testing::TempDir;

std::vector<std::string> entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t modeOf(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Sets the umask for one test and restores it, so mode assertions do not
// depend on how the test runner was started.
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
  ~UmaskGuard() { ::umask(old_); }

 private:
  mode_t old_;
};

}  // namespace

TEST_CASE("atomicWriteFile creates a file with the content", "[fs]") {
  TempDir dir;
  auto path = dir.path() / "state.json";
  REQUIRE(atomicWriteFile(path, "{}").ok());
  REQUIRE(slurp(path) == "{}");
  REQUIRE(modeOf(path) == 0644);
}

TEST_CASE("atomicWriteFile replaces content and leaves no temporary files", "[fs]") {
  TempDir dir;
  auto path = dir.path() / "state.json";
  REQUIRE(atomicWriteFile(path, "first version, longer").ok());
  REQUIRE(atomicWriteFile(path, "second").ok());
  REQUIRE(slurp(path) == "second");
  REQUIRE(entries(dir.path()) == std::vector<std::string>{"state.json"});
}

TEST_CASE("atomicWriteFile applies the requested mode regardless of the umask", "[fs]") {
  UmaskGuard mask(077);
  TempDir dir;
  auto path = dir.path() / "shared.txt";
  REQUIRE(atomicWriteFile(path, "x", 0644).ok());
  REQUIRE(modeOf(path) == 0644);
  REQUIRE(atomicWriteFile(path, "x", 0600).ok());
  REQUIRE(modeOf(path) == 0600);
}

TEST_CASE("atomicWriteFile writes empty content", "[fs]") {
  TempDir dir;
  auto path = dir.path() / "empty";
  REQUIRE(atomicWriteFile(path, "").ok());
  REQUIRE(std::filesystem::file_size(path) == 0);
}

TEST_CASE("atomicWriteFile into a missing directory fails naming the path", "[fs]") {
  TempDir dir;
  auto path = dir.path() / "no-such-dir" / "file";
  auto st = atomicWriteFile(path, "x");
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().code == Errc::kNotFound);
  REQUIRE_THAT(st.error().message, Catch::Contains((dir.path() / "no-such-dir").string()));
  REQUIRE_THAT(st.error().message, Catch::Contains("No such file or directory"));
}

TEST_CASE("atomicWriteFile onto a directory fails and cleans up its temporary file", "[fs]") {
  TempDir dir;
  std::filesystem::create_directory(dir.path() / "taken");
  std::ofstream(dir.path() / "taken" / "inside") << "x";
  auto st = atomicWriteFile(dir.path() / "taken", "x");
  REQUIRE_FALSE(st.ok());
  REQUIRE_THAT(st.error().message, Catch::Contains((dir.path() / "taken").string()));
  REQUIRE(entries(dir.path()) == std::vector<std::string>{"taken"});
}

TEST_CASE("readFile returns the whole content", "[fs]") {
  TempDir dir;
  std::string content(200 * 1024, 'a');
  std::ofstream(dir.path() / "big", std::ios::binary) << content;
  auto back = readFile(dir.path() / "big");
  REQUIRE(back.ok());
  REQUIRE(*back == content);
}

TEST_CASE("readFile refuses a file larger than the limit", "[fs]") {
  TempDir dir;
  std::ofstream(dir.path() / "f") << "0123456789";
  auto back = readFile(dir.path() / "f", 9);
  REQUIRE_FALSE(back.ok());
  REQUIRE(back.error().code == Errc::kInvalidArgument);
  REQUIRE(readFile(dir.path() / "f", 10).ok());
}

TEST_CASE("readFile of a missing file is kNotFound naming the path", "[fs]") {
  TempDir dir;
  auto back = readFile(dir.path() / "missing");
  REQUIRE_FALSE(back.ok());
  REQUIRE(back.error().code == Errc::kNotFound);
  REQUIRE_THAT(back.error().message, Catch::Contains((dir.path() / "missing").string()));
}

TEST_CASE("fsyncDir succeeds on a directory and fails on a missing one", "[fs]") {
  TempDir dir;
  REQUIRE(fsyncDir(dir.path()).ok());
  auto st = fsyncDir(dir.path() / "missing");
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().code == Errc::kNotFound);
}

TEST_CASE("atomicSymlink creates a link storing the target as given", "[fs]") {
  TempDir dir;
  std::filesystem::create_directory(dir.path() / "releases");
  auto link = dir.path() / "current";
  REQUIRE(atomicSymlink(link, "releases/1").ok());
  REQUIRE(std::filesystem::read_symlink(link) == "releases/1");
}

TEST_CASE("atomicSymlink switches an existing link and leaves no temporary links", "[fs]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "r1");
  std::filesystem::create_directories(dir.path() / "r2");
  std::ofstream(dir.path() / "r1" / "version") << "1";
  std::ofstream(dir.path() / "r2" / "version") << "2";
  auto link = dir.path() / "current";
  REQUIRE(atomicSymlink(link, dir.path() / "r1").ok());
  REQUIRE(slurp(link / "version") == "1");
  REQUIRE(atomicSymlink(link, dir.path() / "r2").ok());
  REQUIRE(std::filesystem::read_symlink(link) == dir.path() / "r2");
  REQUIRE(slurp(link / "version") == "2");
  REQUIRE(entries(dir.path()) == std::vector<std::string>{"current", "r1", "r2"});
}

TEST_CASE("atomicSymlink refuses to replace a real directory", "[fs]") {
  TempDir dir;
  std::filesystem::create_directory(dir.path() / "current");
  std::ofstream(dir.path() / "current" / "keep") << "x";
  auto st = atomicSymlink(dir.path() / "current", "elsewhere");
  REQUIRE_FALSE(st.ok());
  REQUIRE_THAT(st.error().message, Catch::Contains((dir.path() / "current").string()));
  REQUIRE(std::filesystem::is_directory(std::filesystem::symlink_status(dir.path() / "current")));
  REQUIRE(entries(dir.path()) == std::vector<std::string>{"current"});
}

TEST_CASE("atomicSymlink in a missing directory fails", "[fs]") {
  TempDir dir;
  auto st = atomicSymlink(dir.path() / "missing" / "current", "x");
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().code == Errc::kNotFound);
}

TEST_CASE("ensureDir creates nested directories with the requested mode", "[fs]") {
  UmaskGuard mask(022);
  TempDir dir;
  auto nested = dir.path() / "a" / "b" / "c";
  REQUIRE(ensureDir(nested, 0750).ok());
  REQUIRE(std::filesystem::is_directory(nested));
  REQUIRE(modeOf(dir.path() / "a") == 0750);
  REQUIRE(modeOf(nested) == 0750);
}

TEST_CASE("ensureDir on an existing directory succeeds and leaves its mode", "[fs]") {
  TempDir dir;
  REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
  REQUIRE(ensureDir(dir.path(), 0755).ok());
  REQUIRE(modeOf(dir.path()) == 0711);
  REQUIRE(::chmod(dir.path().c_str(), 0700) == 0);
}

TEST_CASE("ensureDir fails when the path is a file", "[fs]") {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "x";
  auto st = ensureDir(dir.path() / "file");
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().code == Errc::kAlreadyExists);
  REQUIRE_THAT(st.error().message, Catch::Contains("not a directory"));
}

TEST_CASE("ensureDir fails when a parent is a file", "[fs]") {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "x";
  auto st = ensureDir(dir.path() / "file" / "sub");
  REQUIRE_FALSE(st.ok());
  REQUIRE_THAT(st.error().message, Catch::Contains((dir.path() / "file").string()));
}

TEST_CASE("removeAll removes a tree", "[fs]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "t" / "u");
  std::ofstream(dir.path() / "t" / "u" / "f") << "x";
  REQUIRE(removeAll(dir.path() / "t").ok());
  REQUIRE_FALSE(std::filesystem::exists(dir.path() / "t"));
}

TEST_CASE("removeAll of a missing path succeeds", "[fs]") {
  TempDir dir;
  REQUIRE(removeAll(dir.path() / "missing").ok());
}
