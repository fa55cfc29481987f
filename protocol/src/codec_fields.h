#pragma once
// The codec's building blocks (internal to flotilla_protocol): the unpack
// limits, the error a decoder throws inside the codec, writers for common
// fields, FieldReader for fixed-length bodies, and the envelope
// [version, type, body]. codec.cpp encodes and decodes the messages with them;
// codec_analysis.cpp the analysis messages (SampleRequest, Samples).

#include <msgpack.hpp>

#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flotilla/protocol/messages.h"

namespace flotilla::protocol::codec {

// Unpack limits: no legitimate message has more than a few thousand elements
// or nests deeper than a handful of levels. These stop size bombs (an array
// header claiming 2^32 elements) before anything is allocated.
inline const msgpack::unpack_limit kLimits(/*array=*/4096, /*map=*/1024, /*str=*/1 << 20,
                                           /*bin=*/1 << 20, /*ext=*/0, /*depth=*/8);

// Thrown only inside this file; converted to Error at the decode boundary.
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using Packer = msgpack::packer<msgpack::sbuffer>;

inline void packStr(Packer& p, std::string_view s) {
  p.pack_str(static_cast<std::uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}
inline void packBin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<std::uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<std::uint32_t>(s.size()));
}
inline void packMap(Packer& p, const StringMap& m) {
  p.pack_map(static_cast<std::uint32_t>(m.size()));
  for (const auto& [k, v] : m) {
    packStr(p, k);
    packStr(p, v);
  }
}
inline void packArgv(Packer& p, const std::vector<std::string>& argv) {
  p.pack_array(static_cast<std::uint32_t>(argv.size()));
  for (const auto& a : argv) packStr(p, a);
}
inline void packMillis(Packer& p, common::Millis d) { p.pack_int64(d.count()); }

// Reads the fields of one fixed-length msgpack array in order.
class FieldReader {
 public:
  FieldReader(const msgpack::object& o, std::size_t expected, const char* what) : what_(what) {
    if (o.type != msgpack::type::ARRAY) fail("expected an array");
    if (o.via.array.size != expected)
      fail("expected " + std::to_string(expected) + " fields, got " + std::to_string(o.via.array.size));
    arr_ = o.via.array.ptr;
    size_ = o.via.array.size;
  }
  // A body that grew fields at its end: between `min` and `max` fields, the
  // later ones read only while more() is true.
  FieldReader(const msgpack::object& o, std::size_t min, std::size_t max, const char* what) : what_(what) {
    if (o.type != msgpack::type::ARRAY) fail("expected an array");
    if (o.via.array.size < min || o.via.array.size > max)
      fail("expected " + std::to_string(min) + " to " + std::to_string(max) + " fields, got " +
           std::to_string(o.via.array.size));
    arr_ = o.via.array.ptr;
    size_ = o.via.array.size;
  }
  bool more() const { return pos_ < size_; }

