// Adversarial tests of Flotilla's trust boundaries (docs/security.md) with real
// coordinator and agent processes on loopback: raw ZeroMQ peers, a fake
// coordinator that signs its own orders, malicious artifacts, operators.
#include <catch2/catch.hpp>

#include <curl/curl.h>
#include <sys/stat.h>
#include <zmq.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "flotilla/common/crypto.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"
#include "support/cluster.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
namespace proto = flotilla::protocol;
namespace common = flotilla::common;

namespace {

// ---------------------------------------------------------------- files

Fleet::AgentSpec agentSpec(const std::string& id) { return Fleet::AgentSpec(id); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Replaces the whole line starting with `key = ` (first occurrence) by `line`.
void setTomlLine(const fs::path& file, const std::string& key, const std::string& line) {
  std::string text = slurp(file);
  std::regex re("(^|\n)" + key + " = [^\n]*");
  std::string out = std::regex_replace(text, re, "$1" + line, std::regex_constants::format_first_only);
  REQUIRE(out != text);
  std::ofstream(file) << out;
}

std::string coordTomlValue(Fleet& f, const std::string& key) {
  std::smatch m;
  std::string text = slurp(f.dir() / "coord/coordinator.toml");
  REQUIRE(std::regex_search(text, m, std::regex("\n" + key + " = '([^']*)'")));
  return m[1];
}

std::string joinValue(Fleet& f, const std::string& key) {
  std::smatch m;
  std::string text = slurp(f.dir() / "coord/join.toml");
  REQUIRE(std::regex_search(text, m, std::regex("\n" + key + " = [\"']([^\"']*)[\"']")));
  return m[1];
}

std::string agentsPort(Fleet& f) {
  auto ep = coordTomlValue(f, "listen");
  return ep.substr(ep.rfind(':') + 1);
}

// `flotilla-agent init` for `id` without starting it, so the test can edit agent.toml.
void initAgent(Fleet& f, const std::string& id, const std::string& role = "web") {
  auto r = runCommand({(binDir() / "agent/flotilla-agent").string(), "init", f.agentDir(id).string(), "--join",
                       (f.dir() / "coord/join.toml").string(), "--id", id, "--label", "role=" + role});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

// True when an agent process runs with this agent's config file.
bool agentAlive(Fleet& f, const std::string& id) {
  const std::string cfg = (f.agentDir(id) / "agent.toml").string();
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = slurp(e.path() / "cmdline");
    std::string st = slurp(e.path() / "stat");
    if (cmd.find(cfg) != std::string::npos && cmd.find("flotilla-agent") != std::string::npos &&
        st.find(") Z") == std::string::npos)
      return true;
  }
  return false;
}

// ---------------------------------------------------------------- console

std::string agentState(Fleet& f, const std::string& id) {
  auto r = f.console({"agents"});
  if (r.exit_code != 0 || !r.json.is_object()) return "<console failed>";
  for (const auto& a : r.json["agents"])
    if (a["id"] == id) return a["state"].get<std::string>();
  return "";
}

bool coordinatorUp(Fleet& f) { return f.console({"agents"}).exit_code == 0; }

std::string submit(Fleet& f, const fs::path& plan) {
  auto r = f.console({"rollout", plan.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.json.contains("id"));
  return r.json["id"].get<std::string>();
}

const char* kAllAtOnce = "sizes = [\"100%\"]\nmax_parallel = 10";

std::string rollout(Fleet& f, const std::string& version, bool healthy = true) {
  auto plan = f.writePlan("web", version, f.makeRelease(version, healthy), kAllAtOnce);
  return submit(f, plan);
}

void baseline(Fleet& f, const std::string& version) {
  auto st = f.waitFinished(rollout(f, version), 60s);
  INFO(st.dump(2));
  REQUIRE(st["state"] == "succeeded");
}

std::vector<json> events(Fleet& f, const std::string& id) {
  auto r = f.console({"events", id});
  REQUIRE(r.exit_code == 0);
  return r.json["events"].get<std::vector<json>>();
}

// The first event of `kind` (any if empty) whose message contains `needle`.
std::optional<json> findEvent(Fleet& f, const std::string& id, const std::string& kind, const std::string& needle) {
  for (const auto& e : events(f, id)) {
    if (!kind.empty() && e["kind"] != kind) continue;
    if (e.value("message", "").find(needle) != std::string::npos) return e;
  }
  return std::nullopt;
}

std::vector<std::string> rolloutHosts(Fleet& f, const std::string& id) {
  std::vector<std::string> hosts;
  auto r = f.console({"status", id, "--hosts"});
  for (const auto& h : r.json.value("hosts", json::array())) hosts.push_back(h["id"].get<std::string>());
  return hosts;
}

// ---------------------------------------------------------------- raw ZeroMQ

void* zctx() {
  static void* ctx = zmq_ctx_new();  // lives as long as the test process
  return ctx;
}

std::string hexToBin(const std::string& hex, std::size_t n) {
  auto r = common::fromHex(trimmed(hex), n);
  REQUIRE(r.ok());
  return *r;
}

// One raw ZeroMQ socket driven with the C API; no exceptions, short timeouts.
class RawSocket {
 public:
  explicit RawSocket(int type) : s_(zmq_socket(zctx(), type)) {
    int zero = 0;
    zmq_setsockopt(s_, ZMQ_LINGER, &zero, sizeof zero);
  }
  ~RawSocket() { zmq_close(s_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  void curveClient(const std::string& server_pub_bin, const common::CurveKeyPair& me) {
    zmq_setsockopt(s_, ZMQ_CURVE_SERVERKEY, server_pub_bin.data(), 32);
    zmq_setsockopt(s_, ZMQ_CURVE_PUBLICKEY, me.public_key.data(), 32);
    zmq_setsockopt(s_, ZMQ_CURVE_SECRETKEY, me.secret_key.data(), 32);
  }
  void curveServer(const std::string& secret_bin) {
    int one = 1;
    zmq_setsockopt(s_, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(s_, ZMQ_CURVE_SECRETKEY, secret_bin.data(), 32);
  }
  bool connect(const std::string& ep) { return zmq_connect(s_, ep.c_str()) == 0; }
  bool bind(const std::string& ep) { return zmq_bind(s_, ep.c_str()) == 0; }
  bool send(const std::string& data, bool more = false) {
    return zmq_send(s_, data.data(), data.size(), (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) >= 0;
  }
  // Sends, waiting up to 1 s for the connection (DEALERs queue only once connected).
  bool sendBlocking(const std::string& data, bool more = false) {
    int t = 1000;
    zmq_setsockopt(s_, ZMQ_SNDTIMEO, &t, sizeof t);
    return zmq_send(s_, data.data(), data.size(), more ? ZMQ_SNDMORE : 0) >= 0;
  }
  // All frames of the next message, or nothing within `timeout`.
  std::optional<std::vector<std::string>> recv(std::chrono::milliseconds timeout) {
    zmq_pollitem_t item{s_, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, static_cast<long>(timeout.count())) <= 0) return std::nullopt;
    std::vector<std::string> frames;
    while (true) {
      zmq_msg_t m;
      zmq_msg_init(&m);
      if (zmq_msg_recv(&m, s_, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return frames.empty() ? std::nullopt : std::optional(frames);
      }
      frames.emplace_back(static_cast<const char*>(zmq_msg_data(&m)), zmq_msg_size(&m));
      bool more = zmq_msg_more(&m);
      zmq_msg_close(&m);
      if (!more) return frames;
    }
  }

 private:
  void* s_;
};

// A DEALER with its own CURVE key talking to the coordinator's agents port.
struct RawAgent {
  common::CurveKeyPair key = common::generateCurveKeyPair();
  RawSocket sock{ZMQ_DEALER};

  RawAgent(Fleet& f, std::optional<std::string> server_pub_hex = std::nullopt) {
    sock.curveClient(hexToBin(server_pub_hex ? *server_pub_hex : slurp(f.dir() / "coord/keys/curve.pub"), 32), key);
    REQUIRE(sock.connect("tcp://127.0.0.1:" + agentsPort(f)));
  }
  void hello(const std::string& id, const std::string& token, const std::string& role = "raw") {
    proto::Hello h;
    h.agent_id = id;
    h.labels = {{"role", role}};
    h.join_token = token;
    h.agent_version = "raw";
    REQUIRE(sock.sendBlocking(proto::encode(h)));
  }
  // The next coordinator message, decoded.
  std::optional<proto::CoordinatorMessage> next(std::chrono::milliseconds timeout = 2s) {
    auto frames = sock.recv(timeout);
    if (!frames || frames->size() != 1) return std::nullopt;
    auto m = proto::decodeCoordinatorMessage((*frames)[0]);
    if (!m) return std::nullopt;
    return *m;
  }
  // Enrolls with the join token and waits for the accepted welcome.
  void enroll(Fleet& f, const std::string& id) {
    hello(id, joinValue(f, "token"));
    auto m = next();
    REQUIRE(m);
    auto* w = std::get_if<proto::Welcome>(&*m);
    REQUIRE(w);
    REQUIRE(w->status == proto::WelcomeStatus::kAccepted);
  }
  // Waits for a Refusal (skipping anything else) and returns it.
  std::optional<proto::Refusal> refusal(std::chrono::milliseconds timeout = 2s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (!m) return std::nullopt;
      if (auto* r = std::get_if<proto::Refusal>(&*m)) return *r;
    }
    return std::nullopt;
  }
};

// ---------------------------------------------------------------- fake coordinator

std::int64_t nowS() { return static_cast<std::int64_t>(std::time(nullptr)); }

common::SigningKeyPair loadPlanKey(Fleet& f) {
  common::SigningKeyPair k;
  auto sec = hexToBin(slurp(f.dir() / "coord/keys/plan.key"), 64);
  std::memcpy(k.secret_key.data(), sec.data(), 64);
  std::memcpy(k.public_key.data(), sec.data() + 32, 32);
  return k;
}

proto::OrderSpec goodSpec() {
  proto::OrderSpec spec;
  spec.deploy.restart = {"./bin/restart"};
  spec.health.interval = 100ms;
  spec.health.healthy_for = 300ms;
  spec.health.deadline = 3s;
  proto::HealthCheck c;
  c.kind = proto::HealthCheck::Kind::kExec;
  c.argv = {"test", "-f", "HEALTHY"};
  spec.health.checks.push_back(c);
  return spec;
}

// A ROUTER bound on the coordinator's agents port with the coordinator's CURVE
// key, welcoming any hello, serving artifacts and collecting reports.
class FakeCoordinator {
 public:
  explicit FakeCoordinator(Fleet& f) : f_(f), plan_key_(loadPlanKey(f)) {
    router_.curveServer(hexToBin(slurp(f.dir() / "coord/keys/curve.key"), 32));
    REQUIRE(router_.bind("tcp://127.0.0.1:" + agentsPort(f)));
  }

  void addArtifact(const fs::path& file) {
    auto d = common::digestFile(file);
    REQUIRE(d.ok());
    artifacts_[d->digest] = slurp(file);
    last_digest_ = d->digest;
    last_size_ = d->size;
  }

  // Serves `bytes` when the agent asks for `digest` (whatever the bytes really hash to).
  void serveAs(const std::string& digest, const std::string& bytes) { artifacts_[digest] = bytes; }

  void pump(std::chrono::milliseconds timeout) {
    auto frames = router_.recv(timeout);
    if (!frames || frames->size() != 2) return;
    const std::string& rid = (*frames)[0];
    auto m = proto::decodeAgentMessage((*frames)[1]);
    if (!m) return;
    if (!std::holds_alternative<proto::Hello>(*m) && rid != rid_) {
      // Like the real coordinator: a connection that has not said hello is asked to.
      router_.send(rid, true);
      router_.send(proto::encode(proto::Refusal{proto::RefusalCode::kNotEnrolled, "say hello first"}));
      return;
    }
    if (auto* h = std::get_if<proto::Hello>(&*m)) {
      rid_ = rid;
      ++hellos;
      (void)h;
      proto::Welcome w;
      w.status = proto::WelcomeStatus::kAccepted;
      w.message = "welcome";
      w.heartbeat_interval_ms = 200;
      w.server_time_ms = nowS() * 1000;
      sendRaw(proto::encode(w));
    } else if (std::get_if<proto::Heartbeat>(&*m)) {
      ++heartbeats;
    } else if (auto* r = std::get_if<proto::Report>(&*m)) {
      reports.push_back(*r);
    } else if (auto* fe = std::get_if<proto::Fetch>(&*m)) {
      auto it = artifacts_.find(fe->digest);
      if (it == artifacts_.end()) return;
      std::uint64_t off = fe->offset;
      for (std::uint32_t i = 0; i < fe->credit && off < it->second.size(); ++i) {
        proto::Chunk c;
        c.digest = fe->digest;
        c.offset = off;
        c.total = it->second.size();
        c.data = it->second.substr(off, proto::kChunkBytes);
        off += c.data.size();
        sendRaw(proto::encode(c));
      }
    }
  }

  bool pumpUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      pump(50ms);
    }
    return true;
  }

  void sendRaw(const std::string& payload) {
    REQUIRE(!rid_.empty());
    router_.send(rid_, true);
    router_.send(payload);
  }
  void send(const proto::SignedOrder& o) { sendRaw(proto::encode(o)); }

  proto::OrderBody body(const std::string& version, std::uint64_t sequence) {
    proto::OrderBody b;
    b.order_id = "order-" + std::to_string(++orders_);
    b.target = target;
    b.rollout_id = "web-fake";
    b.app = "web";
    b.version = version;
    b.action = "deploy";
    b.artifact_digest = last_digest_;
    b.artifact_size = last_size_;
    b.sequence = sequence;
    b.issued_at = nowS() - 5;
    b.expires_at = nowS() + 3600;
    return b;
  }
  proto::SignedOrder sign(const proto::OrderBody& b, const common::SigningKeyPair* key = nullptr) {
    return proto::signOrder(b, proto::encodeSpec(goodSpec()), key ? *key : plan_key_);
  }

  // The terminal report of `order_id` ("" = any order).
  std::optional<proto::Report> terminal(const std::string& order_id, std::chrono::milliseconds timeout = 10s) {
    std::optional<proto::Report> found;
    pumpUntil(
        [&] {
          for (const auto& r : reports)
            if ((order_id.empty() || r.order_id == order_id) && proto::isTerminal(r.phase)) {
              found = r;
              return true;
            }
          return false;
        },
        timeout);
    return found;
  }

  // The agent keeps heartbeating after whatever happened.
  bool stillHeartbeats() {
    int before = heartbeats;
    return pumpUntil([&] { return heartbeats > before; }, 3s);
  }

  std::string target;
  int hellos = 0;
  int heartbeats = 0;
  std::vector<proto::Report> reports;

 private:
  Fleet& f_;
  common::SigningKeyPair plan_key_;
  RawSocket router_{ZMQ_ROUTER};
  std::string rid_;
  std::map<std::string, std::string> artifacts_;
  std::string last_digest_;
  std::uint64_t last_size_ = 0;
  int orders_ = 0;
};

// A real agent "h0" under a fake coordinator, with release "1" deployed by a good order (sequence 1).
struct FakeSetup {
  Fleet f;
  std::optional<FakeCoordinator> fake;

  explicit FakeSetup(const std::vector<std::string>& release_keys_hex = {}) {
    fake.emplace(f);
    fake->target = "h0";
    initAgent(f, "h0");
    if (!release_keys_hex.empty()) {
      std::string arr = "release_keys = [";
      for (std::size_t i = 0; i < release_keys_hex.size(); ++i) arr += (i ? ", \"" : "\"") + release_keys_hex[i] + "\"";
      setTomlLine(f.agentDir("h0") / "agent.toml", "release_keys", arr + "]");
    }
    f.startAgent(agentSpec("h0"));
    REQUIRE(fake->pumpUntil([&] { return fake->hellos > 0; }, 10s));
    fake->addArtifact(f.makeRelease("1", true));
  }

  std::string agentLog() { return slurp(f.dir() / "agent-h0.log"); }

  // Deploys release 1 with sequence 1 (only when the agent has no release keys).
  void deployGood() {
    auto o = fake->body("1", 1);
    fake->send(fake->sign(o));
    auto r = fake->terminal(o.order_id);
    REQUIRE(r);
    INFO(r->message);
    REQUIRE(r->phase == proto::Phase::kHealthy);
    REQUIRE(f.liveRelease("h0", "web") == "1");
    fake->addArtifact(f.makeRelease("2", true));
  }

  // Sends `o` and checks it is refused with `prefix`, nothing changed and the agent lives.
  void expectRefused(const proto::SignedOrder& o, const std::string& order_id, const std::string& prefix,
                     const std::string& live = "1") {
    fake->reports.clear();
    fake->send(o);
    auto r = fake->terminal(order_id);
    REQUIRE(r);
    INFO(r->message);
    CHECK(r->phase == proto::Phase::kRefused);
    CHECK(r->message.rfind(prefix, 0) == 0);
    CHECK(f.liveRelease("h0", "web") == live);
    CHECK(agentAlive(f, "h0"));
    CHECK(fake->stillHeartbeats());
  }
};

// ---------------------------------------------------------------- malicious artifacts

// A tarball with a healthy release plus one hostile entry written by python's tarfile.
fs::path hostileTarball(Fleet& f, const std::string& name, const std::string& python_entry) {
  const auto out = f.dir() / ("hostile-" + name + ".tar.gz");
  std::string script =
      "import tarfile, io, sys\n"
      "t = tarfile.open(sys.argv[1], 'w:gz')\n"
      "def add(n, data=b'', **kw):\n"
      "    ti = tarfile.TarInfo(n); ti.size = len(data)\n"
      "    for k, v in kw.items(): setattr(ti, k, v)\n"
      "    t.addfile(ti, io.BytesIO(data) if data else None)\n"
      "add('VERSION', b'2\\n', mode=0o644)\n"
      "add('HEALTHY', b'yes\\n', mode=0o644)\n"
      "add('bin', type=tarfile.DIRTYPE, mode=0o755)\n"
      "add('bin/restart', b'#!/bin/sh\\ntrue\\n', mode=0o755)\n" +
      python_entry +
      "\n"
      "t.close()\n";
  auto r = runCommand({"/usr/bin/env", "python3", "-c", script, out.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return out;
}

// Rolls out a hostile release "2" over a live release "1" and checks the refusal.
void expectHostileRefused(const std::string& name, const std::function<std::string(Fleet&)>& entry,
                          const std::string& entry_name, const std::function<void(Fleet&)>& check_outside) {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  baseline(f, "1");
  auto plan = f.writePlan("web", "2", hostileTarball(f, name, entry(f)), kAllAtOnce);
  auto id = submit(f, plan);
  auto st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  CHECK(st["state"] != "succeeded");
  CHECK(f.liveRelease("h0", "web") == "1");
  auto ev = findEvent(f, id, "host_failed", "");
  REQUIRE(ev);
  INFO((*ev).dump());
  CHECK((*ev)["message"].get<std::string>().find(entry_name) != std::string::npos);
  check_outside(f);
  CHECK(agentAlive(f, "h0"));
  CHECK(agentState(f, "h0") == "online");
  // Nothing of the hostile release stays staged.
  std::error_code ec;
  CHECK(!fs::exists(f.appsDir("h0") / "web/releases/2", ec));
}

bool existsAnywhere(const fs::path& root, const std::string& name) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->path().filename() == name && it->path().string().find("src-") == std::string::npos) return true;
  }
  return false;
}

}  // namespace

// ================================================================ 1. transport

TEST_CASE("an unknown CURVE key without a token is pending and gets no order", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  RawAgent raw(f);
  raw.hello("intruder", "", "web");
  auto m = raw.next();
  REQUIRE(m);
  auto* w = std::get_if<proto::Welcome>(&*m);
  REQUIRE(w);
  CHECK(w->status == proto::WelcomeStatus::kPending);
  CHECK(agentState(f, "intruder") == "pending");

  auto id = rollout(f, "2");
  auto st = f.waitFinished(id, 60s);
  CHECK(st["state"] == "succeeded");
  auto hosts = rolloutHosts(f, id);
  CHECK(std::find(hosts.begin(), hosts.end(), "intruder") == hosts.end());
  // The pending peer was sent nothing but refusals.
  while (auto next = raw.next(300ms)) {
    CHECK(!std::holds_alternative<proto::SignedOrder>(*next));
    CHECK(!std::holds_alternative<proto::Chunk>(*next));
  }
  // Its heartbeats are refused as pending.
  REQUIRE(raw.sock.sendBlocking(proto::encode(proto::Heartbeat{})));
  auto reason = raw.refusal();
  REQUIRE(reason);
  CHECK(reason->code == proto::RefusalCode::kPending);
  CHECK(coordinatorUp(f));
}

TEST_CASE("a peer without CURVE gets no reply from the agents' port", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  RawSocket plain(ZMQ_DEALER);
  REQUIRE(plain.connect("tcp://127.0.0.1:" + agentsPort(f)));
  proto::Hello h;
  h.agent_id = "plain";
  h.join_token = joinValue(f, "token");
  plain.send(proto::encode(h));
  CHECK(!plain.recv(1s));
  CHECK(coordinatorUp(f));
  CHECK(agentState(f, "plain") == "");
  CHECK(agentState(f, "h0") == "online");
}

TEST_CASE("a client with the wrong server key gets nothing", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  auto other = common::generateCurveKeyPair();
  RawAgent raw(f, common::toHex(other.public_key));
  proto::Hello h;
  h.agent_id = "mitm";
  h.join_token = joinValue(f, "token");
  raw.sock.send(proto::encode(h));
  CHECK(!raw.sock.recv(1s));
  CHECK(coordinatorUp(f));
  CHECK(agentState(f, "mitm") == "");
}

// ================================================================ 2. enrolment

TEST_CASE("accept moves a pending agent online and it then takes orders", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  initAgent(f, "h0");
  setTomlLine(f.agentDir("h0") / "agent.toml", "token", "token = ''");
  f.startAgent(agentSpec("h0"));
  REQUIRE(waitUntil([&] { return agentState(f, "h0") == "pending"; }, 10s));
  auto r = f.console({"agents", "accept", "h0"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(f.waitOnline(1));
  baseline(f, "1");
  CHECK(f.liveRelease("h0", "web") == "1");
}

TEST_CASE("reject refuses a pending agent for good", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  initAgent(f, "h0");
  setTomlLine(f.agentDir("h0") / "agent.toml", "token", "token = ''");
  f.startAgent(agentSpec("h0"));
  REQUIRE(waitUntil([&] { return agentState(f, "h0") == "pending"; }, 10s));
  auto r = f.console({"agents", "reject", "h0"});
  REQUIRE(r.exit_code == 0);
  CHECK(waitUntil([&] { return agentState(f, "h0") == "rejected"; }, 5s));
  // A restart of the rejected agent does not bring it back.
  f.stopAgent("h0");
  f.startAgent(agentSpec("h0"));
  std::this_thread::sleep_for(1s);  // time for a hello to be refused
  CHECK(agentState(f, "h0") == "rejected");
  CHECK(agentAlive(f, "h0"));
  CHECK(coordinatorUp(f));
}

TEST_CASE("a revoked agent is left out of later rollouts and keeps its release", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  f.startAgent(agentSpec("h1"));
  REQUIRE(f.waitOnline(2));
  baseline(f, "1");
  auto r = f.console({"agents", "revoke", "h1"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(waitUntil([&] { return agentState(f, "h1") == "revoked"; }, 5s));
  auto id = rollout(f, "2");
  auto st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  CHECK(st["state"] == "succeeded");
  auto hosts = rolloutHosts(f, id);
  CHECK(std::find(hosts.begin(), hosts.end(), "h1") == hosts.end());
  CHECK(f.liveRelease("h0", "web") == "2");
  CHECK(f.liveRelease("h1", "web") == "1");
  CHECK(agentState(f, "h1") == "revoked");
  CHECK(agentAlive(f, "h1"));
}

TEST_CASE("a second process claiming an enrolled id with another key is refused", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  auto before = f.console({"agents"});
  std::string key_before = before.json["agents"][0].value("key", "");
  RawAgent impostor(f);
  impostor.hello("h0", joinValue(f, "token"), "web");
  auto reason = impostor.refusal();
  REQUIRE(reason);
  CHECK(reason->code == proto::RefusalCode::kIdTaken);
  CHECK(agentState(f, "h0") == "online");
  auto after = f.console({"agents"});
  CHECK(after.json["agents"][0].value("key", "") == key_before);
  baseline(f, "1");
  CHECK(f.liveRelease("h0", "web") == "1");
}

TEST_CASE("a second agent process with the same id and a fresh key stays out", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  // Same id, its own key pair (a separate init).
  auto dir = f.dir() / "agents/h0-clone";
  auto r = runCommand({(binDir() / "agent/flotilla-agent").string(), "init", dir.string(), "--join",
                       (f.dir() / "coord/join.toml").string(), "--id", "h0", "--label", "role=web"});
  REQUIRE(r.exit_code == 0);
  Process clone({(binDir() / "agent/flotilla-agent").string(), "run", "--config", (dir / "agent.toml").string()},
                f.dir() / "agent-clone.log");
  std::this_thread::sleep_for(1500ms);  // the clone's hellos get refused meanwhile
  CHECK(agentState(f, "h0") == "online");
  baseline(f, "1");
  CHECK(f.liveRelease("h0", "web") == "1");
  std::error_code ec;
  CHECK(!fs::exists(dir / "apps/web/current", ec));
  clone.stop();
}

TEST_CASE("an expired join token leaves the agent pending", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  auto t = runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "token", "create", "--config",
                       (f.dir() / "coord/coordinator.toml").string(), "--ttl", "1s"});
  INFO(t.out << t.err);
  REQUIRE(t.exit_code == 0);
  std::smatch m;
  std::string out = t.out;
  REQUIRE(std::regex_search(out, m, std::regex("[0-9a-f]{64}")));
  std::this_thread::sleep_for(2s);  // the behaviour under test is the token expiring
  initAgent(f, "h0");
  setTomlLine(f.agentDir("h0") / "agent.toml", "token", "token = '" + m[0].str() + "'");
  f.startAgent(agentSpec("h0"));
  REQUIRE(waitUntil([&] { return agentState(f, "h0") != ""; }, 10s));
  std::this_thread::sleep_for(300ms);
  CHECK(agentState(f, "h0") == "pending");
  CHECK(agentAlive(f, "h0"));
}

TEST_CASE("a join token with one use enrolls one agent only", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  auto t = runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "token", "create", "--config",
                       (f.dir() / "coord/coordinator.toml").string(), "--ttl", "1h", "--uses", "1"});
  REQUIRE(t.exit_code == 0);
  std::smatch m;
  std::string out = t.out;
  REQUIRE(std::regex_search(out, m, std::regex("[0-9a-f]{64}")));
  for (std::string id : {"h0", "h1"}) {
    initAgent(f, id);
    setTomlLine(f.agentDir(id) / "agent.toml", "token", "token = '" + m[0].str() + "'");
  }
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  f.startAgent(agentSpec("h1"));
  REQUIRE(waitUntil([&] { return agentState(f, "h1") == "pending"; }, 10s));
  CHECK(agentState(f, "h0") == "online");
}

// ================================================================ 3. orders from a fake coordinator

TEST_CASE("fake coordinator: a good order deploys (harness check)", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  bool saw_fetching = false;
  for (const auto& r : s.fake->reports)
    if (r.phase == proto::Phase::kFetching) saw_fetching = true;
  CHECK(saw_fetching);
  CHECK(s.fake->stillHeartbeats());
}

TEST_CASE("fake coordinator: a tampered body byte is a bad signature", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  auto b = s.fake->body("2", 2);
  auto o = s.fake->sign(b);
  auto pos = o.body.find(b.order_id);
  REQUIRE(pos != std::string::npos);
  o.body[pos + b.order_id.size() - 1] ^= 0x01;  // "order-2" -> "order-3"
  std::string tampered_id = b.order_id;
  tampered_id.back() ^= 0x01;
  s.expectRefused(o, tampered_id, "bad_signature:");
}

TEST_CASE("fake coordinator: a tampered signature is refused", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  auto b = s.fake->body("2", 2);
  auto o = s.fake->sign(b);
  o.signature[10] ^= 0x40;
  s.expectRefused(o, b.order_id, "bad_signature:");
}

TEST_CASE("fake coordinator: an order signed by another key is refused", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  auto other = common::generateSigningKeyPair();
  auto b = s.fake->body("2", 2);
  s.expectRefused(s.fake->sign(b, &other), b.order_id, "unknown_key:");
}

TEST_CASE("fake coordinator: an order for another host is refused", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  auto b = s.fake->body("2", 2);
  b.target = "h9";
  s.expectRefused(s.fake->sign(b), b.order_id, "wrong_target:");
}

TEST_CASE("fake coordinator: an expired order is refused", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  auto b = s.fake->body("2", 2);
  b.issued_at = nowS() - 4000;
  b.expires_at = nowS() - 400;
  s.expectRefused(s.fake->sign(b), b.order_id, "expired:");
}

TEST_CASE("fake coordinator: an order issued far in the future is refused", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  auto b = s.fake->body("2", 2);
  b.issued_at = nowS() + 1000;
  b.expires_at = nowS() + 5000;
  s.expectRefused(s.fake->sign(b), b.order_id, "not_yet_valid:");
}

TEST_CASE("fake coordinator: a repeated order is answered with its result and not deployed again",
          "[integration][trust]") {
  // Coordinators resend an order they heard nothing about (same id and
  // sequence); the agent answers with what became of it instead of acting twice.
  FakeSetup s;
  auto b = s.fake->body("1", 1);
  auto o = s.fake->sign(b);
  s.fake->send(o);
  auto r = s.fake->terminal(b.order_id);
  REQUIRE(r);
  REQUIRE(r->phase == proto::Phase::kHealthy);
  const auto restarted = s.f.appsDir("h0") / "web/restarted";
  auto lines = [&] {
    std::ifstream in(restarted);
    std::size_t n = 0;
    for (std::string l; std::getline(in, l);) ++n;
    return n;
  };
  const auto before = lines();
  REQUIRE(before >= 1);
  s.fake->reports.clear();
  s.fake->send(o);
  auto again = s.fake->terminal(b.order_id);
  REQUIRE(again);
  CHECK(again->phase == proto::Phase::kHealthy);
  CHECK(lines() == before);
}

TEST_CASE("fake coordinator: another order reusing a spent sequence is refused as a replay", "[integration][trust]") {
  FakeSetup s;
  auto b = s.fake->body("1", 1);
  s.fake->send(s.fake->sign(b));
  auto r = s.fake->terminal(b.order_id);
  REQUIRE(r);
  REQUIRE(r->phase == proto::Phase::kHealthy);
  s.fake->reports.clear();
  auto copy = s.fake->body("1", 1);  // a new order id, the same sequence
  REQUIRE(copy.order_id != b.order_id);
  s.expectRefused(s.fake->sign(copy), copy.order_id, "replay:");
}

TEST_CASE("fake coordinator: a lower sequence is refused", "[integration][trust]") {
  FakeSetup s;
  auto b = s.fake->body("1", 5);
  s.fake->send(s.fake->sign(b));
  auto r = s.fake->terminal(b.order_id);
  REQUIRE(r);
  REQUIRE(r->phase == proto::Phase::kHealthy);
  s.fake->addArtifact(s.f.makeRelease("2", true));
  auto low = s.fake->body("2", 3);
  s.expectRefused(s.fake->sign(low), low.order_id, "replay:");
}

TEST_CASE("fake coordinator: a swapped spec is refused", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  auto b = s.fake->body("2", 2);
  auto o = s.fake->sign(b);
  auto evil = goodSpec();
  evil.deploy.before_switch = {{"sh", "-c", "touch /tmp/flotilla-pwned"}};
  o.spec = proto::encodeSpec(evil);
  s.expectRefused(o, b.order_id, "bad_spec:");
}

TEST_CASE("fake coordinator: malformed body bytes are refused", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  proto::SignedOrder o;
  o.body = std::string("\x93\xc1\xff\x00garbage", 11);
  o.signature = std::string(64, '\x01');
  o.spec = proto::encodeSpec(goodSpec());
  s.expectRefused(o, "", "malformed:");
}

TEST_CASE("fake coordinator: an unsigned release is refused when release keys are set", "[integration][trust]") {
  auto rk = common::generateSigningKeyPair();
  FakeSetup s({common::toHex(rk.public_key)});
  auto b = s.fake->body("1", 1);
  s.expectRefused(s.fake->sign(b), b.order_id, "unsigned_release:", "");
  // The same order with the release key's signature deploys.
  auto good = s.fake->body("1", 2);
  good.release_signature = proto::signRelease("web", "1", good.artifact_digest, good.artifact_size, rk);
  s.fake->send(s.fake->sign(good));
  auto r = s.fake->terminal(good.order_id);
  REQUIRE(r);
  INFO(r->message);
  CHECK(r->phase == proto::Phase::kHealthy);
  CHECK(s.f.liveRelease("h0", "web") == "1");
}

TEST_CASE("fake coordinator: a release signed by an unlisted key is refused", "[integration][trust]") {
  auto rk = common::generateSigningKeyPair();
  auto other = common::generateSigningKeyPair();
  FakeSetup s({common::toHex(rk.public_key)});
  auto b = s.fake->body("1", 1);
  b.release_signature = proto::signRelease("web", "1", b.artifact_digest, b.artifact_size, other);
  s.expectRefused(s.fake->sign(b), b.order_id, "unsigned_release:", "");
}

TEST_CASE("fake coordinator: an artifact whose bytes do not match the digest is not installed",
          "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  // Sign for release 3's digest but serve release 2's bytes under that digest.
  auto evil = s.f.makeRelease("3", true);
  auto d = common::digestFile(evil);
  REQUIRE(d.ok());
  auto b = s.fake->body("2", 2);
  b.artifact_digest = d->digest;
  b.artifact_size = d->size;
  std::string bytes = slurp(s.f.dir() / "app-2.tar.gz");
  bytes.resize(d->size, '\0');
  s.fake->serveAs(d->digest, bytes);
  s.fake->send(s.fake->sign(b));
  auto r = s.fake->terminal(b.order_id, 15s);
  REQUIRE(r);
  INFO(r->message);
  CHECK(r->phase == proto::Phase::kFailed);
  CHECK(s.f.liveRelease("h0", "web") == "1");
  CHECK(agentAlive(s.f, "h0"));
}

// ================================================================ 4. bounded decoding at the coordinator

namespace {
// An enrolled raw peer sends `payload`; the coordinator must stay up and still roll out.
void coordinatorSurvives(const std::vector<std::string>& frames, bool expect_refusal,
                         const std::function<void(Fleet&)>& also = {}) {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  RawAgent raw(f);
  raw.enroll(f, "raw0");
  for (std::size_t i = 0; i < frames.size(); ++i) raw.sock.sendBlocking(frames[i], i + 1 < frames.size());
  if (expect_refusal) {
    auto reason = raw.refusal();
    REQUIRE(reason);
    CHECK(reason->code == proto::RefusalCode::kMalformed);
  }
  CHECK(coordinatorUp(f));
  CHECK(agentState(f, "h0") == "online");
  if (also) also(f);
  baseline(f, "2");
  CHECK(f.liveRelease("h0", "web") == "2");
}
}  // namespace

TEST_CASE("coordinator: an oversized frame is dropped", "[integration][trust]") {
  coordinatorSurvives({std::string(2 * 1024 * 1024, 'x')}, false);
}

TEST_CASE("coordinator: the 5-byte msgpack array bomb is refused", "[integration][trust]") {
  coordinatorSurvives({std::string("\xdd\xff\x00\x00\x00", 5)}, true);
}

TEST_CASE("coordinator: an array bomb inside the envelope is refused", "[integration][trust]") {
  coordinatorSurvives({std::string("\x93\x01\x02\xdd\xff\xff\xff\xff", 8)}, true);
}

TEST_CASE("coordinator: a map32 bomb is refused", "[integration][trust]") {
  coordinatorSurvives({std::string("\xdf\xff\xff\xff\xff", 5)}, true);
}

TEST_CASE("coordinator: 100-deep nesting is refused", "[integration][trust]") {
  coordinatorSurvives({std::string(100, '\x91') + "\x01"}, true);
}

TEST_CASE("coordinator: a truncated hello is refused", "[integration][trust]") {
  proto::Hello h;
  h.agent_id = "raw0";
  h.agent_version = "raw";
  auto bytes = proto::encode(h);
  coordinatorSurvives({bytes.substr(0, bytes.size() - 3)}, true);
}

TEST_CASE("coordinator: trailing bytes after a message are refused", "[integration][trust]") {
  coordinatorSurvives({proto::encode(proto::Heartbeat{}) + std::string("\x00\x01", 2)}, true);
}

TEST_CASE("coordinator: an unknown message type is refused", "[integration][trust]") {
  coordinatorSurvives({std::string("\x93\x01\x63\x90", 4)}, true);
}

TEST_CASE("coordinator: a coordinator-only type sent by an agent is refused", "[integration][trust]") {
  proto::Welcome w;
  w.message = "i am the coordinator now";
  coordinatorSurvives({proto::encode(w)}, true);
}

TEST_CASE("coordinator: a multi-frame message is dropped", "[integration][trust]") {
  coordinatorSurvives({proto::encode(proto::Heartbeat{}), proto::encode(proto::Heartbeat{})}, false);
}

TEST_CASE("coordinator: every part of a long multi-frame message is dropped", "[integration][trust]") {
  // Later parts must not be read as new messages (with a part taken for a routing id).
  proto::Hello h;
  h.agent_id = "smuggled";
  coordinatorSurvives({proto::encode(proto::Heartbeat{}), proto::encode(h), proto::encode(h), proto::encode(h)}, false,
                      [](Fleet& f) { CHECK(agentState(f, "smuggled").empty()); });
}

TEST_CASE("coordinator: a fetch for a path outside the store is refused", "[integration][trust]") {
  proto::Fetch fe;
  fe.digest = "../../../../../../etc/passwd";
  fe.credit = 1;
  Fleet f;
  f.startCoordinator();
  RawAgent raw(f);
  raw.enroll(f, "raw0");
  raw.sock.sendBlocking(proto::encode(fe));
  auto reason = raw.refusal();
  REQUIRE(reason);
  CHECK(proto::isFetchRefusal(reason->code));
  CHECK(coordinatorUp(f));
}

// ================================================================ 5. hostile artifacts

TEST_CASE("artifact: an absolute path entry is refused", "[integration][trust]") {
  expectHostileRefused(
      "abs", [](Fleet& f) { return "add('" + (f.dir() / "abs-pwned").string() + "', b'x', mode=0o644)"; }, "abs-pwned",
      [](Fleet& f) { CHECK(!fs::exists(f.dir() / "abs-pwned")); });
}

TEST_CASE("artifact: a dot-dot entry is refused", "[integration][trust]") {
  expectHostileRefused(
      "dotdot", [](Fleet&) { return "add('../../dotdot-pwned', b'x', mode=0o644)"; }, "dotdot-pwned",
      [](Fleet& f) { CHECK(!existsAnywhere(f.dir(), "dotdot-pwned")); });
}

TEST_CASE("artifact: a symlink to /etc is refused", "[integration][trust]") {
  expectHostileRefused(
      "symlink",
      [](Fleet&) {
        return "add('etc', type=tarfile.SYMTYPE, linkname='/etc', mode=0o777)\n"
               "add('etc/flotilla-pwned', b'x', mode=0o644)";
      },
      "etc", [](Fleet&) { CHECK(!fs::exists("/etc/flotilla-pwned")); });
}

TEST_CASE("artifact: a hardlink to /etc/passwd is refused", "[integration][trust]") {
  expectHostileRefused(
      "hardlink", [](Fleet&) { return "add('passwd', type=tarfile.LNKTYPE, linkname='/etc/passwd', mode=0o644)"; },
      "passwd", [](Fleet& f) { CHECK(!existsAnywhere(f.appsDir("h0"), "passwd")); });
}

TEST_CASE("artifact: a FIFO is refused", "[integration][trust]") {
  expectHostileRefused(
      "fifo", [](Fleet&) { return "add('pipe', type=tarfile.FIFOTYPE, mode=0o644)"; }, "pipe",
      [](Fleet& f) { CHECK(!existsAnywhere(f.appsDir("h0"), "pipe")); });
}

TEST_CASE("artifact: a setuid file is refused", "[integration][trust]") {
  expectHostileRefused(
      "setuid", [](Fleet&) { return "add('bin/suid', b'#!/bin/sh\\n', mode=0o4755)"; }, "suid",
      [](Fleet& f) { CHECK(!existsAnywhere(f.appsDir("h0"), "suid")); });
}

// ================================================================ 6. operators

namespace {
struct TcpControl {
  Fleet f;
  std::string endpoint;
  fs::path op_prefix;
  std::string op_pub;
  Process coord;

  TcpControl() {
    endpoint = "tcp://127.0.0.1:" + std::to_string(freeTcpPort());
    op_prefix = f.dir() / "op";
    auto k = runCommand({(binDir() / "coordinator/flotilla").string(), "keygen", "--operator", op_prefix.string()});
    INFO(k.out << k.err);
    REQUIRE(k.exit_code == 0);
    op_pub = trimmed(slurp(op_prefix.string() + ".pub"));
    const auto cfg = f.dir() / "coord/coordinator.toml";
    setTomlLine(cfg, "endpoint", "endpoint = '" + endpoint + "'");
    setTomlLine(cfg, "operators", "operators = [\"" + op_pub + "\"]");
    coord = Process({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config", cfg.string(),
                     "--log-level", "debug"},
                    f.dir() / "coordinator.log");
    REQUIRE(waitUntil([&] { return console({"agents"}).exit_code == 0; }, 20s));
  }
  CommandResult console(const std::vector<std::string>& args, const std::string& key = "",
                        std::chrono::milliseconds timeout = 30s) {
    std::vector<std::string> argv{(binDir() / "coordinator/flotilla").string(),
                                  "--control",
                                  endpoint,
                                  "--json",
                                  "--timeout",
                                  "2",
                                  "--coordinator-key",
                                  trimmed(slurp(f.dir() / "coord/keys/curve.pub"))};
    argv.push_back("--key");
    argv.push_back(key.empty() ? op_prefix.string() + ".key" : key);
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, timeout);
  }
};
}  // namespace

TEST_CASE("operators: an allowlisted key works and its actions name the key", "[integration][trust]") {
  TcpControl t;
  // A real agent, started by hand (Fleet::startAgent needs no coordinator console).
  t.f.startAgent(agentSpec("h0"));
  REQUIRE(waitUntil(
      [&] {
        auto r = t.console({"agents"});
        return r.exit_code == 0 && r.json["agents"].size() == 1 && r.json["agents"][0]["state"] == "online";
      },
      20s));
  auto plan = t.f.writePlan("web", "1", t.f.makeRelease("1", true), kAllAtOnce);
  auto r = t.console({"rollout", plan.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto id = r.json["id"].get<std::string>();
  std::string key_id;
  {
    auto pub = common::publicKeyFromHex(t.op_pub);
    REQUIRE(pub.ok());
    key_id = common::keyId(*pub);
  }
  CHECK(r.json.value("submitted_by", "").find("operator:" + key_id) != std::string::npos);
  bool named = false;
  waitUntil(
      [&] {
        auto ev = t.console({"events", id});
        for (const auto& e : ev.json.value("events", json::array()))
          if (e["actor"].is_string() && e["actor"].get<std::string>().find("operator:" + key_id) != std::string::npos)
            named = true;
        return named;
      },
      10s);
  // An operator action after submission is recorded with the key id too.
  auto p = t.console({"pause", id});
  INFO(p.out << p.err);
  auto h = t.console({"history"});
  INFO(h.out);
  CHECK(h.exit_code == 0);
  CHECK(named);
}

TEST_CASE("operators: an unknown operator key gets no reply", "[integration][trust]") {
  TcpControl t;
  auto other = t.f.dir() / "intruder";
  REQUIRE(
      runCommand({(binDir() / "coordinator/flotilla").string(), "keygen", "--operator", other.string()}).exit_code ==
      0);
  auto r = t.console({"agents"}, other.string() + ".key");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(t.coord.running());
  CHECK(t.console({"agents"}).exit_code == 0);
}

TEST_CASE("operators: no key at all on a TCP endpoint is a usage error", "[integration][trust]") {
  TcpControl t;
  auto r = runCommand(
      {(binDir() / "coordinator/flotilla").string(), "--control", t.endpoint, "--json", "--timeout", "2", "agents"},
      30s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 2);
  CHECK(!(r.out + r.err).empty());
  CHECK(t.coord.running());
}

TEST_CASE("operators: the IPC control socket is mode 0660", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  struct stat st {};
  REQUIRE(::stat((f.dir() / "coord/control.sock").c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0660);
}

// ================================================================ 7. release keys end to end

TEST_CASE("release keys: an unsigned plan is refused, a signed one deploys", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  const auto rk = f.dir() / "R";
  REQUIRE(runCommand({(binDir() / "coordinator/flotilla").string(), "keygen", "--release", rk.string()}).exit_code ==
          0);
  initAgent(f, "h0");
  setTomlLine(f.agentDir("h0") / "agent.toml", "release_keys",
              "release_keys = [\"" + trimmed(slurp(rk.string() + ".pub")) + "\"]");
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));

  auto plan = f.writePlan("web", "1", f.makeRelease("1", true), kAllAtOnce);
  auto id = submit(f, plan);
  auto st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  CHECK(st["state"] != "succeeded");
  CHECK(findEvent(f, id, "", "unsigned_release"));
  CHECK(f.liveRelease("h0", "web") == "");

  auto s = runCommand(
      {(binDir() / "coordinator/flotilla").string(), "--json", "sign", plan.string(), "--key", rk.string() + ".key"});
  INFO(s.out << s.err);
  REQUIRE(s.exit_code == 0);
  auto sig_file = s.json["signature_file"].get<std::string>();
  std::string text = slurp(plan);
  auto pos = text.find("[artifact]\n");
  REQUIRE(pos != std::string::npos);
  text.insert(pos + 11, "signature = \"" + sig_file + "\"\n");
  auto plan2 = f.dir() / "web-1-signed.toml";
  std::ofstream(plan2) << text;
  auto id2 = submit(f, plan2);
  auto st2 = f.waitFinished(id2, 60s);
  INFO(st2.dump(2));
  CHECK(st2["state"] == "succeeded");
  CHECK(f.liveRelease("h0", "web") == "1");
}

// ================================================================ 8. plan key rotation

TEST_CASE("plan key rotation: agents follow the chain after a restart", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  baseline(f, "1");
  f.stopCoordinator();
  auto r = runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "rotate-plan-key", "--config",
                       (f.dir() / "coord/coordinator.toml").string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const std::string new_pub = trimmed(slurp(f.dir() / "coord/keys/plan.pub"));
  f.startCoordinator();
  REQUIRE(f.waitOnline(1));
  baseline(f, "2");
  CHECK(f.liveRelease("h0", "web") == "2");
  std::string pinned = slurp(f.agentDir("h0") / "state/plan_key");
  CHECK(pinned.find(new_pub) != std::string::npos);
}

// ================================================================ more: refusal counter, liveness of refused peers

namespace {
std::size_t collectBody(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string httpGet(const std::string& url) {
  std::string body;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_perform(c);
  curl_easy_cleanup(c);
  return body;
}
}  // namespace

TEST_CASE("a refused order is counted in /metrics by reason", "[integration][trust]") {
  Fleet f;
  const int port = freeTcpPort();
  f.startCoordinator({"http = \"127.0.0.1:" + std::to_string(port) + "\""});
  auto rk = common::generateSigningKeyPair();
  initAgent(f, "h0");
  setTomlLine(f.agentDir("h0") / "agent.toml", "release_keys",
              "release_keys = [\"" + common::toHex(rk.public_key) + "\"]");
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  auto id = rollout(f, "1");
  auto st = f.waitFinished(id, 60s);
  CHECK(st["state"] != "succeeded");
  CHECK(findEvent(f, id, "", "unsigned_release"));
  std::string body;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  waitUntil(
      [&] {
        body = httpGet(url);
        return body.find("flotilla_order_refusals_total{") != std::string::npos;
      },
      8s, 200ms);
  INFO(body);
  CHECK(body.find("flotilla_order_refusals_total{reason=\"unsigned_release\"} 1") != std::string::npos);
  CHECK(agentAlive(f, "h0"));
  CHECK(agentState(f, "h0") == "online");
}

TEST_CASE("a revoked agent's key is refused at its next handshake", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  f.startAgent(agentSpec("h1"));
  REQUIRE(f.waitOnline(2));
  REQUIRE(f.console({"agents", "revoke", "h1"}).exit_code == 0);
  f.stopAgent("h1");
  f.startAgent(agentSpec("h1"));
  std::this_thread::sleep_for(1s);  // time for the restarted agent to try its handshake
  CHECK(agentState(f, "h1") == "revoked");
  CHECK(agentAlive(f, "h1"));
  baseline(f, "1");
  CHECK(f.liveRelease("h0", "web") == "1");
  CHECK(f.liveRelease("h1", "web") == "");
}

TEST_CASE("a peer that never said hello is refused and asked to say hello", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  RawAgent raw(f);
  REQUIRE(raw.sock.sendBlocking(proto::encode(proto::Heartbeat{})));
  auto reason = raw.refusal();
  REQUIRE(reason);
  CHECK(reason->code == proto::RefusalCode::kNotEnrolled);
  proto::Report rep;
  rep.order_id = "web-1/h0";
  rep.phase = proto::Phase::kHealthy;
  REQUIRE(raw.sock.sendBlocking(proto::encode(rep)));
  CHECK(raw.refusal());
  CHECK(coordinatorUp(f));
  auto agents = f.console({"agents"});
  CHECK(agents.json["agents"].empty());
}

TEST_CASE("a pending peer cannot fetch artifacts", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  baseline(f, "1");
  auto d = common::digestFile(f.dir() / "app-1.tar.gz");
  REQUIRE(d.ok());
  RawAgent raw(f);
  raw.hello("lurker", "");
  auto w = raw.next();
  REQUIRE(w);
  proto::Fetch fe;
  fe.digest = d->digest;
  fe.credit = 4;
  REQUIRE(raw.sock.sendBlocking(proto::encode(fe)));
  auto reason = raw.refusal();
  REQUIRE(reason);
  CHECK(reason->code == proto::RefusalCode::kPending);
  while (auto m = raw.next(300ms)) CHECK(!std::holds_alternative<proto::Chunk>(*m));
  CHECK(agentState(f, "lurker") == "pending");
}

TEST_CASE("fake coordinator: a forged key rotation does not move the agent's pin", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  auto evil = common::generateSigningKeyPair();
  // Self-signed hand-over: the pinned key did not sign it.
  auto forged = proto::makeRotation(evil, evil.public_key, nowS());
  forged.old_key = std::string(reinterpret_cast<const char*>(loadPlanKey(s.f).public_key.data()), 32);
  s.fake->sendRaw(proto::encode(forged));
  auto b = s.fake->body("2", 2);
  s.expectRefused(s.fake->sign(b, &evil), b.order_id, "unknown_key:");
  std::error_code ec;
  std::string pin = slurp(s.f.agentDir("h0") / "state/plan_key");
  CHECK(pin.find(common::toHex(evil.public_key)) == std::string::npos);
}

TEST_CASE("fake coordinator: a signed order naming an unsafe app is refused", "[integration][trust]") {
  FakeSetup s;
  s.deployGood();
  auto b = s.fake->body("2", 2);
  b.app = "../../escape";
  s.fake->reports.clear();
  s.fake->send(s.fake->sign(b));
  auto r = s.fake->terminal("");
  INFO(s.agentLog());
  REQUIRE(r);
  INFO(r->message);
  CHECK((r->phase == proto::Phase::kRefused || r->phase == proto::Phase::kFailed));
  CHECK(!existsAnywhere(s.f.dir(), "escape"));
  CHECK(s.f.liveRelease("h0", "web") == "1");
  CHECK(agentAlive(s.f, "h0"));
}

namespace {
// Sends hostile frames to a real agent, then checks it lives and still deploys a good order.
void agentSurvives(const std::function<void(FakeSetup&)>& attack) {
  FakeSetup s;
  s.deployGood();
  attack(s);
  int before = s.fake->heartbeats;
  // A connection libzmq closed for a protocol error is re-established by the
  // agent within 5-10 s; then it says hello and heartbeats again.
  CHECK(s.fake->pumpUntil([&] { return s.fake->heartbeats > before + 1; }, 15s));
  CHECK(agentAlive(s.f, "h0"));
  auto b = s.fake->body("2", 2);
  s.fake->reports.clear();
  s.fake->send(s.fake->sign(b));
  auto r = s.fake->terminal(b.order_id);
  INFO(s.agentLog());
  REQUIRE(r);
  INFO(r->message);
  CHECK(r->phase == proto::Phase::kHealthy);
  CHECK(s.f.liveRelease("h0", "web") == "2");
}
}  // namespace

TEST_CASE("agent: msgpack bombs, deep nesting and foreign types are dropped", "[integration][trust]") {
  agentSurvives([](FakeSetup& s) {
    s.fake->sendRaw(std::string("\xdd\xff\x00\x00\x00", 5));
    s.fake->sendRaw(std::string("\xdf\xff\xff\xff\xff", 5));
    s.fake->sendRaw(std::string(100, '\x91') + "\x01");
    s.fake->sendRaw(std::string("\x93\x01\x63\x90", 4));
    s.fake->sendRaw(proto::encode(proto::Heartbeat{}));
  });
}

TEST_CASE("agent: an unsolicited chunk is ignored", "[integration][trust]") {
  agentSurvives([](FakeSetup& s) {
    proto::Chunk c;
    c.digest = std::string(64, 'a');
    c.offset = 1ull << 40;
    c.total = 1ull << 41;
    c.data = "zz";
    s.fake->sendRaw(proto::encode(c));
  });
}

TEST_CASE("agent: an oversized frame from the coordinator is dropped and the agent reconnects",
          "[integration][trust]") {
  agentSurvives([](FakeSetup& s) { s.fake->sendRaw(std::string(2 * 1024 * 1024, 'x')); });
}

TEST_CASE("a revoked raw peer's messages are refused and it gets no orders", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent(agentSpec("h0"));
  REQUIRE(f.waitOnline(1));
  RawAgent raw(f);
  raw.hello("raw0", joinValue(f, "token"), "web");
  auto w = raw.next();
  REQUIRE(w);
  REQUIRE(std::holds_alternative<proto::Welcome>(*w));
  REQUIRE(f.console({"agents", "revoke", "raw0"}).exit_code == 0);
  REQUIRE(waitUntil([&] { return agentState(f, "raw0") == "revoked"; }, 5s));
  raw.sock.send(proto::encode(proto::Heartbeat{}));
  baseline(f, "1");
  while (auto m = raw.next(300ms)) {
    CHECK(!std::holds_alternative<proto::SignedOrder>(*m));
    CHECK(!std::holds_alternative<proto::Chunk>(*m));
  }
  CHECK(agentState(f, "raw0") == "revoked");
  CHECK(coordinatorUp(f));
}

TEST_CASE("a rejected key gets no welcome on a new connection", "[integration][trust]") {
  Fleet f;
  f.startCoordinator();
  auto key = common::generateCurveKeyPair();
  RawSocket first(ZMQ_DEALER);
  first.curveClient(hexToBin(slurp(f.dir() / "coord/keys/curve.pub"), 32), key);
  REQUIRE(first.connect("tcp://127.0.0.1:" + agentsPort(f)));
  proto::Hello h;
  h.agent_id = "shady";
  REQUIRE(first.sendBlocking(proto::encode(h)));
  REQUIRE(first.recv(2s));
  REQUIRE(waitUntil([&] { return agentState(f, "shady") == "pending"; }, 5s));
  REQUIRE(f.console({"agents", "reject", "shady"}).exit_code == 0);
  RawSocket second(ZMQ_DEALER);
  second.curveClient(hexToBin(slurp(f.dir() / "coord/keys/curve.pub"), 32), key);
  REQUIRE(second.connect("tcp://127.0.0.1:" + agentsPort(f)));
  h.join_token = joinValue(f, "token");
  second.send(proto::encode(h));
  if (auto reply = second.recv(1s)) {
    auto m = proto::decodeCoordinatorMessage((*reply)[0]);
    REQUIRE(m);
    CHECK(!std::holds_alternative<proto::Welcome>(*m));
  }
  CHECK(agentState(f, "shady") == "rejected");
  CHECK(coordinatorUp(f));
}
