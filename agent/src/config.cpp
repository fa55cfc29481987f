#include "flotilla/agent/config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "flotilla/agent/url_fetch.h"
#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/protocol/endpoint_list.h"

namespace flotilla::agent {
namespace {

namespace fs = std::filesystem;

std::string where(const fs::path& file, const toml::source_region& r) {
  std::ostringstream os;
  os << file.string() << ":" << r.begin.line << ":" << r.begin.column;
  return os.str();
}

Result<toml::table> parseToml(const fs::path& file) {
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    return Error(Errc::kInvalidArgument, where(file, e.source()) + ": " + std::string(e.description()));
  }
}

Result<std::string> requireString(const fs::path& file, const toml::table& t, const char* key,
                                  const std::string& path) {
  const toml::node* n = t.get(key);
  if (!n) return Error(Errc::kInvalidArgument, file.string() + ": " + path + ": missing");
  auto v = n->value<std::string>();
  if (!v) return Error(Errc::kInvalidArgument, where(file, n->source()) + ": " + path + ": expected a string");
  return *v;
}

Result<std::map<std::string, std::string>> stringTable(const fs::path& file, const toml::table& root, const char* key) {
  std::map<std::string, std::string> out;
  const toml::node* n = root.get(key);
  if (!n) return out;
  if (!n->is_table())
    return Error(Errc::kInvalidArgument, where(file, n->source()) + ": " + key + ": expected a table");
  for (auto& [k, v] : *n->as_table()) {
    auto s = v.value<std::string>();
    if (!s)
      return Error(Errc::kInvalidArgument,
                   where(file, v.source()) + ": " + key + "." + std::string(k.str()) + ": expected a string");
    out[std::string(k.str())] = *s;
  }
  return out;
}

Result<common::PublicKey> hexKey(const fs::path& file, const toml::table& t, const char* key, const std::string& path) {
  auto s = requireString(file, t, key, path);
  if (!s) return s.error();
  auto k = common::publicKeyFromHex(*s);
  if (!k)
    return Error(Errc::kInvalidArgument,
                 where(file, t.get(key)->source()) + ": " + path + ": expected 64 hex characters");
  return *k;
}

Result<std::pair<std::string, std::string>> splitKv(const std::string& kv, const char* flag) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    return Error(Errc::kInvalidArgument, std::string(flag) + " '" + kv + "': expected key=value");
  return std::make_pair(kv.substr(0, eq), kv.substr(eq + 1));
}

// The coordinator endpoints under `key`: one string, or an array of them (a
// leader and its standbys, all with the same coordinator key).
Result<std::vector<std::string>> readEndpoints(const fs::path& file, const toml::table& t, const char* key,
                                               const std::string& path) {
  const toml::node* n = t.get(key);
  if (!n) return Error(Errc::kInvalidArgument, file.string() + ": " + path + ": missing");
  const std::string expected =
      ": expected an endpoint (\"tcp://HOST:PORT\") or a list of them ([\"tcp://a:7700\", \"tcp://b:7700\"])";
  std::vector<const toml::node*> items;
  if (const toml::array* arr = n->as_array()) {
    if (arr->empty())
      return Error(Errc::kInvalidArgument, where(file, n->source()) + ": " + path + ": is empty" + expected);
    for (const auto& el : *arr) items.push_back(&el);
  } else {
    items.push_back(n);
  }
  std::vector<std::string> out;
  for (const toml::node* item : items) {
    auto s = item->value<std::string>();
    if (!s) return Error(Errc::kInvalidArgument, where(file, item->source()) + ": " + path + expected);
    // One item at a time, so a comma inside an endpoint is refused rather than split.
    auto parsed = protocol::parseEndpointList(*s, path);
    if (!parsed || parsed->size() != 1)
      return Error(Errc::kInvalidArgument, where(file, item->source()) + ": " + path + ": '" + *s +
                                               "': expected tcp://HOST:PORT or ipc://PATH");
    if (std::find(out.begin(), out.end(), *s) != out.end())
      return Error(Errc::kInvalidArgument, where(file, item->source()) + ": " + path + ": '" + *s + "': listed twice");
    out.push_back(*s);
  }
  return out;
}

// What a coordinator's join.toml tells a new agent.
struct JoinInfo {
  std::vector<std::string> endpoints;
  common::PublicKey coordinator_key{};
  common::PublicKey plan_key{};
  std::string token;  // empty = none
};

