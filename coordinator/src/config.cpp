#include "flotilla/coordinator/config.h"

#include <pwd.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>

#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/operator_identity.h"
#include "flotilla/coordinator/store.h"
#include "flotilla/protocol/order.h"
#include "http_config.h"
#include "leadership_config.h"
#include "notify_toml.h"
#include "policy_config.h"

namespace flotilla::coordinator {
namespace {

namespace fs = std::filesystem;

std::string where(const fs::path& file, const toml::source_region& r) {
  std::ostringstream os;
  os << file.string() << ":" << r.begin.line << ":" << r.begin.column;
  return os.str();
}

// Reads an optional string key; type errors name the key and position.
Status readString(const fs::path& file, const toml::table& t, const char* key, const char* path, std::string& out) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  auto v = n->value<std::string>();
  if (!v) return Error(Errc::kInvalidArgument, where(file, n->source()) + ": " + path + ": expected a string");
  out = *v;
  return {};
}

Status readDuration(const fs::path& file, const toml::table& t, const char* key, const char* path,
                    common::Millis& out) {
  std::string text;
  FLOTILLA_TRY(readString(file, t, key, path, text));
  if (text.empty()) return {};
  auto d = common::parseDuration(text);
  if (!d)
    return Error(Errc::kInvalidArgument, where(file, t.get(key)->source()) + ": " + path + ": " + d.error().message);
  if (d->count() <= 0)
    return Error(Errc::kInvalidArgument, where(file, t.get(key)->source()) + ": " + path + ": must be positive");
  out = *d;
  return {};
}

fs::path resolve(const fs::path& dir, const std::string& p) {
  return fs::path(p).is_absolute() ? fs::path(p) : dir / p;
}

Status checkKnownKeys(const fs::path& file, const toml::table& root) {
  for (auto& [k, v] : root) {
    std::string key(k.str());
    if (key != "log_level" && key != "http" && key != "agents" && key != "control" && key != "orders" &&
        key != "store" && key != "keys" && key != "policy" && key != "notify" && key != "leadership")
      return Error(Errc::kInvalidArgument, where(file, k.source()) + ": " + key + ": unknown key");
  }
  return {};
}

// The table `name` of `root`; an absent one reads as empty.
Result<const toml::table*> section(const fs::path& file, const toml::table& root, const char* name) {
  static const toml::table kEmpty;
  const toml::node* n = root.get(name);
  if (!n) return &kEmpty;
  if (!n->is_table())
    return Error(Errc::kInvalidArgument, where(file, n->source()) + ": " + name + ": expected a table");
  return n->as_table();
}

Status readAgents(const fs::path& file, const toml::table& root, CoordinatorConfig& c) {
  auto agents = section(file, root, "agents");
  if (!agents) return agents.error();
  FLOTILLA_TRY(readString(file, **agents, "listen", "agents.listen", c.agent_listen));
  FLOTILLA_TRY(readDuration(file, **agents, "heartbeat_interval", "agents.heartbeat_interval", c.heartbeat_interval));
  if (c.heartbeat_interval < kMinHeartbeatInterval || c.heartbeat_interval > kMaxHeartbeatInterval)
    return Error(Errc::kInvalidArgument,
                 where(file, (*agents)->get("heartbeat_interval")->source()) +
                     ": agents.heartbeat_interval: " + common::formatDuration(c.heartbeat_interval) +
                     " is outside what agents accept (" + common::formatDuration(kMinHeartbeatInterval) + " to " +
                     common::formatDuration(kMaxHeartbeatInterval) + ")");
  FLOTILLA_TRY(readDuration(file, **agents, "heartbeat_expiry", "agents.heartbeat_expiry", c.heartbeat_expiry));
  if (c.heartbeat_expiry <= c.heartbeat_interval)
    return Error(Errc::kInvalidArgument,
                 file.string() + ": agents.heartbeat_expiry must be longer than heartbeat_interval");
  return {};
}

Status readOperators(const fs::path& file, const toml::table& control, CoordinatorConfig& c) {
  const toml::node* ops = control.get("operators");
  if (!ops) return {};
  const toml::array* arr = ops->as_array();
  if (!arr)
    return Error(Errc::kInvalidArgument,
                 where(file, ops->source()) + ": control.operators: expected an array of hex keys");
  for (const auto& el : *arr) {
    auto hex = el.value<std::string>();
    auto key = hex ? common::publicKeyFromHex(*hex) : Result<common::PublicKey>(Error(Errc::kInvalidArgument, ""));
    if (!key)
      return Error(Errc::kInvalidArgument, where(file, el.source()) +
                                               ": control.operators: expected an operator public key (64 hex "
                                               "characters, from `flotilla keygen`)");
    c.operators.push_back(*key);
  }
  return {};
}

Status readControl(const fs::path& file, const toml::table& root, CoordinatorConfig& c) {
  auto control = section(file, root, "control");
  if (!control) return control.error();
  FLOTILLA_TRY(readString(file, **control, "endpoint", "control.endpoint", c.control_endpoint));
  FLOTILLA_TRY(readString(file, **control, "group", "control.group", c.control_group));
  if (c.control_endpoint.empty()) c.control_endpoint = "ipc://" + (c.dir / "control.sock").string();
  FLOTILLA_TRY(readOperators(file, **control, c));
  if (c.control_endpoint.rfind("tcp://", 0) == 0 && c.operators.empty())
    return Error(Errc::kInvalidArgument, file.string() + ": control.endpoint " + c.control_endpoint +
                                             ": a TCP control endpoint needs control.operators (operator public keys)");
  if (c.control_endpoint.rfind("tcp://", 0) != 0 && c.control_endpoint.rfind("ipc://", 0) != 0)
    return Error(Errc::kInvalidArgument, file.string() + ": control.endpoint " + c.control_endpoint +
                                             ": expected ipc://PATH or tcp://HOST:PORT");
  return {};
}

Status readOrders(const fs::path& file, const toml::table& root, CoordinatorConfig& c) {
  auto orders = section(file, root, "orders");
  if (!orders) return orders.error();
  FLOTILLA_TRY(readDuration(file, **orders, "ttl", "orders.ttl", c.order_ttl));
  FLOTILLA_TRY(readDuration(file, **orders, "retry", "orders.retry", c.order_retry));
  if (c.order_retry.count() <= 0)
    return Error(Errc::kInvalidArgument, file.string() + ": orders.retry must be positive");
  return {};
}

Status readStore(const fs::path& file, const toml::table& root, CoordinatorConfig& c) {
  auto store = section(file, root, "store");
  if (!store) return store.error();
  std::string store_file = "flotilla.db", artifacts = "artifacts";
  FLOTILLA_TRY(readString(file, **store, "file", "store.file", store_file));
  FLOTILLA_TRY(readString(file, **store, "artifacts", "store.artifacts", artifacts));
  c.store_file = resolve(c.dir, store_file);
  c.artifacts_dir = resolve(c.dir, artifacts);
  FLOTILLA_TRY(readString(file, **store, "url", "store.url", c.store_url));
  if (auto st = checkStoreUrl(c.store_url); !c.store_url.empty() && !st.ok())
    return Error(Errc::kInvalidArgument,
                 where(file, (*store)->get("url")->source()) + ": store.url: " + st.error().message);
  std::string password_file;
  FLOTILLA_TRY(readString(file, **store, "password_file", "store.password_file", password_file));
  if (!password_file.empty() && c.store_url.empty())
    return Error(Errc::kInvalidArgument, where(file, (*store)->get("password_file")->source()) +
                                             ": store.password_file: set only with store.url (PostgreSQL)");
  if (!password_file.empty()) c.store_password_file = resolve(c.dir, password_file);
  FLOTILLA_TRY(readDuration(file, **store, "upload_timeout", "store.upload_timeout", c.upload_timeout));
  if (c.upload_timeout.count() <= 0)
    return Error(Errc::kInvalidArgument, file.string() + ": store.upload_timeout must be positive");
  return {};
}

// keys/rotations: one hex-encoded rotation statement per line, oldest first.
Status readRotations(const fs::path& rotations, std::vector<protocol::Rotation>& out) {
  if (!fs::exists(rotations)) return {};
  auto text = common::readFile(rotations);
  if (!text) return text.error();
  std::istringstream lines(*text);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    if (line.empty()) continue;
    auto raw = common::fromHex(line);
    auto msg = raw ? protocol::decodeCoordinatorMessage(*raw) : Result<protocol::CoordinatorMessage>(raw.error());
    if (!msg || !std::holds_alternative<protocol::Rotation>(*msg))
      return Error(Errc::kCorrupt, rotations.string() + ":" + std::to_string(n) + ": not a rotation statement");
    out.push_back(std::get<protocol::Rotation>(*msg));
  }
  return {};
}

