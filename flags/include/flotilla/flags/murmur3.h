#pragma once
// MurmurHash3 (x86, 32-bit, seed 0) of a bucketing key, exactly as flagd's JavaScript evaluator
// computes it (@openfeature/flagd-core uses the npm package imurmurhash on a JS string). For an
// ASCII key that is the standard murmur3_32 of its bytes, the same as flagd's Go evaluator; for
// other keys imurmurhash hashes UTF-16 code units folded into bytes, and so do we, so that a key
// lands in the same bucket here and in flagd-core. Pure; any thread.

#include <cstdint>
#include <string_view>

namespace flotilla::flags {

// `utf8` is decoded to UTF-16 code units first (invalid bytes count as U+FFFD).
std::uint32_t murmur3Js(std::string_view utf8);

}  // namespace flotilla::flags
