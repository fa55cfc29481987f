#pragma once
// WatchView: turns the watch stream of one rollout into output. It is fed the
// watch reply ({"rollout": status, "events": [...], "finished": bool}) and the
// messages the coordinator pushes afterwards ({"type": "event" | "status" |
// "end", ...}); the same reply may come again (the console re-sends `watch`
// after a silence or a reconnect), so events are de-duplicated by "seq" and
// identical statuses are not repeated.
//
// Output modes:
// - kTerminal: events scroll; below them a block (headline, gate, one line
//   per wave) is redrawn in place with ANSI cursor movement.
// - kPlain (a pipe or a file): every event as one line; a wave line whenever
//   that wave's progress changes; the headline when the state changes; the
//   gate when it changes kind (not every countdown tick); while a wave is
//   analysed, a metric's line when its verdict so far changes.
// - kJson: JSON Lines, each event/status/end message with the fields of its
//   struct (protocol/control.h; messages taken from a watch reply get the
//   "type" they would have had).
//
// Every message is parsed into its struct first: one that does not have the
// shape of the protocol is refused with an Error naming the field (kCorrupt),
// and nothing of it is shown.
//
// Owns no socket and reads no clock: the caller drives it and calls flush()
// after each burst of messages. Single-threaded.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/common/result.h"
#include "flotilla/protocol/control.h"

namespace flotilla::console {

using nlohmann::json;

class WatchView {
 public:
  enum class Mode { kPlain, kTerminal, kJson };

  // `width`: terminal columns (kTerminal); block lines are cut to fit so the
  // redraw can count lines. 0 = do not cut.
  WatchView(std::ostream& out, Mode mode, std::size_t width = 0);

  Status onWatchReply(const json& reply);
  // Ignores anything that is not an event, status or end message.
  Status onPush(const json& msg);
  // Writes what the last messages changed.
  void flush();

  bool ended() const { return ended_; }
  // The highest event seq seen: the "after" of the next watch request.
  std::int64_t lastSeq() const { return last_seq_; }
  const protocol::control::RolloutStatus& status() const { return status_; }
  const std::string& state() const { return status_.state; }
  // The message of the rollout's final event ("rollout_failed": "wave 0 failed: ...").
  const std::string& finalMessage() const { return final_message_; }

  // After ended(): flushes, prints the one-line summary (not in kJson) and
  // returns the exit code: 0 succeeded, 1 failed / rolled_back / aborted, or
  // 1 when the coordinator no longer runs a rollout that never finished.
  // `local_seconds` (time since this console submitted it) is preferred over
  // the coordinator's second-precision timestamps.
  int finish(std::optional<double> local_seconds);

 private:
  void onEvent(const protocol::control::EventDoc& event);
  void onStatus(const protocol::control::RolloutStatus& status, const char* type);
  void printAnalysisChanges(const protocol::control::AnalysisWaveDoc& wave);
  void eraseBlock();
  void drawBlock();
  std::string fit(const std::string& line) const;

  std::ostream& out_;
  Mode mode_;
  std::size_t width_;
  protocol::control::RolloutStatus status_;
  bool have_status_ = false;
  bool status_changed_ = false;
  bool ended_ = false;
  bool vanished_ = false;  // the coordinator says finished, but the state is not final
  std::int64_t last_seq_ = 0;
  std::string final_message_;
  std::vector<std::string> pending_;  // lines to write at the next flush()
  std::size_t block_lines_ = 0;       // kTerminal: lines of the block now on screen
  // kPlain: what was last printed, to print only changes.
  std::string printed_state_;
  std::string printed_gate_kind_;
  std::map<std::size_t, std::string> printed_waves_;
  std::map<std::string, std::string> printed_analysis_;  // "wave/metric" -> verdict last printed (kPlain)
  json last_json_status_;                                // kJson: last status written
};

}  // namespace flotilla::console
