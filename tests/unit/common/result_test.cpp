// Error codes cross processes by name (the control protocol's "code"): every
// code has a name of its own, and the name reads back as the same code.
#include "flotilla/common/result.h"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using flotilla::Errc;
using flotilla::errcFromName;
using flotilla::errcName;
using flotilla::kLastErrc;

TEST_CASE("every error code has its own name and reads back from it", "[common][result]") {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(kLastErrc); ++i) {
    const auto code = static_cast<Errc>(i);
    const std::string name = errcName(code);
    INFO(name);
    CHECK(name != "unknown");
    CHECK(names.insert(name).second);
    CHECK(errcFromName(name) == code);
  }
  CHECK(errcFromName("no_space") == Errc::kNoSpace);
  CHECK(errcFromName("policy_denied") == Errc::kPolicyDenied);
}

TEST_CASE("an error code name this build does not know reads as internal", "[common][result]") {
  CHECK(errcFromName("quota_exceeded") == Errc::kInternal);
  CHECK(errcFromName("") == Errc::kInternal);
}
