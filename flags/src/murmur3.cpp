#include "flotilla/flags/murmur3.h"

#include <string>

#include "flotilla/flags/js_value.h"

namespace flotilla::flags {
namespace {

std::uint32_t rotl(std::uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

std::uint32_t mixK(std::uint32_t k1) {
  k1 *= 0xcc9e2d51u;
  k1 = rotl(k1, 15);
  return k1 * 0x1b873593u;
}

// Four code units into one block, as imurmurhash folds them: each unit XORed in at its byte
// position (its high byte spilling into the next one), the fourth's high byte into byte 0.
std::uint32_t block(const std::u16string& u, size_t i) {
  std::uint32_t k1 = std::uint32_t{u[i]} ^ (std::uint32_t{u[i + 1]} << 8) ^ (std::uint32_t{u[i + 2]} << 16);
  std::uint32_t top = u[i + 3];
  return k1 ^ ((top & 0xFFu) << 24) ^ ((top & 0xFF00u) >> 8);
}

}  // namespace

std::uint32_t murmur3Js(std::string_view utf8) {
  std::u16string units = jsUtf16(utf8);
  const size_t length = units.size();
  const size_t blocks = length / 4;
  std::uint32_t h1 = 0;
  for (size_t b = 0; b < blocks; ++b) {
    h1 ^= mixK(block(units, b * 4));
    h1 = rotl(h1, 13);
    h1 = h1 * 5 + 0xe6546b64u;
  }
  std::uint32_t k1 = 0;
  size_t tail = blocks * 4;
  switch (length & 3) {
    case 3:
      k1 ^= std::uint32_t{units[tail + 2]} << 16;
      [[fallthrough]];
    case 2:
      k1 ^= std::uint32_t{units[tail + 1]} << 8;
      [[fallthrough]];
    case 1:
      k1 ^= std::uint32_t{units[tail]};
  }
  // imurmurhash mixes the tail only when it is positive as a signed 32-bit number.
  if (static_cast<std::int32_t>(k1) > 0) h1 ^= mixK(k1);
  h1 ^= static_cast<std::uint32_t>(length);
  h1 ^= h1 >> 16;
  h1 *= 0x85ebca6bu;
  h1 ^= h1 >> 13;
  h1 *= 0xc2b2ae35u;
  h1 ^= h1 >> 16;
  return h1;
}

}  // namespace flotilla::flags