  const msgpack::object& next() {
    if (pos_ >= size_) fail("missing field");
    return arr_[pos_++];
  }
  std::string str() {
    const auto& o = next();
    if (o.type != msgpack::type::STR) fail(fieldName() + ": expected a string");
    return std::string(o.via.str.ptr, o.via.str.size);
  }
  std::string bin() {
    const auto& o = next();
    if (o.type != msgpack::type::BIN) fail(fieldName() + ": expected bytes");
    return std::string(o.via.bin.ptr, o.via.bin.size);
  }
  std::uint64_t u64() {
    const auto& o = next();
    if (o.type != msgpack::type::POSITIVE_INTEGER) fail(fieldName() + ": expected an unsigned integer");
    return o.via.u64;
  }
  std::int64_t i64() {
    const auto& o = next();
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
      if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(fieldName() + ": integer out of range");
      return static_cast<std::int64_t>(o.via.u64);
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    fail(fieldName() + ": expected an integer");
  }
  double f64() {
    const auto& o = next();
    if (o.type == msgpack::type::FLOAT64 || o.type == msgpack::type::FLOAT32) return o.via.f64;
    if (o.type == msgpack::type::POSITIVE_INTEGER) return static_cast<double>(o.via.u64);
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return static_cast<double>(o.via.i64);
    fail(fieldName() + ": expected a number");
  }
  // The elements of an array field, at most `max_size`.
  std::pair<const msgpack::object*, std::size_t> array(std::size_t max_size) {
    const auto& o = next();
    if (o.type != msgpack::type::ARRAY) fail(fieldName() + ": expected an array");
    if (o.via.array.size > max_size) fail(fieldName() + ": more than " + std::to_string(max_size) + " elements");
    return {o.via.array.ptr, o.via.array.size};
  }
  bool boolean() {
    const auto& o = next();
    if (o.type != msgpack::type::BOOLEAN) fail(fieldName() + ": expected a boolean");
    return o.via.boolean;
  }
  StringMap map() {
    const auto& o = next();
    if (o.type != msgpack::type::MAP) fail(fieldName() + ": expected a map");
    StringMap m;
    for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
      const auto& kv = o.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR || kv.val.type != msgpack::type::STR)
        fail(fieldName() + ": map entries must be strings");
      std::string key(kv.key.via.str.ptr, kv.key.via.str.size);
      if (!m.emplace(std::move(key), std::string(kv.val.via.str.ptr, kv.val.via.str.size)).second)
        fail(fieldName() + ": duplicate key");
    }
    return m;
  }
  std::vector<std::string> strings() {
    const auto& o = next();
    if (o.type != msgpack::type::ARRAY) fail(fieldName() + ": expected an array of strings");
    std::vector<std::string> out;
    out.reserve(o.via.array.size);
    for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
      const auto& e = o.via.array.ptr[i];
      if (e.type != msgpack::type::STR) fail(fieldName() + ": expected an array of strings");
      out.emplace_back(e.via.str.ptr, e.via.str.size);
    }
    return out;
  }
  common::Millis millis() {
    auto v = i64();
    if (v < 0) fail(fieldName() + ": negative duration");
    return common::Millis(v);
  }

  [[noreturn]] void fail(const std::string& msg) const { throw DecodeError(std::string(what_) + ": " + msg); }

 private:
  std::string fieldName() const { return "field " + std::to_string(pos_ - 1); }

  const char* what_;
  const msgpack::object* arr_ = nullptr;
  std::size_t size_ = 0;
  std::size_t pos_ = 0;
};

// Unpacks exactly one msgpack value that spans all of `bytes`.
inline msgpack::object_handle unpackWhole(std::string_view bytes) {
  std::size_t off = 0;
  msgpack::object_handle h;
  try {
    h = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, kLimits);
  } catch (const msgpack::insufficient_bytes&) {
    throw DecodeError("truncated message");
  } catch (const std::bad_alloc&) {
    throw DecodeError("message too large");
  } catch (const std::exception& e) {
    throw DecodeError(std::string("malformed msgpack: ") + e.what());
  }
  if (off != bytes.size())
    throw DecodeError("trailing bytes after message (" + std::to_string(bytes.size() - off) + ")");
  return h;
}

template <typename Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const DecodeError& e) {
    return Error(Errc::kCorrupt, e.what());
  } catch (const std::exception& e) {
    return Error(Errc::kCorrupt, std::string("malformed message: ") + e.what());
  }
}

inline std::string finish(const msgpack::sbuffer& buf) { return std::string(buf.data(), buf.size()); }

// One message: [version, type, body], the body packed by `pack_body(Packer&)`.
template <typename PackBody>
std::string encodeEnvelope(MsgType type, PackBody&& pack_body) {
  msgpack::sbuffer buf;
  Packer p(buf);
  p.pack_array(3);
  p.pack_uint32(kProtocolVersion);
  p.pack_uint8(static_cast<std::uint8_t>(type));
  pack_body(p);
  return finish(buf);
}

// The analysis bodies the decoders dispatch to (codec_analysis.cpp).
SampleRequest readSampleRequest(const msgpack::object& o);
Samples readSamples(const msgpack::object& o);

}  // namespace flotilla::protocol::codec
