#include "flotilla/common/process.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/temp_dir.h"

using namespace flotilla::common;
using flotilla::Errc;
using namespace std::chrono_literals;

namespace {

using flotilla::testing::TempDir;

ProcessSpec specOf(std::vector<std::string> argv) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.env = baseEnvironment();
  spec.timeout = 20s;
  return spec;
}

ProcessSpec shell(const std::string& script) { return specOf({"/bin/sh", "-c", script}); }

ProcessResult mustRun(const ProcessSpec& spec) {
  auto result = runProcess(spec);
  if (!result.ok()) FAIL("runProcess failed: " << result.error().message);
  return *result;
}

std::optional<pid_t> readPidFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

// Gone or a zombie: either way it no longer runs. (A reparented zombie may wait
// for a PID 1 that never reaps, so "gone" alone would be too strict.)
bool processEnded(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return true;
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  auto close_paren = stat.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= stat.size() || stat[close_paren + 2] == 'Z' ||
         stat[close_paren + 2] == 'X';
}

bool waitUntilEnded(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (processEnded(pid)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return processEnded(pid);
}

// Kills a background process a test started, whatever the test's outcome.
struct PidFileReaper {
  std::filesystem::path path;
  ~PidFileReaper() {
    if (auto pid = readPidFile(path)) ::kill(*pid, SIGKILL);
  }
};

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("a zero exit is success", "[process]") {
  auto r = mustRun(specOf({"true"}));
  REQUIRE(r.success());
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.describe() == "exit 0");
}

TEST_CASE("the exit code is reported", "[process]") {
  auto r = mustRun(shell("exit 3"));
  REQUIRE_FALSE(r.success());
  REQUIRE(r.exit_code == 3);
  REQUIRE(r.signal == 0);
  REQUIRE_FALSE(r.timed_out);
  REQUIRE(r.describe() == "exit 3");
}

TEST_CASE("death by signal is reported", "[process]") {
  auto r = mustRun(shell("kill -9 $$"));
  REQUIRE_FALSE(r.success());
  REQUIRE(r.signal == SIGKILL);
  REQUIRE(r.describe() == "killed by signal 9");
}

TEST_CASE("a timeout kills the command promptly", "[process]") {
  auto spec = specOf({"sleep", "30"});
  spec.timeout = 200ms;
  auto start = std::chrono::steady_clock::now();
  auto r = mustRun(spec);
  REQUIRE(secondsSince(start) < 5.0);
  REQUIRE(r.timed_out);
  REQUIRE_FALSE(r.success());
  REQUIRE(r.describe() == "timed out after 200ms");
}

TEST_CASE("a timeout kills the whole process group", "[process]") {
  TempDir dir;
  auto pidfile = dir.path() / "bg.pid";
  PidFileReaper reaper{pidfile};
  auto spec = shell("sleep 30 & echo $! > '" + pidfile.string() + "'; exec sleep 30");
  spec.timeout = 1500ms;
  auto r = mustRun(spec);
  REQUIRE(r.timed_out);
  auto pid = readPidFile(pidfile);
  REQUIRE(pid.has_value());
  REQUIRE(waitUntilEnded(*pid, 5s));
}

TEST_CASE("describe formats the outcome", "[process]") {
  ProcessResult exited;
  exited.exit_code = 3;
  REQUIRE(exited.describe() == "exit 3");
  ProcessResult signalled;
  signalled.signal = 15;
  REQUIRE(signalled.describe() == "killed by signal 15");
  ProcessResult timed_out;
  timed_out.timed_out = true;
  timed_out.signal = 9;
  timed_out.timed_out_after = 5s;
  REQUIRE(timed_out.describe() == "timed out after 5s");
  timed_out.timed_out_after = 1500ms;
  REQUIRE(timed_out.describe() == "timed out after 1500ms");
}

TEST_CASE("stdout and stderr are captured together in order", "[process]") {
  auto r = mustRun(shell("echo out; echo err >&2; echo out2"));
  REQUIRE(r.output == "out\nerr\nout2\n");
  REQUIRE_FALSE(r.truncated);
}

TEST_CASE("output larger than the pipe buffer is captured whole", "[process]") {
  auto spec = shell("head -c 200000 /dev/zero | tr '\\0' a");
  spec.max_output = 1024 * 1024;
  auto r = mustRun(spec);
  REQUIRE(r.success());
  REQUIRE(r.output == std::string(200000, 'a'));
  REQUIRE_FALSE(r.truncated);
}

TEST_CASE("output past max_output is dropped and flagged, and the command still finishes", "[process]") {
  auto spec = shell("head -c 200000 /dev/zero | tr '\\0' a; echo done >&2");
  spec.max_output = 1000;
  auto r = mustRun(spec);
  REQUIRE(r.success());
  REQUIRE(r.output == std::string(1000, 'a'));
  REQUIRE(r.truncated);
}

TEST_CASE("output of exactly max_output is not truncated", "[process]") {
  auto spec = shell("printf abcd");
  spec.max_output = 4;
  auto r = mustRun(spec);
  REQUIRE(r.output == "abcd");
  REQUIRE_FALSE(r.truncated);
  spec.max_output = 3;
  r = mustRun(spec);
  REQUIRE(r.output == "abc");
  REQUIRE(r.truncated);
}

