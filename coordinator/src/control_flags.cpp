// The control API's flag commands (docs/flags.md); the work is FlagRollouts'
// (flag_rollouts.h), the gates and the start ControlApi's, as for `rollout`.
#include <spdlog/spdlog.h>

#include "flotilla/coordinator/control_api.h"
#include "flotilla/coordinator/control_docs.h"
#include "flotilla/coordinator/flag_rollouts.h"
#include "flotilla/protocol/control_flags.h"

namespace flotilla::coordinator {

using nlohmann::json;
namespace control = protocol::control;

namespace {

json errorJson(const Error& e) { return control::ErrorReply{errcName(e.code), e.message}; }

}  // namespace

json ControlApi::flagsPush(const Call& c) {
  const auto r = c.req.get<control::FlagsPushRequest>();
  auto start = flags_->push(r, c.actor);
  if (!start) {
    spdlog::warn("flag push of {} by {} refused: {}", r.app, c.actor, start.error().message);
    return errorJson(start.error());
  }
  return admitAndStart(std::move(*start), c, r.break_glass);
}

json ControlApi::flagsKill(const Call& c) {
  const auto r = c.req.get<control::FlagsKillRequest>();
  auto id = flags_->kill(r, c.actor);
  if (!id) return errorJson(id.error());
  return control::RolloutReply{statusDoc(*ctx_.findRollout(*id), false, ctx_.steadyNow())};
}

json ControlApi::flagsShow(const Call& c) {
  auto reply = flags_->show(c.req.get<control::FlagsShowRequest>());
  if (!reply) return errorJson(reply.error());
  return *reply;
}

json ControlApi::flagsHistory(const Call& c) {
  auto reply = flags_->history(c.req.get<control::FlagsHistoryRequest>());
  if (!reply) return errorJson(reply.error());
  return *reply;
}

}  // namespace flotilla::coordinator
