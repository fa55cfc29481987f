#include "flotilla/common/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace flotilla::common {
namespace {

using std::chrono::milliseconds;

// Shell convention for "could not run the command"; the message in the output
// says which step failed.
constexpr int kExecFailedExit = 127;
// Without a pidfd, the child's exit is noticed by polling waitpid this often.
constexpr int kFallbackPollMs = 10;
constexpr std::size_t kReadChunk = std::size_t{16} * 1024;

Error osError(const std::string& what, int err) {
  return Error(err == EACCES || err == EPERM ? Errc::kPermission : Errc::kIo, what + ": " + std::strerror(err));
}

struct UserSwitch {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Resolved in the parent: NSS lookups are not async-signal-safe, so the child
// (vforked from a multi-threaded daemon) only makes the raw set*id calls.
// Returns nullopt when the caller already is that user.
Result<std::optional<UserSwitch>> lookupUser(const std::string& name) {
  long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) return osError("looking up user '" + name + "'", rc);
  if (found == nullptr) return Error(Errc::kNotFound, "unknown user '" + name + "'");
  if (pw.pw_uid == ::geteuid()) return std::optional<UserSwitch>();
  if (::geteuid() != 0) {
    return Error(Errc::kPermission, "running a command as user '" + name + "' requires root");
  }
  UserSwitch user{pw.pw_uid, pw.pw_gid, {}};
  // getgrouplist + setgroups is initgroups split at the vfork: the lookup here,
  // the syscall in the child.
  user.groups.resize(32);
  for (;;) {
    int n = static_cast<int>(user.groups.size());
    if (::getgrouplist(name.c_str(), pw.pw_gid, user.groups.data(), &n) >= 0) {
      user.groups.resize(static_cast<std::size_t>(n));
      break;
    }
    user.groups.resize(std::max(static_cast<std::size_t>(n), user.groups.size() * 2));
  }
  return std::optional<UserSwitch>(std::move(user));
}

// Everything the child needs, prepared before vfork so the child allocates nothing.
struct ChildPlan {
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  std::vector<const char*> candidates;  // paths to try with execve, in order
  bool searched_path = false;           // argv[0] had no '/'
  const char* cwd = nullptr;            // nullptr: inherit
  const UserSwitch* user = nullptr;
  const char* user_name = nullptr;
  int out_fd = -1;
};

void writeStr(int fd, const char* s) {
  std::size_t len = std::strlen(s);
  while (len > 0) {
    ssize_t n = ::write(fd, s, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s += n;
    len -= static_cast<std::size_t>(n);
  }
}

[[noreturn]] void childFail(int fd, const char* what, const char* subject, int err) {
  writeStr(fd, "flotilla: ");
  writeStr(fd, what);
  writeStr(fd, " '");
  writeStr(fd, subject);
  writeStr(fd, "': ");
  // strerrordesc_np reads a static table: unlike strerror it neither
  // allocates nor consults the locale, which matters in the child.
  const char* desc = ::strerrordesc_np(err);
  writeStr(fd, desc != nullptr ? desc : "unknown error");
  writeStr(fd, "\n");
  ::_exit(kExecFailedExit);
}

// The functions down to runChild run in the vforked child (startChild): it
// borrows the parent's memory, including the calling thread's stack and errno,
// until execve or _exit. So they make plain system calls only: no allocation,
// no locks, nothing that writes to memory the parent reads afterwards.

// Signal mask and ignored dispositions survive execve; a daemon that blocks
// SIGTERM or ignores SIGPIPE must not hand that to deploy hooks. Handlers are
// reset too, before anything is unblocked: execve would reset them anyway, but
// until then a handler would run on the parent's memory. startChild blocked
// every signal, so none arrives before this.
void resetSignals() {
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_DFL) {
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      ::sigaction(sig, &dfl, nullptr);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// stdin from /dev/null; stdout and stderr into the output pipe.
void redirectStdio(int out) {
  if (out < 3) out = ::fcntl(out, F_DUPFD, 3);  // the parent may run with 0-2 closed
  if (out < 0) ::_exit(kExecFailedExit);
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0) childFail(out, "cannot open", "/dev/null", errno);
  if (::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(out, STDERR_FILENO) < 0) {
    childFail(out, "cannot set up", "stdio", errno);
  }
}

// Nothing of the parent's (sockets, keys, the other children's pipes) leaks
// into hooks; a leaked pipe end would also delay another caller's EOF.
void closeInheritedFds() {
  if (::close_range(3, ~0U, 0) != 0) {
    long max_fd = ::sysconf(_SC_OPEN_MAX);
    if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
    for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
  }
}

// The execvpe search, done by hand so PATH comes from the child's
// environment and not ours.
[[noreturn]] void execCommand(const ChildPlan& plan) {
  int err = ENOENT;
  bool saw_eacces = false;
  for (const char* path : plan.candidates) {
    ::execve(path, plan.argv, plan.envp);
    err = errno;
    if (err == EACCES) {
      saw_eacces = true;
    } else if (err != ENOENT && err != ENOTDIR) {
      break;
    }
  }
  if (saw_eacces && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  if (plan.searched_path && err == ENOENT) {
    writeStr(STDERR_FILENO, "flotilla: '");
    writeStr(STDERR_FILENO, plan.argv[0]);
    writeStr(STDERR_FILENO, "': command not found in the PATH of its environment\n");
    ::_exit(kExecFailedExit);
  }
  childFail(STDERR_FILENO, "cannot execute", plan.argv[0], err);
}

// Raw system calls, not glibc's setgroups/setgid/setuid: in a threaded
// process those apply the change to every thread (POSIX credentials are per
// process) by taking a lock over the list of threads and marking and
// signalling each one, and a vforked child would do that to the parent's
// threads, whose memory it shares. The raw calls change the calling task
// only, which here is the child; glibc's posix_spawn uses them for the same
// reason.
bool switchUser(const UserSwitch& u) {
#ifdef SYS_setuid32  // 32-bit ABIs, where the plain calls take 16-bit ids
  constexpr long kSetgroups = SYS_setgroups32, kSetgid = SYS_setgid32, kSetuid = SYS_setuid32;
#else
  constexpr long kSetgroups = SYS_setgroups, kSetgid = SYS_setgid, kSetuid = SYS_setuid;
#endif
  return ::syscall(kSetgroups, static_cast<long>(u.groups.size()), u.groups.data()) == 0 &&
         ::syscall(kSetgid, static_cast<long>(u.gid)) == 0 && ::syscall(kSetuid, static_cast<long>(u.uid)) == 0;
}

// Never inlined into startChild: its locals then live in a frame of their own
// below the parent's, instead of in stack slots of startChild that the
// compiler could share with what the parent reads after vfork returns.
[[noreturn]] [[gnu::noinline]] void runChild(const ChildPlan& plan) {
  ::setpgid(0, 0);
  resetSignals();
  redirectStdio(plan.out_fd);
  closeInheritedFds();
  if (plan.cwd != nullptr && ::chdir(plan.cwd) != 0) {
    childFail(STDERR_FILENO, "cannot change directory to", plan.cwd, errno);
  }
  if (plan.user != nullptr && !switchUser(*plan.user)) {
    childFail(STDERR_FILENO, "cannot switch to user", plan.user_name, errno);
  }
  execCommand(plan);
}

// Starts the child with vfork: the calling thread sleeps until the child has
// called execve (or _exit), and the child borrows the parent's memory instead
// of copying its page tables, which is most of what fork costs a daemon with
// several threads and tens of MB mapped; no atfork handlers run either.
// Not posix_spawn: it cannot switch to run_as (setgroups/setgid/setuid), report
// which step failed (chdir, the user switch) in the command's output as the
// child does, or search the PATH of the child's environment rather than ours;
// glibc's posix_spawn is itself clone(CLONE_VM | CLONE_VFORK) with child code
// like runChild's. Every signal is blocked across the vfork, so no handler of
// the parent runs in the child before resetSignals; the caller's mask is then
// restored. Returns -1 with errno set when no child was started.
pid_t startChild(const ChildPlan& plan) {
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = ::vfork();
  if (pid == 0) runChild(plan);
  const int err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return pid;
}

std::vector<std::string> execCandidates(const std::string& arg0, const std::map<std::string, std::string>& env) {
  if (arg0.find('/') != std::string::npos) return {arg0};
  std::vector<std::string> out;
  auto it = env.find("PATH");
  if (it == env.end()) return out;
  std::string_view rest = it->second;
  while (true) {
    auto colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    // POSIX reads an empty entry as the working directory; a deploy agent
    // should not run whatever happens to lie there, so empty entries are skipped.
    if (!dir.empty()) out.push_back(std::string(dir) + "/" + arg0);
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return out;
}

bool hasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

Status validate(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Error(Errc::kInvalidArgument, "no command given (empty argv)");
  }
  for (const auto& arg : spec.argv) {
    if (hasNul(arg)) return Error(Errc::kInvalidArgument, "argument contains a NUL byte");
  }
  for (const auto& [key, value] : spec.env) {
    if (key.empty() || key.find('=') != std::string::npos || hasNul(key) || hasNul(value)) {
      return Error(Errc::kInvalidArgument, "invalid environment variable name '" + key + "'");
    }
  }
  if (hasNul(spec.cwd.string())) return Error(Errc::kInvalidArgument, "cwd contains a NUL byte");
  return okStatus();
}

void appendOutput(ProcessResult& result, std::size_t max_output, const char* data, std::size_t n) {
  std::size_t room = max_output > result.output.size() ? max_output - result.output.size() : 0;
  if (n > room) result.truncated = true;
  result.output.append(data, std::min(n, room));
}

enum class PipeState { kOpen, kDone };

// One read; kDone at EOF or on an error that ends the stream.
PipeState readOnce(int fd, ProcessResult& result, std::size_t max_output, std::size_t* got) {
  char buf[kReadChunk];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    appendOutput(result, max_output, buf, static_cast<std::size_t>(n));
    if (got != nullptr) *got = static_cast<std::size_t>(n);
    return PipeState::kOpen;
  }
  if (got != nullptr) *got = 0;
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return PipeState::kOpen;
  return PipeState::kDone;
}

// After the child exits, take what it wrote (already in the pipe buffer) but
// do not wait for background descendants that still hold the write end. The
// buffer cannot hold more than its capacity, which bounds the drain even if a
// descendant keeps writing.
void drainPipe(int fd, ProcessResult& result, std::size_t max_output) {
  int cap = ::fcntl(fd, F_GETPIPE_SZ);
  std::size_t budget = cap > 0 ? static_cast<std::size_t>(cap) : std::size_t{64} * 1024;
  std::size_t drained = 0;
  while (drained < budget) {
    std::size_t got = 0;
    if (readOnce(fd, result, max_output, &got) == PipeState::kDone || got == 0) break;
    drained += got;
  }
}

pid_t waitRetry(pid_t pid, int* status, int flags) {
  pid_t rc;
  do {
    rc = ::waitpid(pid, status, flags);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

void killGroupAndReap(pid_t pid, int* status) {
  // The group is pid's own (setpgid in both parent and child), and pid is not
  // yet reaped, so neither number can have been reused.
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);  // in case it left its group
  waitRetry(pid, status, 0);
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The strings a ChildPlan points into; they must outlive the vfork and stay put.
struct ChildStorage {
  std::vector<std::string> argv, env, candidates;
  std::string cwd;
  std::vector<char*> argv_ptrs, env_ptrs;
};

ChildPlan prepareChild(const ProcessSpec& spec, const std::optional<UserSwitch>& user, ChildStorage& storage) {
  storage.argv = spec.argv;
  storage.env.reserve(spec.env.size());
  for (const auto& [key, value] : spec.env) storage.env.push_back(key + "=" + value);
  storage.argv_ptrs = cStrings(storage.argv);
  storage.env_ptrs = cStrings(storage.env);
  storage.candidates = execCandidates(spec.argv[0], spec.env);
  storage.cwd = spec.cwd.string();

  ChildPlan plan;
  plan.argv = storage.argv_ptrs.data();
  plan.envp = storage.env_ptrs.data();
  for (const auto& c : storage.candidates) plan.candidates.push_back(c.c_str());
  plan.searched_path = spec.argv[0].find('/') == std::string::npos;
  plan.cwd = storage.cwd.empty() ? nullptr : storage.cwd.c_str();
  plan.user = user ? &*user : nullptr;
  plan.user_name = spec.run_as ? spec.run_as->c_str() : nullptr;
  return plan;
}

// The parent's side of a fresh child: its process group, its output pipe made
// non-blocking, and a pidfd to poll for its exit (-1 when there is none).
int watchChild(pid_t pid, int out_fd) {
  // Also done by the child; doing it here too closes the window in which a
  // timeout could signal a group that does not exist yet.
  ::setpgid(pid, pid);
  // Non-blocking so the final drain never waits on a background descendant.
  ::fcntl(out_fd, F_SETFL, ::fcntl(out_fd, F_GETFL) | O_NONBLOCK);
  // A pidfd turns "the child exited" into a poll event (Linux 5.3+). Without
  // one, waitpid is polled every few milliseconds. Either way completion is
  // the child's exit, not EOF, which a backgrounded daemon could hold off forever.
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// How waiting for a child ended: it exited (with `status`), waiting failed
// (`error`, an errno), or neither, which means the deadline passed.
struct ChildWait {
  bool exited = false;
  int status = 0;
  int error = 0;
  bool pipe_open = true;  // the output pipe has not reached EOF
};

// Collects the child's output into `result` until it exits, the deadline
// passes or waiting fails.
ChildWait waitForChild(pid_t pid, int out_fd, int pidfd, std::chrono::steady_clock::time_point deadline,
                       std::size_t max_output, ProcessResult& result) {
  ChildWait wait;
  while (!wait.exited) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto remaining = std::chrono::ceil<milliseconds>(deadline - now).count();
    long long wait_ms = std::min<long long>(remaining, INT_MAX);
    if (pidfd < 0) wait_ms = std::min<long long>(wait_ms, kFallbackPollMs);

    pollfd pfds[2];
    nfds_t nfds = 0;
    int pipe_index = -1;
    if (wait.pipe_open) {
      pipe_index = static_cast<int>(nfds);
      pfds[nfds++] = pollfd{out_fd, POLLIN, 0};
    }
    if (pidfd >= 0) pfds[nfds++] = pollfd{pidfd, POLLIN, 0};
    int rc = ::poll(pfds, nfds, static_cast<int>(wait_ms));
    if (rc < 0) {
      if (errno == EINTR) continue;
      wait.error = errno;
      break;
    }
    if (pipe_index >= 0 && (pfds[pipe_index].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      if (readOnce(out_fd, result, max_output, nullptr) == PipeState::kDone) wait.pipe_open = false;
    }
    pid_t w = waitRetry(pid, &wait.status, WNOHANG);
    if (w == pid) {
      wait.exited = true;
    } else if (w < 0) {
      // ECHILD: someone else reaped it (a stray waitpid(-1)); its status is lost.
      wait.error = errno;
      break;
    }
  }
  return wait;
}

std::string formatLimit(milliseconds limit) {
  auto ms = limit.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace

std::string ProcessResult::describe() const {
  if (timed_out) {
    if (timed_out_after.count() <= 0) return "timed out";
    return "timed out after " + formatLimit(timed_out_after);
  }
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "exit " + std::to_string(exit_code);
}

Result<ProcessResult> runProcess(const ProcessSpec& spec) {
  FLOTILLA_TRY(validate(spec));
  std::optional<UserSwitch> user;
  if (spec.run_as) {
    auto looked_up = lookupUser(*spec.run_as);
    if (!looked_up) return looked_up.error();
    user = std::move(*looked_up);
  }
  ChildStorage storage;
  ChildPlan plan = prepareChild(spec, user, storage);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return osError("creating output pipe", errno);
  plan.out_fd = fds[1];

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + spec.timeout;
  pid_t pid = startChild(plan);
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return osError("vfork for '" + spec.argv[0] + "'", err);
  }

  ::close(fds[1]);
  const int out_fd = fds[0];
  const int pidfd = watchChild(pid, out_fd);

  ProcessResult result;
  ChildWait wait = waitForChild(pid, out_fd, pidfd, deadline, spec.max_output, result);
  if (!wait.exited && wait.error == 0) {
    killGroupAndReap(pid, &wait.status);
    result.timed_out = true;
    result.timed_out_after = spec.timeout;
  } else if (!wait.exited) {
    if (wait.error != ECHILD) killGroupAndReap(pid, &wait.status);
    if (pidfd >= 0) ::close(pidfd);
    ::close(out_fd);
    return osError("waiting for '" + spec.argv[0] + "'", wait.error);
  }
  if (wait.pipe_open) drainPipe(out_fd, result, spec.max_output);
  ::close(out_fd);
  if (pidfd >= 0) ::close(pidfd);

  if (WIFEXITED(wait.status)) {
    result.exit_code = WEXITSTATUS(wait.status);
  } else if (WIFSIGNALED(wait.status)) {
    result.signal = WTERMSIG(wait.status);
  }
  return result;
}

std::map<std::string, std::string> baseEnvironment() {
  std::string home = "/";
  long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc == 0 && found != nullptr && pw.pw_dir != nullptr && pw.pw_dir[0] != '\0') {
    home = pw.pw_dir;
  } else if (const char* env_home = std::getenv("HOME"); env_home != nullptr && *env_home != '\0') {
    home = env_home;
  }
  return {
      {"HOME", home},
      {"LANG", "C.UTF-8"},
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
  };
}

}  // namespace flotilla::common
