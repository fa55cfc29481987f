#pragma once
// Result<T>: the value of an operation that can fail in an expected way.
// Shaped like std::expected: either a T or an Error with a code and a message a
// person can act on ("plan.toml:3:1: waves.sizes: ..."). Exceptions never cross
// a module boundary; adapters around throwing libraries convert to Error.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace flotilla {

enum class Errc {
  kInvalidArgument,  // bad input from a user or a peer
  kNotFound,
  kAlreadyExists,
  kPermission,  // refused by policy or by the OS
  kIo,          // an OS call failed
  kCorrupt,     // stored or received data is malformed
  kTimeout,
  kUnavailable,  // the other side is unreachable
  kConflict,     // the request conflicts with current state
  kRefused,      // a peer refused (signature, enrollment, order checks)
  kInternal,
  kNoSpace,       // the file system is full (space, inodes or quota)
  kPolicyDenied,  // a policy gate refused the request (docs/policy.md)
};
// The last code: a new one goes above it, and this names the new last.
inline constexpr Errc kLastErrc = Errc::kPolicyDenied;

// The code's name on the wire ("invalid_argument", "no_space", ...).
const char* errcName(Errc code);
// The code with that name; an unknown name (from a newer peer) is kInternal.
Errc errcFromName(std::string_view name);

struct Error {
  Errc code = Errc::kInternal;
  std::string message;

  Error() = default;
  Error(Errc c, std::string m) : code(c), message(std::move(m)) {}

  // The same error with more context in front: "loading agent.toml: <message>".
  Error context(const std::string& prefix) const { return Error(code, prefix + ": " + message); }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return err_;
  }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() { return Status(); }

}  // namespace flotilla

// Propagate an error from an expression returning Result/Status.
#define FLOTILLA_TRY(expr)                                               \
  do {                                                                   \
    auto&& flotilla_try_result_ = (expr);                                \
    if (!flotilla_try_result_.ok()) return flotilla_try_result_.error(); \
  } while (0)
