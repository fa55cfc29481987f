#include "support/temp_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace flotilla::testing {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& prefix) {
  std::random_device rd;
  for (int i = 0; i < 100; ++i) {
    auto p = fs::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::error_code ec;
    if (fs::create_directory(p, ec)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  if (const char* keep = std::getenv("FLOTILLA_TEST_KEEP"); keep && *keep && std::string(keep) != "0") {
    std::fprintf(stderr, "kept %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  // Directories a test made read-only must be writable again to be emptied.
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  }
  fs::remove_all(path_, ec);
}

fs::path TempDir::write(const std::string& name, std::string_view text) const {
  const auto p = path_ / name;
  std::ofstream out(p, std::ios::binary);
  out << text;
  return p;
}

}  // namespace flotilla::testing