Result<JoinInfo> readJoinFile(const fs::path& file) {
  auto join = parseToml(file);
  if (!join) return join.error();
  JoinInfo info;
  auto endpoints = readEndpoints(file, *join, "coordinator", "coordinator");
  if (!endpoints) return endpoints.error();
  info.endpoints = std::move(*endpoints);
  auto ckey = hexKey(file, *join, "coordinator_key", "coordinator_key");
  if (!ckey) return ckey.error();
  info.coordinator_key = *ckey;
  auto pkey = hexKey(file, *join, "plan_key", "plan_key");
  if (!pkey) return pkey.error();
  info.plan_key = *pkey;
  if (join->get("token")) {
    auto t = requireString(file, *join, "token", "token");
    if (!t) return t.error();
    info.token = *t;
  }
  return info;
}

// `requested`, or the host name when it is empty.
Result<std::string> agentId(const std::string& requested) {
  std::string id = requested;
  if (id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    id = host;
  }
  if (id.empty() || id.size() > 128 || id.find_first_of(" \t\n/\"\\") != std::string::npos)
    return Error(Errc::kInvalidArgument, "--id '" + id + "': use 1-128 characters without spaces, quotes or '/'");
  return id;
}

// "k=v" flags as a TOML table.
Result<toml::table> flagTable(const std::vector<std::string>& flags, const char* flag) {
  toml::table out;
  for (const auto& kv : flags) {
    auto p = splitKv(kv, flag);
    if (!p) return p.error();
    out.insert_or_assign(p->first, p->second);
  }
  return out;
}

// One endpoint as a string (as before lists existed), several as an array.
std::string endpointsText(const std::vector<std::string>& endpoints) {
  if (endpoints.size() == 1) {
    std::ostringstream os;
    os << toml::value<std::string>(endpoints.front());
    return os.str();
  }
  toml::array arr;
  for (const auto& e : endpoints) arr.push_back(e);
  std::ostringstream os;
  os << arr;
  return os.str();
}

std::string agentConfigText(const AgentInitOptions& opts, const fs::path& config_file, const std::string& id,
                            const fs::path& apps, const JoinInfo& join, const toml::table& labels,
                            const toml::table& vars) {
  // Relative to agent.toml when it sits in the agent's directory, absolute otherwise.
  const fs::path dir = fs::absolute(opts.dir);
  auto local = [&](const char* rel) {
    return config_file.parent_path() == dir ? std::string(rel) : (dir / rel).string();
  };
  std::ostringstream os;
  os << "# Flotilla agent. Paths are relative to this file's directory.\n"
     << "id = " << toml::value<std::string>(id) << "\n"
     << "apps_dir = " << toml::value<std::string>(apps.string()) << "\n"
     << "state_dir = " << toml::value<std::string>(local("state")) << "\n"
     << "run_as = " << toml::value<std::string>(opts.run_as)
     << "   # user for hooks, restart and exec checks; empty = the agent's user\n"
     << "keep_releases = 3\n"
     << "fetch_timeout = \"5m\"\n"
     << "log_level = \"info\"\n"
     << "release_keys = []   # offline release public keys (flotilla keygen --release); if set, only signed artifacts "
        "run\n\n"
     << "[coordinator]\n"
     << "endpoint = " << endpointsText(join.endpoints)
     << (join.endpoints.size() > 1 ? "   # the leader and its standbys, tried in this order (docs/ha.md)\n" : "\n")
     << "curve_key = \"" << common::toHex(join.coordinator_key) << "\"\n"
     << "plan_key = \"" << common::toHex(join.plan_key) << "\"   # orders must be signed by this key\n"
     << "token = " << toml::value<std::string>(join.token) << "\n\n"
     << "[keys]\n"
     << "curve_secret = " << toml::value<std::string>(local("keys/agent.key")) << "\n\n"
     << "[labels]\n"
     << labels << "\n\n"
     << "[vars]\n"
     << vars << "\n";
  return os.str();
}

Status checkKnownKeys(const fs::path& file, const toml::table& root) {
  static const std::set<std::string> kKnown = {
      "id",        "apps_dir",   "state_dir",          "run_as",       "keep_releases", "fetch_timeout", "stop_grace",
      "log_level", "clock_skew", "max_artifact_bytes", "release_keys", "coordinator",   "keys",          "labels",
      "vars",      "flags",      "fetch_proxy",        "fetch_ca_file"};
  for (auto& [k, v] : root)
    if (!kKnown.count(std::string(k.str())))
      return Error(Errc::kInvalidArgument, where(file, k.source()) + ": " + std::string(k.str()) + ": unknown key");
  return okStatus();
}

