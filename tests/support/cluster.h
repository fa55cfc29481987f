#pragma once
// A real Flotilla fleet on loopback for integration tests: a coordinator and N
// agent processes in a temporary directory, ports picked at run time, driven
// through the real console (`flotilla --json`). Waits are conditions with
// deadlines, never bare sleeps.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/temp_dir.h"

namespace flotilla::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
int freeTcpPort();

// A child process with stdout+stderr appended to a log file.
class Process {
 public:
  Process() = default;
  Process(std::vector<std::string> argv, const std::filesystem::path& log);
  ~Process();
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Sends `sig` and waits up to `timeout` for exit (then SIGKILL). Returns the wait status.
  int stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(20));

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  nlohmann::json json;  // parsed stdout when it is one JSON document
};

// Runs a command to completion with captured output.
CommandResult runCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(120));

// Polls `cond` until it is true or `timeout` passes; returns its last value.
bool waitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
               std::chrono::milliseconds step = std::chrono::milliseconds(50));

std::filesystem::path binDir();     // build tree root
std::filesystem::path sourceDir();  // repository root

// True when a file named `name` exists anywhere under `root`, outside the
// src-* directories Fleet::makeRelease() builds releases from.
bool existsAnywhere(const std::filesystem::path& root, const std::string& name);

// The [waves] of a plan that moves every host at once in one wave.
inline constexpr const char* kOneWaveAllAtOnce = "sizes = [\"100%\"]\nmax_parallel = 10";

class Fleet {
 public:
  struct AgentSpec {
    AgentSpec(std::string agent_id, std::map<std::string, std::string> agent_labels = {{"role", "web"}},
              std::map<std::string, std::string> agent_vars = {})
        : id(std::move(agent_id)), labels(std::move(agent_labels)), vars(std::move(agent_vars)) {}
    AgentSpec(const char* agent_id) : AgentSpec(std::string(agent_id)) {}
    std::string id;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> vars;
  };

  Fleet();
  ~Fleet();

  const std::filesystem::path& dir() const { return tmp_.path(); }
  std::string controlEndpoint() const;
  // Where the coordinator listens for agents on loopback (coordinator.toml's
  // agents.listen as `init` wrote it).
  std::string agentsEndpoint() const;
  // The join token in the coordinator's join.toml.
  std::string joinToken() const;

  void startCoordinator(const std::vector<std::string>& extra_config_lines = {});
  void stopCoordinator(int sig = 15);
  // `flotilla-agent init` for the agent, without starting it (so a test can
  // edit its agent.toml first); throws when init fails.
  void initAgent(const AgentSpec& spec);
  // Creates the agent (init) the first time, then starts it.
  void startAgent(const AgentSpec& spec);
  // True while the agent process startAgent() started has not exited.
  bool agentRunning(const std::string& id);
  // The pid of that process (-1 when there is none).
  pid_t agentPid(const std::string& id) const;
  void stopAgent(const std::string& id, int sig = 15);
  void signalAgent(const std::string& id, int sig);
  std::filesystem::path agentDir(const std::string& id) const { return dir() / "agents" / id; }
  std::filesystem::path appsDir(const std::string& id) const { return agentDir(id) / "apps"; }
  // The release `current` points at for `app` on agent `id` ("" if none).
  std::string liveRelease(const std::string& id, const std::string& app) const;

  // `flotilla --control ... --json ARGS...`, with controlEndpoint() unless
  // setConsoleControl() named another --control.
  CommandResult console(const std::vector<std::string>& args,
                        std::chrono::milliseconds timeout = std::chrono::seconds(120));
  // Waits until every started agent is online in `flotilla agents`.
  bool waitOnline(std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits until the rollout reaches a finished state; returns its status document.
  nlohmann::json waitFinished(const std::string& rollout,
                              std::chrono::milliseconds timeout = std::chrono::seconds(120));
  nlohmann::json status(const std::string& rollout);

  // A release tarball whose health is decided by the file HEALTHY inside it
  // (exec check `test -f HEALTHY`). Returns its path.
  std::filesystem::path makeRelease(const std::string& version, bool healthy);
  // Writes a plan for `app` with the given [waves] lines and returns its path.
  std::filesystem::path writePlan(const std::string& app, const std::string& version,
                                  const std::filesystem::path& artifact, const std::string& waves_toml,
                                  const std::string& health_toml = "");

 private:
  TempDir tmp_;
  int agent_port_ = 0;
  std::string console_control_;
  Process coordinator_;
  std::map<std::string, Process> agents_;

 public:
  // Starts an agent that startAgent() created before, with extra environment
  // variables (e.g. FLOTILLA_TEST_CRASH_AT).
  void startAgentWithEnv(const AgentSpec& spec, const std::map<std::string, std::string>& env);
  // Waits up to `timeout` for agent `id` to exit by itself; returns its wait
  // status, or -1 when it is still running.
  int waitAgentExit(const std::string& id, std::chrono::milliseconds timeout);
  // Points agents initialised from now on at `endpoint` (join.toml's
  // `coordinator`), for a coordinator that listens on another address than
  // loopback (see support/netns.h).
  void setAgentEndpoint(const std::string& endpoint);
  // The --control of console() and of every helper that asks the coordinator
  // (e.g. a comma-separated list of a leader and its standbys, docs/ha.md).
  void setConsoleControl(const std::string& control) { console_control_ = control; }
  // The agent's entry in `flotilla agents` (state, releases, health...), or
  // null when the coordinator does not list it.
  nlohmann::json agentInfo(const std::string& id);
  // The agent's state in `flotilla agents` ("online", "pending", ...): "" when
  // the coordinator does not list it, "<console failed>" when the console fails.
  std::string agentState(const std::string& id);
  // The events of a rollout (`flotilla events`), oldest first; empty when the
  // console fails.
  nlohmann::json events(const std::string& rollout);
  // The phase host `host` of the rollout last reported ("" when it has none).
  std::string hostPhase(const std::string& rollout, const std::string& host);
  // How many events of the rollout are of `kind` (and about `agent`, if given).
  std::size_t countEvents(const std::string& rollout, const std::string& kind, const std::string& agent = "");
  // The release of `app` and its health as the coordinator last heard agent
  // `id` report them ("" when it has not).
  std::string reportedRelease(const std::string& id, const std::string& app);
  std::string reportedHealth(const std::string& id, const std::string& app);
  // The releases of `app` whose bin/restart ran on agent `id`, oldest first
  // (the releases makeRelease() builds append one line per restart), and the
  // last of them ("" when none).
  std::vector<std::string> restarts(const std::string& id, const std::string& app = "web") const;
  std::string lastRestart(const std::string& id, const std::string& app = "web") const;
  // `flotilla rollout PLAN`; returns the rollout id, throws with the console's
  // answer when the coordinator refuses the plan.
  std::string submit(const std::filesystem::path& plan);
  // Submits release `version` of app "web" (makeRelease) for every web host in
  // one wave, all at once; returns the rollout id.
  std::string rollOut(const std::string& version, bool healthy = true);
  // rollOut() a healthy release and wait until it succeeded; throws with the
  // rollout's status otherwise.
  void baseline(const std::string& version);
  // True when the coordinator answers the console.
  bool coordinatorUp();
  // The first event of the rollout of `kind` (any kind if "") whose message
  // contains `needle`.
  std::optional<nlohmann::json> findEvent(const std::string& rollout, const std::string& kind,
                                          const std::string& needle);
  // The ids of the rollout's hosts (`flotilla status --hosts`).
  std::vector<std::string> rolloutHosts(const std::string& rollout);
};

}  // namespace flotilla::testing
