#include "flotilla/protocol/flag_app.h"

#include "flotilla/protocol/plan.h"

namespace flotilla::protocol {

std::string flagAppOf(std::string_view app) { return std::string(kFlagAppPrefix) + std::string(app); }

std::optional<std::string> flaggedApp(std::string_view order_app) {
  if (!order_app.starts_with(kFlagAppPrefix)) return std::nullopt;
  std::string_view rest = order_app.substr(kFlagAppPrefix.size());
  if (!validAppName(rest)) return std::nullopt;
  return std::string(rest);
}

bool validOrderApp(std::string_view app) { return validAppName(app) || flaggedApp(app).has_value(); }

}  // namespace flotilla::protocol
