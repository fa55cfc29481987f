#pragma once
// Catch2 prints order phases by name in failure messages.

#include <catch2/catch.hpp>
#include <string>

#include "flotilla/protocol/messages.h"

namespace Catch {
template <>
struct StringMaker<flotilla::protocol::Phase> {
  static std::string convert(flotilla::protocol::Phase p) { return flotilla::protocol::toString(p); }
};
}  // namespace Catch
