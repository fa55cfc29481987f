#pragma once
// The phase the order in hand last entered, kept in <state_dir>/phase beside
// the journal, so that an agent restarted after a crash can say where the
// order stopped ("agent restarted during staging").
//
// The journal is saved only where recovery needs it (journal.h); every phase
// is noted here instead, with a write that is not fsynced. After a kill the
// note is in the page cache and is read back; after a power cut it may be
// lost or stale (an earlier phase, or another order's, which is ignored and the
// phase the journal holds named instead). Recovery never decides anything from
// the note.
//
// Owned by the Deployer, on the agent's worker thread.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace flotilla::agent {

class PhaseNote {
 public:
  explicit PhaseNote(std::filesystem::path file) : file_(std::move(file)) {}

  // Best effort: a note that cannot be written only makes a message less precise.
  void write(std::string_view order_id, std::string_view phase) const;
  // The phase noted for `order_id`; nullopt when the note is absent,
  // unreadable or about another order.
  std::optional<std::string> read(std::string_view order_id) const;

 private:
  std::filesystem::path file_;
};

}  // namespace flotilla::agent