Status readKeys(const fs::path& file, const toml::table& root, CoordinatorConfig& c) {
  auto keys = section(file, root, "keys");
  if (!keys) return keys.error();
  std::string plan_secret = "keys/plan.key", curve_secret = "keys/curve.key";
  FLOTILLA_TRY(readString(file, **keys, "plan_secret", "keys.plan_secret", plan_secret));
  FLOTILLA_TRY(readString(file, **keys, "curve_secret", "keys.curve_secret", curve_secret));
  auto plan = common::readKeyFile(resolve(c.dir, plan_secret), 64, "a plan signing key");
  if (!plan) return plan.error().context(file.string() + ": keys.plan_secret");
  std::copy(plan->begin(), plan->end(), c.plan_key.secret_key.begin());
  // An Ed25519 secret key carries its public half in its last 32 bytes.
  std::copy(plan->begin() + 32, plan->end(), c.plan_key.public_key.begin());
  FLOTILLA_TRY(readRotations(c.dir / "keys/rotations", c.rotations));
  auto curve = common::readKeyFile(resolve(c.dir, curve_secret), 32, "a CURVE secret key");
  if (!curve) return curve.error().context(file.string() + ": keys.curve_secret");
  std::copy(curve->begin(), curve->end(), c.curve_key.secret_key.begin());
  crypto_scalarmult_base(c.curve_key.public_key.data(), c.curve_key.secret_key.data());
  return {};
}