// The top-level keys: who the agent is, where it keeps things, how it runs.
// How far the host's clock may be from the coordinator's when checking an
// order's issue and expiry times, and the largest artifact an order may carry.
Status readOrderLimits(const fs::path& file, const toml::table& root, AgentConfig& c) {
  if (const toml::node* n = root.get("clock_skew")) {
    auto s = requireString(file, root, "clock_skew", "clock_skew");
    if (!s) return s.error();
    auto d = common::parseDuration(*s);
    if (!d) return Error(Errc::kInvalidArgument, where(file, n->source()) + ": clock_skew: " + d.error().message);
    if (*d > std::chrono::hours(1))
      return Error(Errc::kInvalidArgument, where(file, n->source()) + ": clock_skew: " + *s +
                                               " is more than 1h; fix the host's clock (NTP) instead");
    c.clock_skew_s = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
  }
  if (const toml::node* n = root.get("max_artifact_bytes")) {
    auto v = n->value<std::int64_t>();
    if (!v || *v <= 0)
      return Error(Errc::kInvalidArgument,
                   where(file, n->source()) + ": max_artifact_bytes: expected a positive integer (bytes)");
    c.max_artifact_bytes = static_cast<std::uint64_t>(*v);
  }
  return okStatus();
}

// How artifact URLs are downloaded: through which proxy, trusting which CAs.
Status readUrlFetch(const fs::path& file, const toml::table& root, AgentConfig& c) {
  if (root.get("fetch_proxy")) {
    auto s = requireString(file, root, "fetch_proxy", "fetch_proxy");
    if (!s) return s.error();
    if (!s->empty()) {
      auto checked = proxyFor("http://example.invalid/", *s, ProxyEnvironment{});
      if (!checked)
        return Error(Errc::kInvalidArgument,
                     where(file, root.get("fetch_proxy")->source()) + ": fetch_proxy: " + checked.error().message);
    }
    c.fetch_proxy = *s;
  }
  if (const toml::node* n = root.get("fetch_ca_file")) {
    auto s = requireString(file, root, "fetch_ca_file", "fetch_ca_file");
    if (!s) return s.error();
    c.fetch_ca_file = fs::path(*s).is_absolute() ? fs::path(*s) : c.dir / *s;
    std::error_code ec;
    if (!fs::is_regular_file(c.fetch_ca_file, ec))
      return Error(Errc::kInvalidArgument,
                   where(file, n->source()) + ": fetch_ca_file: no such file " + c.fetch_ca_file.string());
  }
  return okStatus();
}

Status readAgentSettings(const fs::path& file, const toml::table& root, AgentConfig& c) {
  auto id = requireString(file, root, "id", "id");
  if (!id) return id.error();
  c.id = *id;
  auto apps = requireString(file, root, "apps_dir", "apps_dir");
  if (!apps) return apps.error();
  c.apps_dir = fs::path(*apps).is_absolute() ? fs::path(*apps) : c.dir / *apps;
  std::string state = "state";
  if (root.get("state_dir")) {
    auto s = requireString(file, root, "state_dir", "state_dir");
    if (!s) return s.error();
    state = *s;
  }
  c.state_dir = fs::path(state).is_absolute() ? fs::path(state) : c.dir / state;
  if (root.get("run_as")) {
    auto s = requireString(file, root, "run_as", "run_as");
    if (!s) return s.error();
    if (!s->empty()) c.run_as = *s;
  }
  if (const toml::node* n = root.get("keep_releases")) {
    auto v = n->value<std::int64_t>();
    if (!v || *v < 2)
      return Error(Errc::kInvalidArgument, where(file, n->source()) + ": keep_releases: expected an integer >= 2");
    c.keep_releases = static_cast<std::size_t>(*v);
  }
  for (auto [key, target] : {std::pair<const char*, common::Millis*>{"fetch_timeout", &c.fetch_timeout},
                             std::pair<const char*, common::Millis*>{"stop_grace", &c.stop_grace}}) {
    if (!root.get(key)) continue;
    auto s = requireString(file, root, key, key);
    if (!s) return s.error();
    auto d = common::parseDuration(*s);
    if (!d)
      return Error(Errc::kInvalidArgument,
                   where(file, root.get(key)->source()) + ": " + key + ": " + d.error().message);
    *target = *d;
  }
  FLOTILLA_TRY(readOrderLimits(file, root, c));
  FLOTILLA_TRY(readUrlFetch(file, root, c));
  if (root.get("log_level")) {
    auto s = requireString(file, root, "log_level", "log_level");
    if (!s) return s.error();
    c.log_level = *s;
  }
  return okStatus();
}

