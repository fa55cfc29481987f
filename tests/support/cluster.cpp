#include "support/cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace flotilla::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

int freeTcpPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

Process::Process(std::vector<std::string> argv, const fs::path& log) {
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::setpgid(0, 0);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) stop(SIGKILL, 5s);
}

Process::Process(Process&& o) noexcept : pid_(o.pid_), status_(o.status_), reaped_(o.reaped_) { o.pid_ = -1; }
Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0 && !reaped_) stop(SIGKILL, 5s);
    pid_ = o.pid_;
    status_ = o.status_;
    reaped_ = o.reaped_;
    o.pid_ = -1;
  }
  return *this;
}

bool Process::running() {
  if (pid_ <= 0 || reaped_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return true;
}

void Process::signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

int Process::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return 0;
  if (reaped_) return status_;
  ::kill(pid_, sig);
  if (sig == SIGSTOP) return 0;
  ::kill(pid_, SIGCONT);
  if (!waitUntil([&] { return !running(); }, timeout, 10ms)) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    reaped_ = true;
  }
  return status_;
}

CommandResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  TempDir tmp("flotilla-cmd");
  const auto out = tmp.path() / "out", err = tmp.path() / "err";
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  CommandResult r;
  int st = 0;
  bool done = waitUntil([&] { return ::waitpid(pid, &st, WNOHANG) == pid; }, timeout, 10ms);
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
    r.exit_code = -1;
  } else {
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  r.json = nlohmann::json::parse(r.out, nullptr, false);
  return r;
}

bool waitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout, std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return cond();
    std::this_thread::sleep_for(step);
  }
}

fs::path binDir() { return FLOTILLA_BIN_DIR; }

bool existsAnywhere(const fs::path& root, const std::string& name) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->path().filename() == name && it->path().string().find("src-") == std::string::npos) return true;
  }
  return false;
}
fs::path sourceDir() { return FLOTILLA_SOURCE_DIR; }

Fleet::Fleet() : tmp_("flotilla-fleet") {
  agent_port_ = freeTcpPort();
  auto r = runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "init", (dir() / "coord").string(),
                       "--listen", "tcp://127.0.0.1:" + std::to_string(agent_port_)});
  if (r.exit_code != 0) throw std::runtime_error("coordinator init failed: " + r.err);
}

Fleet::~Fleet() {
  for (auto& [id, p] : agents_) p.stop(SIGTERM, 20s);
  coordinator_.stop(SIGTERM, 20s);
}

std::string Fleet::controlEndpoint() const { return "ipc://" + (dir() / "coord/control.sock").string(); }

std::string Fleet::agentsEndpoint() const { return "tcp://127.0.0.1:" + std::to_string(agent_port_); }

std::string Fleet::joinToken() const {
  std::ifstream in(dir() / "coord/join.toml");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("token = ", 0) != 0) continue;
    auto value = line.substr(8);
    value.erase(std::remove_if(value.begin(), value.end(), [](char c) { return c == '"' || c == '\'' || c == ' '; }),
                value.end());
    return value;
  }
  throw std::runtime_error("no token in " + (dir() / "coord/join.toml").string());
}

