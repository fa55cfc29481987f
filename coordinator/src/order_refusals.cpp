#include "flotilla/coordinator/order_refusals.h"

#include "flotilla/protocol/words.h"

namespace flotilla::coordinator {

std::string OrderRefusals::categoryOf(std::string_view message) {
  const auto colon = message.find(':');
  const auto head = colon == std::string_view::npos ? message : message.substr(0, colon);
  if (auto reason = protocol::refusalReasonFromString(head)) return protocol::toString(*reason);
  return kOther;
}

}  // namespace flotilla::coordinator
