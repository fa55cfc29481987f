#pragma once
// A private network for multi-host integration tests, built from Linux network
// namespaces that can reach nothing but each other.
//
// Layout: a "hub" namespace holds a bridge with kHubAddress (where the
// coordinator listens); every host gets its own namespace joined to that bridge
// by a veth pair, with address 10.213.0.(10 + i) on its end. No namespace has a
// route beyond 10.213.0.0/24 and nothing is added to the caller's own
// namespace, so no test traffic can leave the lab. Cutting a host off brings
// the hub end of its veth down (packets are silently dropped, as on a broken
// cable); healing brings it up again.
//
// Namespaces are named flotilla-lab-<pid>-<n>-<role>, so parallel test
// processes never collide, and create() removes the leftovers of a crashed run
// (namespaces whose owning pid is dead, after killing what still runs in them).
// The destructor kills whatever still runs inside the lab and deletes every
// namespace, which takes every link with it.
//
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2's `ip`. One thread
// owns a NetLab; Inside changes the namespace of the calling thread only.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "flotilla/common/result.h"

namespace flotilla::testing {

class NetLab {
 public:
  static constexpr const char* kHubAddress = "10.213.0.1";

  // Makes the hub namespace and its bridge, or says why it cannot (a person
  // reads the message to learn what the machine lacks).
  static Result<std::unique_ptr<NetLab>> create();
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  // Adds a host namespace joined to the hub; returns its address. Throws when
  // the lab cannot be extended (the hub already proved the machine can).
  std::string addHost(const std::string& host);
  std::string address(const std::string& host) const;
  void cut(const std::string& host);
  void heal(const std::string& host);

  // The namespace names this lab made (hub first), for checks and messages.
  std::vector<std::string> namespaces() const;

  // While an Inside lives, the calling thread is in `host`'s namespace ("" =
  // the hub), so every process it forks (Fleet::startAgent,
  // Fleet::startCoordinator) is born there and stays there. The destructor
  // puts the thread back where it was.
  class Inside {
   public:
    Inside(Inside&& o) noexcept : saved_(o.saved_) { o.saved_ = -1; }
    Inside& operator=(Inside&&) = delete;
    ~Inside();

   private:
    friend class NetLab;
    explicit Inside(const std::string& netns);
    int saved_ = -1;
  };
  Inside inside(const std::string& host = "") const;

 private:
  struct Host {
    std::string name;
    std::string netns;
    std::string hub_link;  // the veth end on the bridge
    std::string address;
  };
  NetLab(std::string ip, std::string prefix);
  const Host& find(const std::string& host) const;
  void setHubLink(const std::string& host, const char* state);

  std::string ip_;      // path of the `ip` tool
  std::string prefix_;  // flotilla-lab-<pid>-<n>
  std::string hub_;     // hub namespace name
  std::vector<Host> hosts_;
};

// Namespaces named like a NetLab's that are left on this machine (any owner).
std::vector<std::string> labNamespaces();
// Path of iproute2's `ip`, or "" when it is not installed.
std::string ipTool();

}  // namespace flotilla::testing
