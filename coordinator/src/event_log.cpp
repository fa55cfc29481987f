#include "flotilla/coordinator/event_log.h"

#include <spdlog/spdlog.h>

#include "flotilla/common/duration.h"

namespace flotilla::coordinator {

Status EventLog::record(const std::string& rollout_id, const std::string& kind, const std::string& agent, int wave,
                        const std::string& message, const std::string& actor) {
  EventRecord e;
  e.rollout_id = rollout_id;
  e.at_ms = common::toUnixMillis(clock_.systemNow());
  e.kind = kind;
  e.agent_id = agent;
  e.wave = wave;
  e.message = message;
  e.actor = actor;
  auto seq = append_(e);
  if (!seq) return seq.error();
  e.seq = *seq;
  spdlog::log(agent.empty() ? spdlog::level::info : spdlog::level::debug, "[{}] {}{}{}", rollout_id, kind,
              agent.empty() ? "" : " " + agent, message.empty() ? "" : ": " + message);
  publish_(e);
  return {};
}

}  // namespace flotilla::coordinator
