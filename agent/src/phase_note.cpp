#include "flotilla/agent/phase_note.h"

#include <fcntl.h>
#include <unistd.h>

#include "flotilla/common/fs.h"

namespace flotilla::agent {

namespace {
// A note is two short lines; anything longer is not one.
constexpr std::size_t kMaxNoteBytes = 4096;
}  // namespace

void PhaseNote::write(std::string_view order_id, std::string_view phase) const {
  std::string text;
  text.reserve(order_id.size() + phase.size() + 2);
  text.append(order_id).append("\n").append(phase).append("\n");
  // Rewritten in place, without O_TRUNC or a rename: ext4 starts writeback on
  // close after either (auto_da_alloc), and this write is meant to cost no I/O.
  const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (::pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()))
    (void)::ftruncate(fd, static_cast<off_t>(text.size()));
  ::close(fd);
}

std::optional<std::string> PhaseNote::read(std::string_view order_id) const {
  auto text = common::readFile(file_, kMaxNoteBytes);
  if (!text) return std::nullopt;
  const auto first = text->find('\n');
  if (first == std::string::npos || std::string_view(*text).substr(0, first) != order_id) return std::nullopt;
  const auto second = text->find('\n', first + 1);
  if (second == std::string::npos || second == first + 1) return std::nullopt;
  return text->substr(first + 1, second - first - 1);
}

}  // namespace flotilla::agent