// [policy.provenance] ci_keys: public key files (`flotilla keygen --ci`), relative to the config's directory.
Status readCiKeys(const fs::path& file, const toml::table& provenance, CoordinatorConfig& c) {
  const toml::node* keys = provenance.get("ci_keys");
  if (!keys)
    return Error(Errc::kInvalidArgument, where(file, provenance.source()) +
                                             ": policy.provenance: needs ci_keys (CI public key files), or remove "
                                             "[policy.provenance] to turn the gate off");
  const toml::array* arr = keys->as_array();
  if (!arr)
    return Error(Errc::kInvalidArgument,
                 where(file, keys->source()) + ": policy.provenance.ci_keys: expected an array of public key files");
  if (arr->empty())
    return Error(Errc::kInvalidArgument, where(file, keys->source()) +
                                             ": policy.provenance.ci_keys: is empty; list at least one CI public "
                                             "key file, or remove [policy.provenance] to turn the gate off");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& el = (*arr)[i];
    const std::string key = "policy.provenance.ci_keys[" + std::to_string(i) + "]";
    auto name = el.value<std::string>();
    if (!name || name->empty())
      return Error(Errc::kInvalidArgument, where(file, el.source()) + ": " + key + ": expected a file name");
    const fs::path path = resolve(c.dir, *name);
    auto text = common::readFile(path);
    if (!text) return text.error().context(where(file, el.source()) + ": " + key);
    std::string hex = *text;
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) hex.pop_back();
    auto pub = common::publicKeyFromHex(hex);
    if (!pub)
      return Error(Errc::kInvalidArgument, where(file, el.source()) + ": " + key + ": " + path.string() +
                                               " is not a CI public key (64 hex characters, from `flotilla keygen "
                                               "--ci`)");
    c.ci_keys.push_back(*pub);
  }
  return {};
}

