#pragma once
// The highest coordinator leadership epoch this agent has seen (docs/ha.md),
// from welcomes and from verified orders. An order signed in a lower epoch
// comes from a coordinator that lost its lease (paused, partitioned) and is
// refused (protocol::RefusalReason::kStaleEpoch), so an old leader that wakes
// up cannot make this host do anything.
//
// Kept next to the journal in the state directory (<state_dir>/epoch, one
// decimal number), written atomically with fsyncs before the agent acts on an
// epoch, so a restart never forgets it. A separate file rather than a field of
// journal.json because the journal belongs to the worker thread, while orders
// are checked on the reactor. 0 = none seen (coordinators on SQLite lead alone
// and send no epoch).
//
// Owned by the agent's reactor thread.

#include <cstdint>
#include <filesystem>

#include "flotilla/common/result.h"

namespace flotilla::agent {

class EpochMark {
 public:
  // Reads <state_dir>/epoch (0 when there is none). A file that does not hold
  // a number is an error naming it.
  static Result<EpochMark> open(const std::filesystem::path& state_dir);

  std::uint64_t highest() const { return highest_; }
  // Raises the mark to `epoch` when it is higher and writes it durably before
  // returning. When the write fails the mark is raised in memory anyway (this
  // run keeps refusing lower epochs) and the error says so.
  Status observe(std::uint64_t epoch);

 private:
  explicit EpochMark(std::filesystem::path file, std::uint64_t highest) : file_(std::move(file)), highest_(highest) {}
  std::filesystem::path file_;
  std::uint64_t highest_ = 0;
};

}  // namespace flotilla::agent
