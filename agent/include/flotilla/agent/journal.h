#pragma once
// The agent's durable memory: per app the live and previous release, the
// highest order sequence accepted, the releases on disk with their digests and
// specs; and the order in hand with its phase. Saved with an atomic write
// (temp, fsync, rename, fsync dir) BEFORE each phase takes effect, so a crash
// at any point restarts into a state recover() can make consistent.
//
// Owned by the agent's worker thread.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "flotilla/common/result.h"

namespace flotilla::agent {

struct ReleaseInfo {
  std::string digest;  // artifact digest it was extracted from ("" if unknown)
  std::string spec;    // msgpack OrderSpec it was deployed with
};

struct AppState {
  std::string current;   // live release ("" = none)
  std::string previous;  // the release to revert to
  std::uint64_t sequence = 0;  // highest order sequence accepted
  std::map<std::string, ReleaseInfo> releases;
};

struct InFlightOrder {
  std::string order_id;
  std::string app;
  std::string version;
  std::string previous;  // live release when the order started
  std::string previous_previous;  // the app's `previous` when the order started
  std::string action;
  std::uint64_t sequence = 0;
  std::string phase;     // protocol::toString(Phase) of the step being taken
  std::string digest;
  std::string spec;
};

struct JournalState {
  std::map<std::string, AppState> apps;
  std::optional<InFlightOrder> order;
};

class Journal {
 public:
  // Loads <state_dir>/journal.json, or starts empty when there is none.
  static Result<Journal> open(const std::filesystem::path& state_dir);

  const JournalState& state() const { return state_; }
  JournalState& state() { return state_; }
  Status save();

  // Pure, for tests and fuzzing: untrusted text in, state or a clear error out.
  static Result<JournalState> parse(std::string_view text);
  static std::string serialize(const JournalState& s);

 private:
  explicit Journal(std::filesystem::path file) : file_(std::move(file)) {}
  std::filesystem::path file_;
  JournalState state_;
};

}  // namespace flotilla::agent