// [policy]: the gates (docs/policy.md). Only the gates this build knows are
// accepted, so a gate it would ignore is an error, never silently open.
Status readPolicy(const fs::path& file, const toml::table& root, CoordinatorConfig& c) {
  auto policy = section(file, root, "policy");
  if (!policy) return policy.error();
  for (auto& [k, v] : **policy)
    if (k.str() != "provenance" && k.str() != "freeze" && k.str() != "break_glass" && k.str() != "alarm" &&
        k.str() != "approvals")
      return Error(Errc::kInvalidArgument, where(file, k.source()) + ": policy." + std::string(k.str()) +
                                               ": unknown key (this build knows policy.freeze, policy.approvals, "
                                               "policy.break_glass, policy.alarm and policy.provenance)");
  FLOTILLA_TRY(readPolicyGates(file, **policy, operatorIdentities(c), c.policy));
  const toml::node* node = (*policy)->get("provenance");
  if (!node) return {};
  const toml::table* provenance = node->as_table();
  if (!provenance)
    return Error(Errc::kInvalidArgument, where(file, node->source()) + ": policy.provenance: expected a table");
  for (auto& [k, v] : *provenance)
    if (k.str() != "ci_keys")
      return Error(Errc::kInvalidArgument,
                   where(file, k.source()) + ": policy.provenance." + std::string(k.str()) + ": unknown key");
  return readCiKeys(file, *provenance, c);
}

// The daemon's user and its primary group.
struct DaemonUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<DaemonUser> findDaemonUser(const std::string& name) {
  const struct passwd* pw = ::getpwnam(name.c_str());
  if (!pw)
    return Error(Errc::kNotFound, "no user named '" + name + "' to run the coordinator (the package creates it)");
  return DaemonUser{name, pw->pw_uid, pw->pw_gid};
}

// Gives the daemon's user what it reads and writes: the keys and the state
// directory with the store; coordinator.toml becomes readable by its group.
Status handOver(const fs::path& dir, const fs::path& state_dir, const DaemonUser& user) {
  auto own = [&](const fs::path& p, uid_t uid) -> Status {
    if (::chown(p.c_str(), uid, user.gid) != 0)
      return Error(Errc::kIo, "chown " + user.name + " " + p.string() + ": " + std::strerror(errno));
    return {};
  };
  FLOTILLA_TRY(own(dir / "coordinator.toml", static_cast<uid_t>(-1)));
  FLOTILLA_TRY(own(dir / "keys", user.uid));
  for (const char* key : {"plan.key", "plan.pub", "curve.key", "curve.pub"})
    FLOTILLA_TRY(own(dir / "keys" / key, user.uid));
  FLOTILLA_TRY(own(state_dir, user.uid));
  for (const char* store : {"flotilla.db", "flotilla.db-wal", "flotilla.db-shm"})
    if (fs::exists(state_dir / store)) FLOTILLA_TRY(own(state_dir / store, user.uid));
  return {};
}

}  // namespace

StoreOptions storeOptions(const CoordinatorConfig& c, bool read_only) {
  return StoreOptions{
      .file = c.store_file, .url = c.store_url, .password_file = c.store_password_file, .read_only = read_only};
}

std::vector<std::string> operatorIdentities(const CoordinatorConfig& c) {
  std::vector<std::string> out;
  for (const auto& k : c.operators) out.push_back(identityOfKey(k));
  return out;
}

std::string advertisedEndpoint(const std::string& listen) {
  for (const char* any : {"tcp://0.0.0.0:", "tcp://*:"})
    if (listen.rfind(any, 0) == 0) return "tcp://127.0.0.1:" + listen.substr(std::string(any).size());
  return listen;
}