Status readCoordinator(const fs::path& file, const toml::table& root, AgentConfig& c) {
  const toml::node* coord = root.get("coordinator");
  if (!coord || !coord->is_table())
    return Error(Errc::kInvalidArgument, file.string() + ": [coordinator]: missing table");
  const auto& ct = *coord->as_table();
  auto ep = readEndpoints(file, ct, "endpoint", "coordinator.endpoint");
  if (!ep) return ep.error();
  c.coordinator_endpoints = std::move(*ep);
  if (const toml::node* n = ct.get("link_timeout")) {
    auto s = requireString(file, ct, "link_timeout", "coordinator.link_timeout");
    if (!s) return s.error();
    auto d = common::parseDuration(*s);
    if (!d)
      return Error(Errc::kInvalidArgument,
                   where(file, n->source()) + ": coordinator.link_timeout: " + d.error().message);
    if (*d < std::chrono::seconds(2) || *d > std::chrono::minutes(10))
      return Error(Errc::kInvalidArgument, where(file, n->source()) + ": coordinator.link_timeout: " + *s +
                                               " is outside 2s-10m (a silent connection is noticed within it)");
    c.link_timeout = *d;
  }
  auto ck = hexKey(file, ct, "curve_key", "coordinator.curve_key");
  if (!ck) return ck.error();
  c.coordinator_key = *ck;
  auto pk = hexKey(file, ct, "plan_key", "coordinator.plan_key");
  if (!pk) return pk.error();
  c.plan_key = *pk;
  if (ct.get("token")) {
    auto t = requireString(file, ct, "token", "coordinator.token");
    if (!t) return t.error();
    c.join_token = *t;
  }
  return okStatus();
}

// The agent's CURVE key pair, from the secret key file [keys] names.
Status readCurveSecret(const fs::path& file, const toml::table& root, AgentConfig& c) {
  std::string secret = "keys/agent.key";
  if (const toml::node* keys = root.get("keys"); keys && keys->is_table() && keys->as_table()->get("curve_secret")) {
    auto s = requireString(file, *keys->as_table(), "curve_secret", "keys.curve_secret");
    if (!s) return s.error();
    secret = *s;
  }
  fs::path secret_path = fs::path(secret).is_absolute() ? fs::path(secret) : c.dir / secret;
  auto raw = common::readKeyFile(secret_path, 32, "a CURVE secret key");
  if (!raw) return raw.error().context(file.string() + ": keys.curve_secret");
  std::copy(raw->begin(), raw->end(), c.curve_key.secret_key.begin());
  crypto_scalarmult_base(c.curve_key.public_key.data(), c.curve_key.secret_key.data());
  return okStatus();
}

Status readReleaseKeys(const fs::path& file, const toml::table& root, AgentConfig& c) {
  const toml::node* rk = root.get("release_keys");
  if (rk == nullptr) return okStatus();
  const toml::array* arr = rk->as_array();
  if (!arr)
    return Error(Errc::kInvalidArgument, where(file, rk->source()) + ": release_keys: expected an array of hex keys");
  for (const auto& el : *arr) {
    auto hex = el.value<std::string>();
    auto key = hex ? common::publicKeyFromHex(*hex) : Result<common::PublicKey>(Error(Errc::kInvalidArgument, ""));
    if (!key)
      return Error(Errc::kInvalidArgument,
                   where(file, el.source()) + ": release_keys: expected a release public key (64 hex characters)");
    c.release_keys.push_back(*key);
  }
  return okStatus();
}

bool loopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  unsigned a = 0, b = 0, c = 0, d = 0;
  char end = 0;
  return std::sscanf(host.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &end) == 4 && a == 127 && b < 256 && c < 256 &&
         d < 256;
}

