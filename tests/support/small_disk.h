#pragma once
// A tmpfs of `size` (tmpfs's size= syntax: "1m", "4m") mounted on `where` for
// the life of the object, for tests of full and read-only file systems.
// mount(2) needs root: when it fails, error() says why and the test should
// skip with that reason. `options` adds mount options, e.g. "nr_inodes=8".

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace flotilla::testing {

class SmallDisk {
 public:
  SmallDisk(std::filesystem::path where, const std::string& size, const std::string& options = "")
      : where_(std::move(where)) {
    std::filesystem::create_directories(where_);
    const std::string data = "size=" + size + ",mode=0700" + (options.empty() ? "" : "," + options);
    if (::mount("tmpfs", where_.c_str(), "tmpfs", 0, data.c_str()) != 0)
      error_ = std::string("mount tmpfs: ") + std::strerror(errno);
  }
  ~SmallDisk() {
    if (error_.empty()) ::umount2(where_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  const std::string& error() const { return error_; }
  const std::filesystem::path& path() const { return where_; }
  bool remount(unsigned long flags) {
    return ::mount("tmpfs", where_.c_str(), "tmpfs", MS_REMOUNT | flags, nullptr) == 0;
  }
  // Writes zeros until the file system is full; returns the filler's path.
  std::filesystem::path fill() {
    const auto filler = where_ / "filler";
    std::ofstream out(filler, std::ios::binary);
    std::string block(64 * 1024, '\0');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) out.flush();
    return filler;
  }

 private:
  std::filesystem::path where_;
  std::string error_;
};

}  // namespace flotilla::testing