Status initCoordinator(const InitOptions& opts) {
  const fs::path dir = fs::absolute(opts.dir);
  const fs::path config_file = dir / "coordinator.toml";
  if (fs::exists(config_file))
    return Error(Errc::kAlreadyExists, config_file.string() + " already exists; refusing to overwrite its keys");
  std::optional<DaemonUser> user;  // looked up before anything is written
  if (!opts.user.empty()) {
    auto found = findDaemonUser(opts.user);
    if (!found) return found.error();
    user = *found;
  }
  // With a separate state directory, dir holds only the configuration: its
  // secrets are in keys/ (0700) and join.toml (0600).
  const bool separate_state = !opts.state_dir.empty();
  const fs::path state_dir = separate_state ? fs::absolute(opts.state_dir) : dir;
  FLOTILLA_TRY(common::ensureDir(dir, separate_state ? 0755 : 0700));
  FLOTILLA_TRY(common::ensureDir(dir / "keys", 0700));
  FLOTILLA_TRY(common::ensureDir(state_dir, 0750));
  auto in_state = [&](const char* rel) { return separate_state ? (state_dir / rel).string() : std::string(rel); };

  auto plan = common::generateSigningKeyPair();
  auto curve = common::generateCurveKeyPair();
  FLOTILLA_TRY(common::writeSecretFile(dir / "keys/plan.key", common::toHex(plan.secret_key) + "\n"));
  FLOTILLA_TRY(common::atomicWriteFile(dir / "keys/plan.pub", common::toHex(plan.public_key) + "\n"));
  FLOTILLA_TRY(common::writeSecretFile(dir / "keys/curve.key", common::toHex(curve.secret_key) + "\n"));
  FLOTILLA_TRY(common::atomicWriteFile(dir / "keys/curve.pub", common::toHex(curve.public_key) + "\n"));

  std::string control = opts.control.empty() ? "ipc://" + (state_dir / "control.sock").string() : opts.control;
  std::ostringstream cfg;
  cfg << "# Flotilla coordinator. Paths are relative to this file's directory.\n"
      << "log_level = \"info\"\n"
      << "http = " << toml::value<std::string>(opts.http)
      << "   # HOST:PORT serving /metrics (Prometheus), /healthz and, on loopback, the dashboard "
         "(docs/dashboard.md), e.g. \"127.0.0.1:7780\"; empty = off\n\n"
      << "[agents]\n"
      << "listen = " << toml::value<std::string>(opts.listen) << "\n"
      << "heartbeat_interval = \"5s\"\n"
      << "heartbeat_expiry = \"15s\"   # an agent silent this long is lost\n\n"
      << "[control]\n"
      << "endpoint = " << toml::value<std::string>(control) << "\n"
      << "group = \"\"                 # group owning the IPC socket (mode 0660)\n"
      << "operators = []              # operator public keys (flotilla keygen) allowed on a tcp:// endpoint\n\n"
      << "[orders]\n"
      << "ttl = \"1h\"                 # signed orders expire after this\n"
      << "retry = \"5s\"               # an order no agent acknowledged is sent again after this\n\n"
      << "[store]\n"
      << "file = " << toml::value<std::string>(in_state("flotilla.db")) << "\n"
      << "artifacts = " << toml::value<std::string>(in_state("artifacts")) << "\n"
      << "upload_timeout = \"60s\"      # an upload that sends nothing this long is dropped and its file deleted\n\n"
      << "[keys]\n"
      << "plan_secret = \"keys/plan.key\"\n"
      << "plan_public = \"keys/plan.pub\"\n"
      << "curve_secret = \"keys/curve.key\"\n"
      << "curve_public = \"keys/curve.pub\"\n";
  FLOTILLA_TRY(common::atomicWriteFile(config_file, cfg.str(), 0640));

  auto config = loadCoordinatorConfig(config_file);
  if (!config) return config.error();
  auto token = createJoinToken(*config, opts.token_ttl, -1);
  if (!token) return token.error();

  std::string endpoint = opts.advertise.empty() ? advertisedEndpoint(opts.listen) : opts.advertise;
  std::ostringstream join;
  join << "# Give this file to `flotilla-agent init --join`. It holds a join token: keep it secret.\n"
       << "coordinator = " << toml::value<std::string>(endpoint) << "\n"
       << "coordinator_key = \"" << common::toHex(curve.public_key) << "\"\n"
       << "plan_key = \"" << common::toHex(plan.public_key) << "\"\n"
       << "token = \"" << *token << "\"\n";
  FLOTILLA_TRY(common::writeSecretFile(dir / "join.toml", join.str()));
  return user ? handOver(dir, state_dir, *user) : Status{};
}

