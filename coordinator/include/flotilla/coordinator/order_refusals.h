#pragma once
// OrderRefusals: how many orders agents refused, by reason, for /metrics.
//
// An agent reports a refusal as "<reason>: <details>", where <reason> is one of
// protocol::RefusalReason's names (protocol/order.h). The text comes from the
// network, so only those names become label values; anything else counts as
// "other". The map therefore holds at most one entry per reason plus "other",
// whatever agents send.
//
// Reactor thread only.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace flotilla::coordinator {

class OrderRefusals {
 public:
  static constexpr const char* kOther = "other";

  // The label value for a refusal message: a known reason's name, or "other".
  static std::string categoryOf(std::string_view message);

  void count(std::string_view message) { ++by_reason_[categoryOf(message)]; }
  const std::map<std::string, std::uint64_t>& byReason() const { return by_reason_; }

 private:
  std::map<std::string, std::uint64_t> by_reason_;
};

}  // namespace flotilla::coordinator
