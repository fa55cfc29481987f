#pragma once
// agent.toml: who this agent is, where its coordinator is and which keys it
// trusts, where releases live, and its labels and host variables.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"

namespace flotilla::agent {

// Where the flag endpoint listens ([flags] listen = "127.0.0.1:PORT"): loopback only.
struct FlagsListen {
  std::string host;
  int port = 0;
};

struct AgentConfig {
  std::filesystem::path dir;   // directory of agent.toml; relative paths resolve here
  std::filesystem::path file;  // agent.toml itself (a new agent binary is tried with it: self_upgrade.h)
  // Not in agent.toml: the order an old agent handed over to this process
  // (FLOTILLA_AGENT_HANDOVER, read and cleared by main; self_upgrade.h).
  std::string handover_order;
  std::string id;
  // [coordinator] endpoint: one endpoint, or the list of a leader and its
  // standbys (docs/ha.md "Agents and consoles"), dialled first to last.
  std::vector<std::string> coordinator_endpoints;
  // [coordinator] link_timeout: how long the connection may stay silent before
  // it counts as dropped (link_watch.h); absent = the default for the number
  // of endpoints.
  std::optional<common::Millis> link_timeout;
  common::PublicKey coordinator_key{};          // CURVE server key
  common::PublicKey plan_key{};                 // pinned Ed25519 plan key
  std::vector<common::PublicKey> release_keys;  // offline release keys; non-empty = artifacts must be signed
  std::string join_token;
  common::CurveKeyPair curve_key;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> vars;
  std::filesystem::path apps_dir;
  std::filesystem::path state_dir;
  std::optional<std::string> run_as;
  std::size_t keep_releases = 3;
  common::Millis fetch_timeout{std::chrono::minutes(5)};
  // After SIGTERM, how long the worker may take to finish or revert the step
  // in hand before the agent exits without it.
  common::Millis stop_grace{std::chrono::seconds(90)};
  std::int64_t clock_skew_s = 300;
  std::uint64_t max_artifact_bytes = 2ull << 30;
  // Downloads from artifact URLs (url_fetch.h, docs/artifacts.md). fetch_proxy:
  // absent = the environment's https_proxy / http_proxy; "" = none. fetch_ca_file:
  // a PEM bundle trusted instead of the system's CA store; empty = the system's.
  std::optional<std::string> fetch_proxy;
  std::filesystem::path fetch_ca_file;
  std::string log_level = "info";
  std::optional<FlagsListen> flags_listen;  // absent: no OFREP endpoint (ofrep_server.h)
};

// The package layout (docs/install.md), `flotilla-agent init --system`: the
// configuration in /etc/flotilla, keys, state and releases in the state directory.
inline constexpr const char* kSystemConfigFile = "/etc/flotilla/agent.toml";
inline constexpr const char* kSystemStateDir = "/var/lib/flotilla-agent";

struct AgentInitOptions {
  std::filesystem::path dir;  // keys/, state/ and (by default) apps/
  // Where agent.toml goes; empty = <dir>/agent.toml. Elsewhere (the package
  // layout) the paths it holds are written absolute.
  std::filesystem::path config_file;
  std::filesystem::path join_file;
  std::string id;                   // empty = host name
  std::vector<std::string> labels;  // "k=v"
  std::vector<std::string> vars;    // "k=v"
  std::filesystem::path apps_dir;   // empty = <dir>/apps
  std::string run_as;
};

// Writes agent.toml and keys/agent.key (0600) from a coordinator's join.toml;
// returns the path of agent.toml.
Result<std::filesystem::path> initAgent(const AgentInitOptions& opts);
Result<AgentConfig> loadAgentConfig(const std::filesystem::path& file);

}  // namespace flotilla::agent