Result<std::string> rotatePlanKey(const CoordinatorConfig& config) {
  const fs::path keys = config.dir / "keys";
  auto next = common::generateSigningKeyPair();
  auto rotation =
      protocol::makeRotation(config.plan_key, next.public_key, common::toUnixSeconds(std::chrono::system_clock::now()));
  // Record the statement first: if we stop half-way the old key still works and
  // the statement is harmless; the reverse order could strand every agent.
  std::string chain;
  if (fs::exists(keys / "rotations")) {
    auto text = common::readFile(keys / "rotations");
    if (!text) return text.error();
    chain = *text;
  }
  chain += common::toHex(common::asBytes(protocol::encode(rotation))) + "\n";
  FLOTILLA_TRY(common::atomicWriteFile(keys / "rotations", chain, 0644));
  const std::string old_id = common::keyId(config.plan_key.public_key);
  FLOTILLA_TRY(
      common::writeSecretFile(keys / ("plan.key." + old_id), common::toHex(config.plan_key.secret_key) + "\n"));
  FLOTILLA_TRY(common::writeSecretFile(keys / "plan.key", common::toHex(next.secret_key) + "\n"));
  FLOTILLA_TRY(common::atomicWriteFile(keys / "plan.pub", common::toHex(next.public_key) + "\n"));
  return common::keyId(next.public_key);
}

Result<std::string> createJoinToken(const CoordinatorConfig& config, common::Millis ttl, long uses) {
  auto store = openStore(storeOptions(config));
  if (!store) return store.error();
  std::string token = common::randomHex(32);
  TokenRecord rec;
  rec.token_hash = common::blake2bHex(common::asBytes(token));
  rec.expires_at_ms = common::toUnixMillis(std::chrono::system_clock::now() + ttl);
  rec.uses_left = uses;
  FLOTILLA_TRY((*store)->putToken(rec));
  return token;
}

Result<CoordinatorConfig> loadCoordinatorConfig(const fs::path& file_in) {
  const fs::path file = fs::absolute(file_in);
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    return Error(Errc::kInvalidArgument, where(file, e.source()) + ": " + std::string(e.description()));
  }
  CoordinatorConfig c;
  c.dir = file.parent_path();
  FLOTILLA_TRY(readString(file, root, "log_level", "log_level", c.log_level));
  FLOTILLA_TRY(readHttp(file, root, c.http));
  FLOTILLA_TRY(checkKnownKeys(file, root));
  FLOTILLA_TRY(readAgents(file, root, c));
  FLOTILLA_TRY(readControl(file, root, c));
  FLOTILLA_TRY(readOrders(file, root, c));
  FLOTILLA_TRY(readStore(file, root, c));
  FLOTILLA_TRY(readKeys(file, root, c));
  FLOTILLA_TRY(readPolicy(file, root, c));
  FLOTILLA_TRY(readNotifyTargets(file, c.dir, root, c.notify));
  FLOTILLA_TRY(readLeadership(file, root, c));
  return c;
}

}  // namespace flotilla::coordinator
