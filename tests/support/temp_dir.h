#pragma once
// A unique temporary directory for a test, removed with everything in it when
// the object goes out of scope, even where a test left directories read-only.
// FLOTILLA_TEST_KEEP=1 keeps every test's directory (logs, stores) for a
// post-mortem. Not thread-safe; one owner.

#include <filesystem>
#include <string>
#include <string_view>

namespace flotilla::testing {

class TempDir {
 public:
  // Creates $TMPDIR/PREFIX-PID-RANDOM; throws std::runtime_error if it cannot.
  explicit TempDir(const std::string& prefix = "flotilla-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Writes `text` to the file `name` inside the directory; returns its path.
  std::filesystem::path write(const std::string& name, std::string_view text) const;

 private:
  std::filesystem::path path_;
};

}  // namespace flotilla::testing
