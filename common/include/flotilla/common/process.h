#pragma once
// Runs a child process to completion with a deadline and bounded captured output.
// Used for deploy hooks, restart commands and exec health checks.
//
// Completion is the exit of the direct child, not EOF on its output: a restart
// command that starts a daemon in the background (which may inherit the pipe)
// must not make the caller wait. The child runs in its own process group; on
// timeout the whole group gets SIGKILL. Output past max_output is dropped.
// The child is started with vfork (process.cpp says why not fork or
// posix_spawn): the calling thread waits until the command has been executed.
// Safe to call from several threads at once.

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/result.h"

namespace flotilla::common {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] resolved via PATH from `env` if it has no '/'
  std::filesystem::path cwd;      // empty = inherit
  // The child's entire environment (a clean one: nothing is inherited).
  std::map<std::string, std::string> env;
  std::optional<std::string> run_as;  // user name; requires root unless it is the current user
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::size_t max_output = 64 * 1024;  // stdout and stderr interleaved
};

struct ProcessResult {
  int exit_code = -1;  // valid when signal == 0 and !timed_out
  int signal = 0;      // the signal that ended it, 0 if it exited
  bool timed_out = false;
  std::string output;  // combined stdout+stderr, at most max_output bytes
  bool truncated = false;
  // The limit that was exceeded when timed_out (spec.timeout), kept so describe()
  // can say "timed out after 5s" without the spec at hand.
  std::chrono::milliseconds timed_out_after{0};

  bool success() const { return !timed_out && signal == 0 && exit_code == 0; }
  // "exit 3", "killed by signal 9", "timed out after 5s"
  std::string describe() const;
};

// Error only when the process could not be started (vfork, the user lookup);
// a non-zero exit is a successful Result with exit_code set.
Result<ProcessResult> runProcess(const ProcessSpec& spec);

// A minimal environment for children: PATH, HOME, LANG=C.UTF-8.
std::map<std::string, std::string> baseEnvironment();

}  // namespace flotilla::common