// [flags] listen = "127.0.0.1:PORT" (or "[::1]:PORT"): the OFREP endpoint, loopback only.
Status readFlags(const fs::path& file, const toml::table& root, AgentConfig& c) {
  const toml::node* n = root.get("flags");
  if (!n) return okStatus();
  if (!n->is_table()) return Error(Errc::kInvalidArgument, where(file, n->source()) + ": flags: expected a table");
  const auto& t = *n->as_table();
  for (auto& [k, v] : t)
    if (k.str() != "listen")
      return Error(Errc::kInvalidArgument,
                   where(file, k.source()) + ": flags." + std::string(k.str()) + ": unknown key");
  if (!t.get("listen")) return okStatus();
  auto listen = requireString(file, t, "listen", "flags.listen");
  if (!listen) return listen.error();
  const std::string at = where(file, t.get("listen")->source()) + ": flags.listen: ";
  const auto colon = listen->rfind(':');
  if (colon == std::string::npos || colon == 0)
    return Error(Errc::kInvalidArgument, at + "\"" + *listen + "\": expected HOST:PORT, e.g. \"127.0.0.1:8013\"");
  std::string host = listen->substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  const std::string digits = listen->substr(colon + 1);
  if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos ||
      (port = std::stoi(digits)) < 1 || port > 65535)
    return Error(Errc::kInvalidArgument, at + "\"" + *listen + "\": the port must be 1-65535");
  if (!loopbackHost(host))
    return Error(Errc::kInvalidArgument, at + "\"" + *listen + "\": " + host +
                                             " is not a loopback address; the flag endpoint serves only this host "
                                             "(use 127.0.0.1 or [::1])");
  c.flags_listen = FlagsListen{host, port};
  return okStatus();
}

}  // namespace

Result<fs::path> initAgent(const AgentInitOptions& opts) {
  const fs::path dir = fs::absolute(opts.dir);
  const fs::path config_file = opts.config_file.empty() ? dir / "agent.toml" : fs::absolute(opts.config_file);
  if (fs::exists(config_file))
    return Error(Errc::kAlreadyExists, config_file.string() + " already exists; refusing to overwrite its keys");
  auto join = readJoinFile(opts.join_file);
  if (!join) return join.error();
  auto id = agentId(opts.id);
  if (!id) return id.error();
  auto labels = flagTable(opts.labels, "--label");
  if (!labels) return labels.error();
  auto vars = flagTable(opts.vars, "--var");
  if (!vars) return vars.error();

  FLOTILLA_TRY(common::ensureDir(dir, 0700));
  FLOTILLA_TRY(common::ensureDir(dir / "keys", 0700));
  FLOTILLA_TRY(common::ensureDir(config_file.parent_path(), 0755));
  auto curve = common::generateCurveKeyPair();
  FLOTILLA_TRY(common::writeSecretFile(dir / "keys/agent.key", common::toHex(curve.secret_key) + "\n"));
  FLOTILLA_TRY(common::atomicWriteFile(dir / "keys/agent.pub", common::toHex(curve.public_key) + "\n"));

  fs::path apps = opts.apps_dir.empty() ? dir / "apps" : fs::absolute(opts.apps_dir);
  // agent.toml holds the join token: owner-only.
  FLOTILLA_TRY(
      common::writeSecretFile(config_file, agentConfigText(opts, config_file, *id, apps, *join, *labels, *vars)));
  return config_file;
}

Result<AgentConfig> loadAgentConfig(const fs::path& file_in) {
  const fs::path file = fs::absolute(file_in);
  auto root = parseToml(file);
  if (!root) return root.error();
  FLOTILLA_TRY(checkKnownKeys(file, *root));
  AgentConfig c;
  c.dir = file.parent_path();
  c.file = file;
  FLOTILLA_TRY(readAgentSettings(file, *root, c));
  FLOTILLA_TRY(readCoordinator(file, *root, c));
  FLOTILLA_TRY(readCurveSecret(file, *root, c));
  FLOTILLA_TRY(readReleaseKeys(file, *root, c));
  FLOTILLA_TRY(readFlags(file, *root, c));
  auto labels = stringTable(file, *root, "labels");
  if (!labels) return labels.error();
  c.labels = *labels;
  auto vars = stringTable(file, *root, "vars");
  if (!vars) return vars.error();
  c.vars = *vars;
  return c;
}

}  // namespace flotilla::agent
