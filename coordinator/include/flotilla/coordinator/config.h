#pragma once
// coordinator.toml: where the coordinator listens, keeps its store and keys,
// and its timing. `initCoordinator` writes a fresh one with new keys and a
// join.toml for agents; `loadCoordinatorConfig` reads it back, naming file,
// line, key and problem on any error.

#include <filesystem>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"
#include "flotilla/coordinator/notify_config.h"
#include "flotilla/coordinator/policy_gates.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::coordinator {

// The range agents.heartbeat_interval may take: agents clamp the interval a
// welcome offers to the same range (agent/session.h), so a coordinator set
// outside it would expect heartbeats at a pace no agent keeps.
inline constexpr common::Millis kMinHeartbeatInterval{10};
inline constexpr common::Millis kMaxHeartbeatInterval{std::chrono::hours(1)};

// coordinator.toml's `http` (docs/dashboard.md): /metrics, /healthz and the dashboard.
struct HttpConfig {
  std::string listen;  // "127.0.0.1:7780"; empty = off
  // The dashboard (and /api) is served: by default when a token is set or the address is loopback.
  bool dashboard = false;
  std::filesystem::path token_file;  // empty = no token (then only loopback may serve the dashboard)
  std::string token;                 // its contents, read at load
  bool metrics_public = false;       // with a token: /metrics needs none
};

// coordinator.toml's [leadership] (docs/ha.md): the lease coordinators on one
// PostgreSQL store (store.url) hold to lead. Without store.url there is no
// lease: one coordinator leads alone, in epoch 0.
struct LeadershipConfig {
  common::Millis lease_ttl{std::chrono::seconds(10)};  // a lease not renewed this long may be taken over
  common::Millis renew_interval{0};                    // how often the leader renews; 0 = lease_ttl / 3
  std::string agents_endpoint;                         // told to agents by standbys; "" = agents.listen, advertised
  std::string control_endpoint;                        // told to consoles by standbys; "" = control.endpoint
  // The renew interval in effect.
  common::Millis renewEvery() const { return renew_interval.count() > 0 ? renew_interval : lease_ttl / 3; }
};
inline constexpr common::Millis kMinLeaseTtl{500};

struct CoordinatorConfig {
  std::filesystem::path dir;  // directory of coordinator.toml; relative paths resolve here
  std::string agent_listen = "tcp://0.0.0.0:7700";
  std::string control_endpoint;              // default ipc://<dir>/control.sock
  std::string control_group;                 // group owning the IPC socket (mode 0660); empty = the daemon's
  std::vector<common::PublicKey> operators;  // CURVE keys allowed on a tcp:// control endpoint
  std::filesystem::path store_file;          // <dir>/flotilla.db
  // store.url: the store in PostgreSQL instead of store_file (docs/postgresql.md);
  // store.password_file: its password (empty = libpq's PGPASSWORD / ~/.pgpass).
  std::string store_url;
  std::filesystem::path store_password_file;
  std::filesystem::path artifacts_dir;                      // <dir>/artifacts
  common::Millis upload_timeout{std::chrono::seconds(60)};  // an upload silent this long is dropped, its file deleted
  common::Millis heartbeat_interval{std::chrono::seconds(5)};
  common::Millis heartbeat_expiry{std::chrono::seconds(15)};
  common::Millis order_ttl{std::chrono::hours(1)};
  common::Millis order_retry{std::chrono::seconds(5)};  // resend an order nobody acknowledged after this
  common::SigningKeyPair plan_key;
  std::vector<protocol::Rotation> rotations;  // keys/rotations: the chain from the first plan key to plan_key
  common::CurveKeyPair curve_key;
  std::string log_level = "info";
  HttpConfig http;
  PolicyConfig policy;  // [policy]: freezes, approvals, alarms and break-glass (docs/policy.md)
  // [policy.provenance] ci_keys (docs/policy.md): when not empty, a rollout
  // needs a CI signature by one of these keys (provenance_gate.h).
  std::vector<common::PublicKey> ci_keys;
  std::vector<NotifyTarget> notify;  // [[notify]]: webhooks told about rollouts (docs/notifications.md)
  LeadershipConfig leadership;       // [leadership]: the lease, with store.url only (docs/ha.md)
};

// Where the store is (store.h), as the config names it: openStore(storeOptions(c)).
StoreOptions storeOptions(const CoordinatorConfig& c, bool read_only = false);

// The identities (operator_identity.h) of control.operators' keys.
std::vector<std::string> operatorIdentities(const CoordinatorConfig& c);

// The package layout (docs/install.md), `flotilla-coordinator init --system`:
// configuration, keys and join.toml in /etc/flotilla, the store, artifacts and
// control socket in the state directory, the daemon run as kSystemUser.
inline constexpr const char* kSystemConfigDir = "/etc/flotilla";
inline constexpr const char* kSystemStateDir = "/var/lib/flotilla-coordinator";
inline constexpr const char* kSystemUser = "flotilla";

struct InitOptions {
  std::filesystem::path dir;        // coordinator.toml, keys/, join.toml
  std::filesystem::path state_dir;  // store, artifacts, control.sock; empty = dir (relative paths)
  // The user the daemon runs as, when init runs as root: it is given the keys,
  // the state directory and the store, and read access to coordinator.toml.
  std::string user;
  std::string listen = "tcp://0.0.0.0:7700";
  std::string control;    // empty = ipc://<dir>/control.sock
  std::string advertise;  // endpoint agents dial; empty = derived from listen
  common::Millis token_ttl{std::chrono::hours(24)};
  std::string http;  // HOST:PORT for /metrics; empty = off
};

// Creates dir (0700; 0755 with a separate state_dir), keys (0600),
// coordinator.toml and join.toml. Refuses to overwrite an existing coordinator.toml.
Status initCoordinator(const InitOptions& opts);
Result<CoordinatorConfig> loadCoordinatorConfig(const std::filesystem::path& file);

// Creates a join token valid for `ttl` with `uses` uses (-1 unlimited) and returns it.
Result<std::string> createJoinToken(const CoordinatorConfig& config, common::Millis ttl, long uses);

// Replaces the plan key with a new one and records a rotation statement signed
// by the old key (keys/rotations), which the coordinator hands to every agent.
// The old secret key is kept as keys/plan.key.<key id>. Returns the new key id.
Result<std::string> rotatePlanKey(const CoordinatorConfig& config);

// The endpoint agents should dial for a listen endpoint ("tcp://0.0.0.0:7700" -> "tcp://127.0.0.1:7700").
std::string advertisedEndpoint(const std::string& listen);

}  // namespace flotilla::coordinator