TEST_CASE("the child sees exactly the given environment", "[process]") {
  ::setenv("FLOTILLA_PARENT_ONLY", "leak", 1);
  ProcessSpec spec;
  spec.argv = {"/usr/bin/env"};
  spec.env = {{"FOO", "bar"}, {"ONLY", "this one"}};
  auto r = mustRun(spec);
  ::unsetenv("FLOTILLA_PARENT_ONLY");
  REQUIRE(r.success());
  REQUIRE(r.output == "FOO=bar\nONLY=this one\n");
}

TEST_CASE("baseEnvironment holds PATH, HOME and LANG only", "[process]") {
  auto env = baseEnvironment();
  REQUIRE(env.size() == 3);
  REQUIRE(env.at("PATH") == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  REQUIRE(env.at("LANG") == "C.UTF-8");
  REQUIRE_FALSE(env.at("HOME").empty());
}

TEST_CASE("the command is looked up in the PATH of the given environment", "[process]") {
  auto spec = specOf({"sh", "-c", "true"});
  spec.env["PATH"] = "/nonexistent-flotilla-dir";
  auto r = mustRun(spec);
  REQUIRE(r.exit_code == 127);
  REQUIRE_THAT(r.output, Catch::Contains("'sh': command not found"));
}

TEST_CASE("the working directory is honoured", "[process]") {
  TempDir dir;
  auto spec = specOf({"pwd"});
  spec.cwd = dir.path();
  auto r = mustRun(spec);
  REQUIRE(r.success());
  REQUIRE(r.output == std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST_CASE("a missing working directory fails the command with a message", "[process]") {
  TempDir dir;
  auto spec = specOf({"true"});
  spec.cwd = dir.path() / "missing";
  auto r = mustRun(spec);
  REQUIRE(r.exit_code == 127);
  REQUIRE_THAT(r.output, Catch::Contains("cannot change directory"));
  REQUIRE_THAT(r.output, Catch::Contains((dir.path() / "missing").string()));
}

TEST_CASE("a background daemon holding the output pipe does not delay completion", "[process]") {
  TempDir dir;
  auto pidfile = dir.path() / "daemon.pid";
  PidFileReaper reaper{pidfile};
  auto start = std::chrono::steady_clock::now();
  auto r = mustRun(shell("sleep 30 & echo $! > '" + pidfile.string() + "'; echo started"));
  REQUIRE(secondsSince(start) < 5.0);
  REQUIRE(r.success());
  REQUIRE(r.output == "started\n");
  // The daemon must survive its starter: restart scripts rely on that.
  auto pid = readPidFile(pidfile);
  REQUIRE(pid.has_value());
  REQUIRE_FALSE(processEnded(*pid));
}

TEST_CASE("a missing command exits 127 with a message", "[process]") {
  auto r = mustRun(specOf({"flotilla-no-such-command"}));
  REQUIRE(r.exit_code == 127);
  REQUIRE_THAT(r.output, Catch::Contains("flotilla-no-such-command"));
  REQUIRE_THAT(r.output, Catch::Contains("not found"));
}

TEST_CASE("a missing absolute path exits 127 with the OS reason", "[process]") {
  auto r = mustRun(specOf({"/nonexistent/flotilla-cmd"}));
  REQUIRE(r.exit_code == 127);
  REQUIRE_THAT(r.output, Catch::Contains("cannot execute '/nonexistent/flotilla-cmd'"));
  REQUIRE_THAT(r.output, Catch::Contains("No such file or directory"));
}

TEST_CASE("a file without execute permission exits 127 with the OS reason", "[process]") {
  TempDir dir;
  auto script = dir.path() / "hook.sh";
  std::ofstream(script) << "#!/bin/sh\necho ran\n";
  REQUIRE(::chmod(script.c_str(), 0644) == 0);
  auto r = mustRun(specOf({script.string()}));
  REQUIRE(r.exit_code == 127);
  REQUIRE_THAT(r.output, Catch::Contains("Permission denied"));
}

TEST_CASE("stdin is /dev/null", "[process]") {
  auto start = std::chrono::steady_clock::now();
  auto r = mustRun(specOf({"cat"}));
  REQUIRE(secondsSince(start) < 5.0);
  REQUIRE(r.success());
  REQUIRE(r.output.empty());
}

TEST_CASE("the parent's file descriptors are not inherited", "[process]") {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  REQUIRE(fd >= 3);
  auto fd_path = "/proc/self/fd/" + std::to_string(fd);
  auto r = mustRun(shell("if [ -e " + fd_path + " ]; then echo leaked; else echo closed; fi"));
  ::close(fd);
  REQUIRE(r.output == "closed\n");
}

TEST_CASE("ignored signals are reset to default in the child", "[process]") {
  struct sigaction ignore {};
  struct sigaction old {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGPIPE, &ignore, &old) == 0);
  auto r = runProcess(shell("kill -PIPE $$; echo survived"));
  ::sigaction(SIGPIPE, &old, nullptr);
  REQUIRE(r.ok());
  REQUIRE(r->signal == SIGPIPE);
}

TEST_CASE("blocked signals are unblocked in the child", "[process]") {
  sigset_t block;
  sigset_t old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &block, &old) == 0);
  auto r = runProcess(shell("kill -USR1 $$; echo survived"));
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  REQUIRE(r.ok());
  REQUIRE(r->signal == SIGUSR1);
}

