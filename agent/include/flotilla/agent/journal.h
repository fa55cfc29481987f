#pragma once
// The agent's durable memory: per app the live and previous release, the
// highest order sequence accepted, the releases on disk with their digests and
// specs, the last order finished with its terminal report; and the order in
// hand with its phase. Saved with an atomic write (temp, fsync, rename, fsync
// dir: two fsyncs) where recovery needs it, which the Deployer does two or
// three times per order (deployer.h): before anything on the host changes,
// before a revert switches back, and at the end. A crash at any point restarts
// into a state recover() can make consistent: between saves it tells from
// `current` whether the switch happened.
//
// Owned by the agent's worker thread.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/common/result.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::agent {

struct ReleaseInfo {
  std::string digest;  // artifact digest it was extracted from ("" if unknown)
  std::string spec;    // msgpack OrderSpec it was deployed with
};

// The last order of an app that reached a terminal phase, and the report that
// said so: a repeat of that order (a restarted coordinator resending what it
// has no result for) is answered with this report, never deployed twice.
struct FinishedOrder {
  std::string order_id;
  std::uint64_t sequence = 0;
  std::string action;
  std::string version;
  protocol::Phase phase = protocol::Phase::kFailed;  // terminal
  std::string message;
  std::string live_version;
  std::int64_t at_ms = 0;

  bool operator==(const FinishedOrder&) const = default;
  protocol::Report report(const std::string& app) const;
};

struct AppState {
  std::string current;         // live release ("" = none)
  std::string previous;        // the release to revert to
  std::uint64_t sequence = 0;  // highest order sequence accepted
  std::map<std::string, ReleaseInfo> releases;
  std::optional<FinishedOrder> last_order;  // absent in journals written before it existed
};

struct InFlightOrder {
  std::string order_id;
  std::string app;
  std::string version;
  std::string previous;           // live release when the order started
  std::string previous_previous;  // the app's `previous` when the order started
  std::string action;
  std::uint64_t sequence = 0;
  std::string phase;  // protocol::toString(Phase) of the step being taken
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
  // How many times save() wrote the file since open(), so that tests can count
  // the saves (and fsyncs) one order costs.
  std::uint64_t saves() const { return saves_; }

  // Pure, for tests and fuzzing: untrusted text in, state or a clear error out.
  static Result<JournalState> parse(std::string_view text);
  static std::string serialize(const JournalState& s);

 private:
  explicit Journal(std::filesystem::path file) : file_(std::move(file)) {}
  std::filesystem::path file_;
  JournalState state_;
  std::uint64_t saves_ = 0;
};

// What the reactor remembers of orders, so an order it has already accepted is
// recognised when it comes again (same order_id, app and sequence: a restarted
// coordinator resends the orders it has no result for) and answered with its
// latest report rather than deployed twice or refused as a replay; and so every
// new session with a coordinator starts with those reports, and a result
// reached while the coordinator was away is not lost.
//
// Seeded from the journal at start, then fed every accepted order and every
// report the worker sends. Owned by the reactor thread.
class OrderLedger {
 public:
  OrderLedger() = default;
  explicit OrderLedger(const JournalState& s);

  void accepted(const protocol::OrderBody& body);
  void reported(const protocol::Report& r);

  struct Repeat {
    bool repeat = false;                     // the order is in hand or its app's last finished
    std::optional<protocol::Report> latest;  // its latest report (none while it waits in the queue)
  };
  Repeat repeatOf(const protocol::OrderBody& body) const;

  // The latest report of every order in hand and the terminal report of every
  // app's last finished order, finished ones first.
  std::vector<protocol::Report> latestReports() const;

 private:
  struct InHand {
    std::string app;
    std::uint64_t sequence = 0;
    std::optional<protocol::Report> latest;
  };
  std::map<std::string, InHand> in_hand_;             // by order id
  std::map<std::string, protocol::Report> finished_;  // by app
};

}  // namespace flotilla::agent
