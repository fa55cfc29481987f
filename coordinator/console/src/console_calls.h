#pragma once
// The templates of Console (commands.h) that its command files share:
// guarded (a reply that does not fit is an error, not an exception) and call
// (send a request, read its reply as T). Private to the console's sources.

#include <optional>

#include "flotilla/console/commands.h"
#include "flotilla/console/render.h"

namespace flotilla::console {

template <typename F>
int Console::guarded(F&& body) {
  try {
    return body();
  } catch (const json::exception& e) {
    return fail(Error(Errc::kCorrupt, std::string("unexpected reply from the coordinator: ") + e.what()),
                kExitUnreachable);
  }
}

template <typename T>
std::optional<T> Console::call(json req, int& rc) {
  auto reply = request(std::move(req));
  if (!reply) {
    rc = fail(reply.error());
    return std::nullopt;
  }
  auto parsed = protocol::control::parseReply<T>(*reply);
  if (!parsed) {
    // The coordinator broke the protocol: not the operator's doing.
    rc = fail(parsed.error(), kExitUnreachable);
    return std::nullopt;
  }
  return std::move(*parsed);
}

}  // namespace flotilla::console
