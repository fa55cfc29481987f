#pragma once
// A fake coordinator for adversarial tests of a real agent: a ROUTER bound on
// a Fleet's agents port with the coordinator's own CURVE key, so the agent
// takes it for the real one. It welcomes any hello, serves artifacts, collects
// reports, samples and heartbeats, and sends whatever the test tells it to: orders
// signed with the fleet's plan key (or another), or raw bytes.
//
// Nothing runs in the background: messages are read only inside pump() and
// the waits built on it, on the test's thread. The fleet must not run its
// real coordinator meanwhile.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"
#include "support/cluster.h"
#include "support/raw_peer.h"

namespace flotilla::testing {

// Unix seconds now.
std::int64_t nowSeconds();
// The fleet coordinator's plan signing key (keys/plan.key).
common::SigningKeyPair fleetPlanKey(const Fleet& fleet);
// A deploy spec that restarts with ./bin/restart and is healthy while the
// release holds the file HEALTHY (what Fleet::makeRelease builds).
protocol::OrderSpec goodSpec();

class FakeCoordinator {
 public:
  explicit FakeCoordinator(Fleet& fleet);

  // Serves `file` under its digest; later body() orders name it.
  void addArtifact(const std::filesystem::path& file);
  // Serves `bytes` when the agent asks for `digest` (whatever the bytes really hash to).
  void serveAs(const std::string& digest, const std::string& bytes);

  // Handles at most one message from the agent, waiting up to `timeout`.
  void pump(std::chrono::milliseconds timeout);
  // Pumps until `cond` holds; false when `timeout` passed first.
  bool pumpUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

  // To the connection that said hello last.
  void sendRaw(const std::string& payload);
  void send(const protocol::SignedOrder& order) { sendRaw(protocol::encode(order)); }

  // A deploy order for `target` of app "web" at `version`, for the last artifact added.
  protocol::OrderBody body(const std::string& version, std::uint64_t sequence);
  // Signed with the fleet's plan key, or `key`.
  protocol::SignedOrder sign(const protocol::OrderBody& body, const common::SigningKeyPair* key = nullptr);

  // The first terminal report of `order_id` ("" = any order) among reports, pumping up to `timeout`.
  std::optional<protocol::Report> terminal(const std::string& order_id,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True when a heartbeat arrives within 3 s.
  bool stillHeartbeats();

  std::string target;               // the agent id orders name
  std::uint64_t welcome_epoch = 0;  // the leadership epoch welcomes name (docs/ha.md)
  int hellos = 0;
  int sessions = 0;  // connections that said hello: a reconnect adds one
  int heartbeats = 0;
  std::vector<protocol::Report> reports;
  std::vector<protocol::Samples> samples;  // analysis batches, in arrival order

 private:
  void onFetch(const protocol::Fetch& fetch);

  common::SigningKeyPair plan_key_;
  RawSocket router_;
  std::string rid_;  // routing id of the connection that said hello last
  std::map<std::string, std::string> artifacts_;
  std::string last_digest_;
  std::uint64_t last_size_ = 0;
  int orders_ = 0;
};

// A real agent "h0" (labels role=web) under a fake coordinator, connected and
// welcomed. Its agent.toml may list release keys.
struct FakeSetup {
  Fleet f;
  std::optional<FakeCoordinator> fake;
  // The good order deployGood() sent, kept to probe the agent with a repeat.
  std::optional<protocol::SignedOrder> good;
  std::string good_id;

  explicit FakeSetup(const std::vector<std::string>& release_keys_hex = {});

  std::string agentLog();
  // Deploys release 1 with sequence 1 (only when the agent has no release
  // keys), then adds release 2 to the artifacts.
  void deployGood();
  // Sends `order` and checks it is refused with `prefix`, nothing changed and the agent lives.
  void expectRefused(const protocol::SignedOrder& order, const std::string& order_id, const std::string& prefix,
                     const std::string& live = "1");
};

}  // namespace flotilla::testing
