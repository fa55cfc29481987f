#pragma once
// A unique temporary directory for a test, removed with everything in it when
// the object goes out of scope.

#include <filesystem>
#include <string>

namespace flotilla::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "flotilla-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace flotilla::testing
