#include "support/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "support/cluster.h"

namespace flotilla::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* kNetnsDir = "/var/run/netns";  // where `ip netns add` pins namespaces
constexpr const char* kLabPrefix = "flotilla-lab-";
constexpr const char* kBridge = "br0";

std::string firstLine(const std::string& s) {
  auto end = s.find('\n');
  return end == std::string::npos ? s : s.substr(0, end);
}

// Runs `ip ARGS...`; the error names the command and what ip said.
Status runIp(const std::string& ip, const std::vector<std::string>& args) {
  std::vector<std::string> argv{ip};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runCommand(argv, 20s);
  if (r.exit_code == 0) return {};
  std::string cmd = "ip";
  for (const auto& a : args) cmd += " " + a;
  return Error(Errc::kIo, cmd + " failed (exit " + std::to_string(r.exit_code) + "): " + firstLine(r.err));
}

void mustIp(const std::string& ip, const std::vector<std::string>& args) {
  if (auto st = runIp(ip, args); !st.ok()) throw std::runtime_error(st.error().message);
}

// Kills what still runs in namespace `netns` (processes a test started there),
// then unpins it; the kernel frees it, and its links, once nothing is left in it.
void removeNetns(const std::string& ip, const std::string& netns) {
  auto pids = runCommand({ip, "netns", "pids", netns}, 20s);
  std::istringstream in(pids.out);
  for (long pid = 0; in >> pid;)
    if (pid > 1 && pid != ::getpid()) ::kill(static_cast<pid_t>(pid), SIGKILL);
  (void)runIp(ip, {"netns", "delete", netns});
}

// The pid in flotilla-lab-<pid>-..., or -1.
long ownerPid(const std::string& name) {
  const std::string rest = name.substr(std::string(kLabPrefix).size());
  char* end = nullptr;
  long pid = std::strtol(rest.c_str(), &end, 10);
  return end != rest.c_str() && *end == '-' ? pid : -1;
}

// Namespaces of labs whose process died without its destructor running.
void removeLeftovers(const std::string& ip) {
  for (const auto& name : labNamespaces()) {
    long pid = ownerPid(name);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;  // its owner still runs
    removeNetns(ip, name);
  }
}

}  // namespace

std::string ipTool() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

std::vector<std::string> labNamespaces() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(kNetnsDir, ec)) {
    auto name = e.path().filename().string();
    if (name.rfind(kLabPrefix, 0) == 0) out.push_back(name);
  }
  return out;
}

NetLab::NetLab(std::string ip, std::string prefix) : ip_(std::move(ip)), prefix_(std::move(prefix)) {}

Result<std::unique_ptr<NetLab>> NetLab::create() {
  auto ip = ipTool();
  if (ip.empty())
    return Error(Errc::kUnavailable,
                 "needs iproute2's `ip` (Debian package iproute2), found in none of /usr/sbin, /sbin, /usr/bin, /bin");
  removeLeftovers(ip);
  static int labs = 0;
  const std::string prefix = kLabPrefix + std::to_string(::getpid()) + "-" + std::to_string(labs++);
  std::unique_ptr<NetLab> lab(new NetLab(ip, prefix));
  const std::string hub = prefix + "-hub";
  if (auto st = runIp(ip, {"netns", "add", hub}); !st.ok())
    return Error(Errc::kPermission,
                 "needs CAP_NET_ADMIN and CAP_SYS_ADMIN (run as root) and network namespaces: " + st.error().message);
  lab->hub_ = hub;  // from here on the destructor removes it
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"-n", hub, "link", "set", "lo", "up"},
           {"-n", hub, "link", "add", kBridge, "type", "bridge"},
           {"-n", hub, "addr", "add", std::string(kHubAddress) + "/24", "dev", kBridge},
           {"-n", hub, "link", "set", kBridge, "up"}})
    if (auto st = runIp(ip, args); !st.ok())
      return Error(Errc::kUnavailable, "needs bridge and veth support in network namespaces: " + st.error().message);
  return lab;
}

NetLab::~NetLab() {
  for (auto it = hosts_.rbegin(); it != hosts_.rend(); ++it) removeNetns(ip_, it->netns);
  if (!hub_.empty()) removeNetns(ip_, hub_);
}

std::string NetLab::addHost(const std::string& host) {
  if (hosts_.size() >= 200) throw std::runtime_error("NetLab: at most 200 hosts in 10.213.0.0/24");
  Host h;
  h.name = host;
  h.netns = prefix_ + "-" + host;
  h.hub_link = "v" + std::to_string(hosts_.size());
  h.address = "10.213.0." + std::to_string(10 + hosts_.size());
  mustIp(ip_, {"netns", "add", h.netns});
  hosts_.push_back(h);  // from here on the destructor removes it
  mustIp(ip_, {"-n", h.netns, "link", "set", "lo", "up"});
  mustIp(ip_, {"-n", hub_, "link", "add", h.hub_link, "type", "veth", "peer", "name", "eth0", "netns", h.netns});
  mustIp(ip_, {"-n", hub_, "link", "set", h.hub_link, "master", kBridge});
  mustIp(ip_, {"-n", hub_, "link", "set", h.hub_link, "up"});
  mustIp(ip_, {"-n", h.netns, "addr", "add", h.address + "/24", "dev", "eth0"});
  mustIp(ip_, {"-n", h.netns, "link", "set", "eth0", "up"});
  return h.address;
}

const NetLab::Host& NetLab::find(const std::string& host) const {
  for (const auto& h : hosts_)
    if (h.name == host) return h;
  throw std::runtime_error("NetLab: no host '" + host + "'");
}

std::string NetLab::address(const std::string& host) const { return find(host).address; }

void NetLab::setHubLink(const std::string& host, const char* state) {
  mustIp(ip_, {"-n", hub_, "link", "set", find(host).hub_link, state});
}

void NetLab::cut(const std::string& host) { setHubLink(host, "down"); }
void NetLab::heal(const std::string& host) { setHubLink(host, "up"); }

std::vector<std::string> NetLab::namespaces() const {
  std::vector<std::string> out{hub_};
  for (const auto& h : hosts_) out.push_back(h.netns);
  return out;
}

NetLab::Inside NetLab::inside(const std::string& host) const { return Inside(host.empty() ? hub_ : find(host).netns); }

NetLab::Inside::Inside(const std::string& netns) {
  saved_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved_ < 0) throw std::runtime_error(std::string("open /proc/thread-self/ns/net: ") + std::strerror(errno));
  const std::string path = std::string(kNetnsDir) + "/" + netns;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
    std::string why = path + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::close(saved_);
    saved_ = -1;
    throw std::runtime_error("cannot enter network namespace " + why);
  }
  ::close(fd);
}

NetLab::Inside::~Inside() {
  if (saved_ < 0) return;
  if (::setns(saved_, CLONE_NEWNET) != 0) {
    // Every later socket and child of this thread would land in the lab.
    std::fprintf(stderr, "NetLab: cannot return to the original network namespace: %s\n", std::strerror(errno));
    std::abort();
  }
  ::close(saved_);
}

}  // namespace flotilla::testing
