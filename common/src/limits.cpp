#include "flotilla/common/limits.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace flotilla::common {

Result<std::uint64_t> raiseFileLimit() {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return Error(Errc::kIo, std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  rlim_t target = lim.rlim_max;
  if (target == RLIM_INFINITY) {
    // The kernel caps descriptors at fs.nr_open whatever the hard limit says.
    std::uint64_t nr_open = 1048576;
    std::ifstream in("/proc/sys/fs/nr_open");
    in >> nr_open;
    target = static_cast<rlim_t>(nr_open);
  }
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= target) return static_cast<std::uint64_t>(lim.rlim_cur);
  struct rlimit want = lim;
  want.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &want) != 0)
    return Error(Errc::kIo, "setrlimit(RLIMIT_NOFILE, " + std::to_string(target) + "): " + std::strerror(errno));
  return static_cast<std::uint64_t>(target);
}

}  // namespace flotilla::common