TEST_CASE("an empty argv is an error", "[process]") {
  ProcessSpec spec;
  auto r = runProcess(spec);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().code == Errc::kInvalidArgument);
}

TEST_CASE("an environment name containing '=' is an error", "[process]") {
  auto spec = specOf({"true"});
  spec.env["A=B"] = "c";
  auto r = runProcess(spec);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().code == Errc::kInvalidArgument);
}

TEST_CASE("run_as an unknown user is an error", "[process]") {
  auto spec = specOf({"true"});
  spec.run_as = "flotilla-no-such-user";
  auto r = runProcess(spec);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().code == Errc::kNotFound);
  REQUIRE_THAT(r.error().message, Catch::Contains("flotilla-no-such-user"));
}

TEST_CASE("run_as the current user runs without switching", "[process]") {
  passwd* me = ::getpwuid(::geteuid());
  REQUIRE(me != nullptr);
  auto spec = specOf({"id", "-u"});
  spec.run_as = std::string(me->pw_name);
  auto r = mustRun(spec);
  REQUIRE(r.success());
  REQUIRE(r.output == std::to_string(::geteuid()) + "\n");
}

TEST_CASE("run_as another user switches uid and groups, or needs root", "[process]") {
  passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) return;  // no such account on this machine: nothing to test against
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nobody->pw_gid;
  auto spec = specOf({"/bin/sh", "-c", "id -u; id -G"});
  spec.run_as = "nobody";
  auto r = runProcess(spec);
  if (::geteuid() == 0) {
    REQUIRE(r.ok());
    REQUIRE(r->output == std::to_string(uid) + "\n" + std::to_string(gid) + "\n");
  } else {
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error().code == Errc::kPermission);
  }
}

// ---------------------------------------------------------------------------
// vfork: the child borrows the caller's memory until it executes the command,
// so nothing it does before then may reach the caller.

TEST_CASE("the caller's signal mask is the same after a command", "[process]") {
  sigset_t block;
  sigset_t before;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &block, &before) == 0);
  sigset_t expected;
  REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &expected) == 0);
  auto r = mustRun(shell("true"));
  sigset_t after;
  REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &after) == 0);
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  REQUIRE(r.success());
  for (int sig = 1; sig < NSIG; ++sig) {
    INFO("signal " << sig);
    CHECK(sigismember(&after, sig) == sigismember(&expected, sig));
  }
}

namespace {
volatile sig_atomic_t g_handled = 0;
void countSignal(int) { g_handled = g_handled + 1; }
}  // namespace

TEST_CASE("a signal the caller handles has its default action in the child", "[process]") {
  struct sigaction handle {};
  struct sigaction old {};
  handle.sa_handler = countSignal;
  REQUIRE(::sigaction(SIGUSR1, &handle, &old) == 0);
  g_handled = 0;
  auto r = runProcess(shell("kill -USR1 $$; echo survived"));
  ::sigaction(SIGUSR1, &old, nullptr);
  REQUIRE(r.ok());
  CHECK(r->signal == SIGUSR1);
  CHECK(g_handled == 0);
}

TEST_CASE("commands run from several threads at once each get their own result", "[process]") {
  constexpr int kThreads = 4;
  constexpr int kRuns = 10;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < kRuns; ++i) {
        const std::string word = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto r = runProcess(shell("echo " + word + "; exit " + std::to_string(t + 1)));
        if (!r.ok()) {
          failures[t] = r.error().message;
        } else if (r->output != word + "\n" || r->exit_code != t + 1) {
          failures[t] = word + ": got '" + r->output + "', " + r->describe();
        }
        if (!failures[t].empty()) return;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& f : failures) CHECK(f.empty());
}

namespace {
// The effective uid of every thread of this process, from /proc/self/task.
std::vector<std::string> threadUids() {
  std::vector<std::string> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("Uid:", 0) == 0) out.push_back(task.path().filename().string() + " " + line);
  }
  return out;
}
}  // namespace

TEST_CASE("run_as another user leaves the caller's threads with their own credentials", "[process]") {
  passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr || ::geteuid() != 0) return;  // needs root and an account to switch to
  // A second thread, as the agent has: the child borrows the caller's memory,
  // and its switch to run_as must change the child alone.
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread other([&] {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return stop; });
  });
  const auto before = threadUids();
  auto spec = specOf({"id", "-u"});
  spec.run_as = "nobody";
  auto r = runProcess(spec);
  const auto after = threadUids();
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_one();
  other.join();
  REQUIRE(r.ok());
  CHECK(r->output == std::to_string(nobody->pw_uid) + "\n");
  CHECK(before.size() >= 2);
  CHECK(after == before);
  CHECK(::geteuid() == 0);
}