void Fleet::startCoordinator(const std::vector<std::string>& extra_config_lines) {
  const auto cfg = dir() / "coord/coordinator.toml";
  if (!extra_config_lines.empty()) {
    // Appended settings go to the top of the file so they apply to the root or
    // name their own table.
    std::ifstream in(cfg);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    for (const auto& line : extra_config_lines) {
      auto eq = line.find('=');
      auto dot = line.find('.');
      if (dot == std::string::npos || dot > eq) {
        // "key = value" at the top: replace the existing line.
        std::string key = line.substr(0, line.find_first_of(" ="));
        auto kpos = text.rfind("\n" + key + " ", text.find("\n["));
        if (text.rfind(key + " ", 0) == 0) kpos = std::string::npos - 1;
        auto start = kpos == std::string::npos - 1 ? 0 : kpos + 1;
        auto kend = text.find('\n', start);
        text.replace(start, kend - start, line);
        continue;
      }
      // "table.key = value" -> replace the key inside [table].
      std::string table = line.substr(0, dot), key = line.substr(dot + 1, eq - dot - 1);
      while (!key.empty() && key.back() == ' ') key.pop_back();
      auto tpos = text.find("[" + table + "]");
      auto kpos = text.find("\n" + key + " ", tpos);
      auto kend = text.find('\n', kpos + 1);
      text.replace(kpos + 1, kend - kpos - 1, key + " = " + line.substr(eq + 1));
    }
    std::ofstream(cfg) << text;
  }
  coordinator_ = Process({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config", cfg.string(),
                          "--log-level", "debug"},
                         dir() / "coordinator.log");
  const auto sock = dir() / "coord/control.sock";
  if (!waitUntil([&] { return console({"agents"}).exit_code == 0; }, 20s))
    throw std::runtime_error("coordinator did not start; see " + (dir() / "coordinator.log").string());
}

void Fleet::stopCoordinator(int sig) { coordinator_.stop(sig); }

void Fleet::initAgent(const AgentSpec& spec) {
  std::vector<std::string> argv{(binDir() / "agent/flotilla-agent").string(),
                                "init",
                                agentDir(spec.id).string(),
                                "--join",
                                (dir() / "coord/join.toml").string(),
                                "--id",
                                spec.id};
  for (const auto& [k, v] : spec.labels) {
    argv.push_back("--label");
    argv.push_back(k + "=" + v);
  }
  for (const auto& [k, v] : spec.vars) {
    argv.push_back("--var");
    argv.push_back(k + "=" + v);
  }
  auto r = runCommand(argv);
  if (r.exit_code != 0) throw std::runtime_error("agent init failed: " + r.err);
}

void Fleet::startAgent(const AgentSpec& spec) {
  const auto adir = agentDir(spec.id);
  if (!fs::exists(adir / "agent.toml")) initAgent(spec);
  agents_[spec.id] = Process({(binDir() / "agent/flotilla-agent").string(), "run", "--config",
                              (adir / "agent.toml").string(), "--log-level", "debug"},
                             dir() / ("agent-" + spec.id + ".log"));
}

bool Fleet::agentRunning(const std::string& id) {
  auto it = agents_.find(id);
  return it != agents_.end() && it->second.running();
}

pid_t Fleet::agentPid(const std::string& id) const {
  auto it = agents_.find(id);
  return it == agents_.end() ? -1 : it->second.pid();
}

void Fleet::stopAgent(const std::string& id, int sig) {
  if (auto it = agents_.find(id); it != agents_.end()) it->second.stop(sig);
}

void Fleet::signalAgent(const std::string& id, int sig) {
  if (auto it = agents_.find(id); it != agents_.end()) it->second.signal(sig);
}

std::string Fleet::liveRelease(const std::string& id, const std::string& app) const {
  std::error_code ec;
  auto t = fs::read_symlink(appsDir(id) / app / "current", ec);
  return ec ? "" : t.filename().string();
}

