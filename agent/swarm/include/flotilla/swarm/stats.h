#pragma once
// What a swarm counts and measures, for the JSON line it prints on exit and
// for scripts/bench.sh. Optionally streams one line per order event to a log
// (tab-separated: kind, unix ms, agent id, order id), so a benchmark can line
// receipts up against the coordinator's wave_started time.
//
// Owned and written by the reactor thread only.

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace flotilla::swarm {

// Latency samples in microseconds; percentiles computed on demand.
class Samples {
 public:
  void add(std::int64_t us) { values_.push_back(us < 0 ? 0 : us); }
  std::size_t size() const { return values_.size(); }
  // {"n", "p50_ms", "p90_ms", "p99_ms", "max_ms"}; null figures when empty.
  nlohmann::json summary() const;

 private:
  std::vector<std::int64_t> values_;
};

struct SwarmStats {
  // Connections and enrollment.
  std::uint64_t connects = 0;  // sockets created and connected
  std::uint64_t online = 0;    // agents welcomed as accepted right now
  std::uint64_t pending = 0;   // agents welcomed as pending right now
  std::uint64_t welcomes = 0;
  std::uint64_t refusals = 0;
  std::uint64_t rotations = 0;  // plan key rotations followed
  // Traffic.
  std::uint64_t hellos = 0;
  std::uint64_t heartbeats = 0;
  std::uint64_t reports = 0;
  std::uint64_t fetches = 0;
  std::uint64_t messages_in = 0;
  std::uint64_t malformed_in = 0;
  std::uint64_t send_dropped = 0;  // EAGAIN on send: the socket's high-water mark was reached
  // Orders.
  std::uint64_t orders_received = 0;
  std::uint64_t orders_verified = 0;
  std::uint64_t orders_refused = 0;
  std::uint64_t orders_healthy = 0;
  std::uint64_t orders_reverted = 0;
  std::uint64_t orders_failed = 0;  // fetch or digest failures
  std::uint64_t fetched_bytes = 0;
  // Analysis: synthetic samples.
  std::uint64_t sample_requests = 0;
  std::uint64_t samples = 0;          // sent
  std::uint64_t sample_batches = 0;   // Samples messages sent
  std::uint64_t samples_dropped = 0;  // due while not online
  std::int64_t first_receipt_ms = 0;  // unix ms of the first order received
  std::int64_t last_verified_ms = 0;  // unix ms of the latest order verified
  Samples verify_us;                  // order receipt -> verified (decode + Ed25519 + checks)
  Samples done_us;                    // order receipt -> terminal report sent

  // Order event log; null = off. The caller owns the FILE.
  std::FILE* log = nullptr;
  bool log_dirty = false;
  void logEvent(std::string_view kind, std::int64_t unix_ms, std::string_view agent, std::string_view order);
  void flushLog();
};

}  // namespace flotilla::swarm
