#pragma once
// Time as an input. Every interval and deadline uses steady time; system time
// is only for timestamps people read or that are stored. State machines take a
// Clock (or a `now`) so tests drive them with tests/support/fake_clock.h.

#include <chrono>

namespace flotilla::common {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;
using SysTime = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime steadyNow() const = 0;
  virtual SysTime systemNow() const = 0;
};

class RealClock final : public Clock {
 public:
  SteadyTime steadyNow() const override { return SteadyClock::now(); }
  SysTime systemNow() const override { return std::chrono::system_clock::now(); }
  static const RealClock& instance() {
    static const RealClock clock;
    return clock;
  }
};

}  // namespace flotilla::common
