// The console's flag commands (commands.h, docs/flags.md).
#include <fstream>
#include <sstream>

#include "console_calls.h"
#include "flotilla/common/fs.h"
#include "flotilla/console/commands.h"
#include "flotilla/console/render.h"
#include "flotilla/flags/flag_set.h"
#include "flotilla/protocol/control_flags.h"

namespace flotilla::console {

namespace control = protocol::control;

namespace {

// The largest flag set a push carries (the coordinator takes no more: flag_plan.h).
constexpr std::size_t kMaxFlagSetBytes = std::size_t{1} << 20;

std::size_t hostsOf(const control::RolloutStatus& status) {
  std::size_t n = 0;
  for (const auto& w : status.waves) n += w.hosts;
  return n;
}

}  // namespace

int Console::flagsPush(const std::string& app, const std::string& file, const std::vector<std::string>& waves,
                       const std::string& bake, bool watch, const std::string& break_glass) {
  return guarded([&] {
    auto text = common::readFile(file, kMaxFlagSetBytes);
    if (!text) return fail(text.error().context(file), kExitUsage);
    if (auto set = flags::FlagSet::parse(*text); !set) return fail(set.error().context(file), kExitUsage);
    control::FlagsPushRequest req{app,   *text, std::filesystem::path(file).filename().string(),
                                  waves, bake,  break_glass};
    const auto submitted = common::SteadyClock::now();
    int rc = kExitOk;
    auto reply = call<control::RolloutReply>(req, rc);
    if (!reply) return rc;
    const control::RolloutStatus& status = reply->rollout;
    const std::string line = "flag rollout " + sanitize(status.id) + " submitted: " + sanitize(app) + " flag set " +
                             sanitize(status.version) + " to " + std::to_string(hostsOf(status)) + " hosts in " +
                             std::to_string(status.waves.size()) + " waves";
    if (watch) {
      if (!options_.json) out_ << line << "\n";
      return watchLoop(status.id, "succeeded", submitted);
    }
    rc = printRolloutReply(status, line);
    if (!options_.json) out_ << "follow it with: flotilla watch " << sanitize(status.id) << "\n";
    return rc;
  });
}

int Console::flagsKill(const std::string& app, const std::string& flag, const std::string& variant, bool watch) {
  return guarded([&] {
    const auto submitted = common::SteadyClock::now();
    int rc = kExitOk;
    auto reply = call<control::RolloutReply>(control::FlagsKillRequest{app, flag, variant}, rc);
    if (!reply) return rc;
    const control::RolloutStatus& status = reply->rollout;
    const std::string line = "flag " + sanitize(flag) + " of " + sanitize(app) + " killed: rollout " +
                             sanitize(status.id) + " (flag set " + sanitize(status.version) + ") to " +
                             std::to_string(hostsOf(status)) + " hosts at once";
    if (watch) {
      if (!options_.json) out_ << line << "\n";
      return watchLoop(status.id, "succeeded", submitted);
    }
    return printRolloutReply(status, line);
  });
}

int Console::flagsShow(const std::string& app, const std::string& host) {
  return guarded([&] {
    int rc = kExitOk;
    auto reply = call<control::FlagsShowReply>(control::FlagsShowRequest{app, host}, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    out_ << renderFlagsShow(*reply, !host.empty() && !reply->hosts.empty());
    return kExitOk;
  });
}

int Console::flagsHistory(const std::string& app, std::int64_t limit) {
  return guarded([&] {
    int rc = kExitOk;
    auto reply = call<control::FlagsHistoryReply>(control::FlagsHistoryRequest{app, limit}, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    if (reply->rollouts.empty()) {
      out_ << "no flag rollouts of " << sanitize(app) << " yet\n";
      return kExitOk;
    }
    out_ << renderFlagsHistory(*reply);
    return kExitOk;
  });
}

}  // namespace flotilla::console
