#include "flotilla/common/result.h"

namespace flotilla {

const char* errcName(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument:
      return "invalid_argument";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kAlreadyExists:
      return "already_exists";
    case Errc::kPermission:
      return "permission";
    case Errc::kIo:
      return "io";
    case Errc::kCorrupt:
      return "corrupt";
    case Errc::kTimeout:
      return "timeout";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kConflict:
      return "conflict";
    case Errc::kRefused:
      return "refused";
    case Errc::kInternal:
      return "internal";
    case Errc::kNoSpace:
      return "no_space";
    case Errc::kPolicyDenied:
      return "policy_denied";
  }
  return "unknown";
}

Errc errcFromName(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(kLastErrc); ++i)
    if (name == errcName(static_cast<Errc>(i))) return static_cast<Errc>(i);
  return Errc::kInternal;
}

}  // namespace flotilla
