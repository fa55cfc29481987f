#pragma once
#include "flotilla/common/clock.h"

namespace flotilla::testing {

// A clock that moves only when the test says so.
class FakeClock final : public common::Clock {
 public:
  common::SteadyTime steadyNow() const override { return steady_; }
  common::SysTime systemNow() const override { return system_; }
  void advance(common::Millis d) {
    steady_ += d;
    system_ += d;
  }
  void setSystem(common::SysTime t) { system_ = t; }

 private:
  common::SteadyTime steady_{std::chrono::hours(1000)};
  common::SysTime system_{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};
};

}  // namespace flotilla::testing