CommandResult Fleet::console(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  const std::string control = console_control_.empty() ? controlEndpoint() : console_control_;
  std::vector<std::string> argv{(binDir() / "coordinator/flotilla").string(), "--control", control, "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, timeout);
}

bool Fleet::waitOnline(std::size_t count, std::chrono::milliseconds timeout) {
  return waitUntil(
      [&] {
        auto r = console({"agents"});
        if (r.exit_code != 0 || !r.json.is_object()) return false;
        std::size_t online = 0;
        for (const auto& a : r.json["agents"])
          if (a["state"] == "online") ++online;
        return online >= count;
      },
      timeout, 100ms);
}

nlohmann::json Fleet::status(const std::string& rollout) {
  auto r = console({"status", rollout});
  return r.json;
}

nlohmann::json Fleet::waitFinished(const std::string& rollout, std::chrono::milliseconds timeout) {
  nlohmann::json last;
  waitUntil(
      [&] {
        last = status(rollout);
        if (!last.is_object()) return false;
        auto s = last.value("state", "");
        return s == "succeeded" || s == "failed" || s == "rolled_back" || s == "aborted";
      },
      timeout, 100ms);
  return last;
}

fs::path Fleet::makeRelease(const std::string& version, bool healthy) {
  const auto src = dir() / ("src-" + version);
  fs::create_directories(src / "bin");
  std::ofstream(src / "VERSION") << version << "\n";
  if (healthy) std::ofstream(src / "HEALTHY") << "yes\n";
  {
    std::ofstream restart(src / "bin/restart");
    // One line per restart: tests read the last one, and count them.
    restart << "#!/bin/sh\necho \"$FLOTILLA_VERSION\" >> \"$FLOTILLA_RELEASE_DIR/../../restarted\"\n";
  }
  fs::permissions(src / "bin/restart", fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  const auto out = dir() / ("app-" + version + ".tar.gz");
  auto r = runCommand({"/bin/tar", "-C", src.string(), "-czf", out.string(), "."});
  if (r.exit_code != 0) throw std::runtime_error("tar failed: " + r.err);
  return out;
}

fs::path Fleet::writePlan(const std::string& app, const std::string& version, const fs::path& artifact,
                          const std::string& waves_toml, const std::string& health_toml) {
  const auto p = dir() / (app + "-" + version + ".toml");
  std::ofstream out(p);
  out << "app = \"" << app << "\"\nversion = \"" << version << "\"\n\n"
      << "[artifact]\nfile = \"" << artifact.string() << "\"\n\n"
      << "[target]\nlabels = { role = \"web\" }\n\n"
      << "[waves]\n"
      << waves_toml << "\n\n"
      << "[deploy]\nrestart = [\"./bin/restart\"]\n\n";
  if (health_toml.empty())
    out << "[health]\ninterval = \"100ms\"\nhealthy_for = \"300ms\"\ndeadline = \"2s\"\n\n"
        << "[[health.check]]\nexec = [\"test\", \"-f\", \"HEALTHY\"]\n";
  else
    out << health_toml;
  return p;
}

void Fleet::startAgentWithEnv(const AgentSpec& spec, const std::map<std::string, std::string>& env) {
  const auto adir = agentDir(spec.id);
  if (!fs::exists(adir / "agent.toml")) throw std::runtime_error("agent " + spec.id + " was never created");
  // env(1) sets the variables and execs the agent in the same process.
  std::vector<std::string> argv{"/usr/bin/env"};
  for (const auto& [k, v] : env) argv.push_back(k + "=" + v);
  for (std::string a : {(binDir() / "agent/flotilla-agent").string(), std::string("run"), std::string("--config"),
                        (adir / "agent.toml").string(), std::string("--log-level"), std::string("debug")})
    argv.push_back(std::move(a));
  agents_[spec.id] = Process(argv, dir() / ("agent-" + spec.id + ".log"));
}

int Fleet::waitAgentExit(const std::string& id, std::chrono::milliseconds timeout) {
  auto it = agents_.find(id);
  if (it == agents_.end()) return -1;
  if (!waitUntil([&] { return !it->second.running(); }, timeout, 10ms)) return -1;
  return it->second.stop();  // reaped already: gives its wait status
}

void Fleet::setAgentEndpoint(const std::string& endpoint) {
  const auto join = dir() / "coord/join.toml";
  std::ifstream in(join);
  std::string text, line;
  while (std::getline(in, line))
    text += (line.rfind("coordinator = ", 0) == 0 ? "coordinator = \"" + endpoint + "\"" : line) + "\n";
  in.close();
  std::ofstream(join) << text;  // truncating keeps the file's owner-only mode
}

nlohmann::json Fleet::agentInfo(const std::string& id) {
  auto r = console({"agents"});
  if (r.json.is_object())
    for (const auto& a : r.json.value("agents", nlohmann::json::array()))
      if (a.value("id", "") == id) return a;
  return nullptr;
}

std::string Fleet::agentState(const std::string& id) {
  auto r = console({"agents"});
  if (r.exit_code != 0 || !r.json.is_object()) return "<console failed>";
  for (const auto& a : r.json.value("agents", nlohmann::json::array()))
    if (a.value("id", "") == id) return a.value("state", "");
  return "";
}

nlohmann::json Fleet::events(const std::string& rollout) {
  auto r = console({"events", rollout});
  return r.json.is_object() ? r.json.value("events", nlohmann::json::array()) : nlohmann::json::array();
}

std::string Fleet::hostPhase(const std::string& rollout, const std::string& host) {
  auto r = console({"status", rollout, "--hosts"});
  if (r.json.is_object())
    for (const auto& h : r.json.value("hosts", nlohmann::json::array()))
      if (h.value("id", "") == host) return h.value("phase", "");
  return "";
}

std::size_t Fleet::countEvents(const std::string& rollout, const std::string& kind, const std::string& agent) {
  std::size_t n = 0;
  for (const auto& e : events(rollout))
    if (e.value("kind", "") == kind && (agent.empty() || e.value("agent", "") == agent)) ++n;
  return n;
}

std::string Fleet::reportedRelease(const std::string& id, const std::string& app) {
  auto a = agentInfo(id);
  if (!a.is_object() || !a["releases"].is_object()) return "";
  return a["releases"].value(app, "");
}

std::string Fleet::reportedHealth(const std::string& id, const std::string& app) {
  auto a = agentInfo(id);
  if (!a.is_object() || !a["health"].is_object()) return "";
  return a["health"].value(app, "");
}

std::vector<std::string> Fleet::restarts(const std::string& id, const std::string& app) const {
  std::ifstream in(appsDir(id) / app / "restarted");
  std::vector<std::string> out;
  for (std::string v; in >> v;) out.push_back(v);
  return out;
}

std::string Fleet::lastRestart(const std::string& id, const std::string& app) const {
  auto all = restarts(id, app);
  return all.empty() ? "" : all.back();
}

std::string Fleet::rollOut(const std::string& version, bool healthy) {
  return submit(writePlan("web", version, makeRelease(version, healthy), kOneWaveAllAtOnce));
}

void Fleet::baseline(const std::string& version) {
  auto st = waitFinished(rollOut(version));
  if (!st.is_object() || st.value("state", "") != "succeeded")
    throw std::runtime_error("release " + version + " did not roll out: " + st.dump(2));
}

bool Fleet::coordinatorUp() { return console({"agents"}).exit_code == 0; }

std::optional<nlohmann::json> Fleet::findEvent(const std::string& rollout, const std::string& kind,
                                               const std::string& needle) {
  for (const auto& e : events(rollout)) {
    if (!kind.empty() && e.value("kind", "") != kind) continue;
    if (e.value("message", "").find(needle) != std::string::npos) return e;
  }
  return std::nullopt;
}

std::vector<std::string> Fleet::rolloutHosts(const std::string& rollout) {
  std::vector<std::string> hosts;
  auto r = console({"status", rollout, "--hosts"});
  if (r.json.is_object())
    for (const auto& h : r.json.value("hosts", nlohmann::json::array())) hosts.push_back(h.value("id", ""));
  return hosts;
}

std::string Fleet::submit(const fs::path& plan) {
  auto r = console({"rollout", plan.string()});
  if (r.exit_code != 0 || !r.json.is_object() || !r.json["id"].is_string())
    throw std::runtime_error("rollout " + plan.string() + " refused: " + r.out + r.err);
  return r.json["id"].get<std::string>();
}

}  // namespace flotilla::testing
