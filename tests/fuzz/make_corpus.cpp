// Writes seed inputs for fuzz_protocol and fuzz_journal with the real
// encoders: one valid encoding of every message type, bare order bodies and
// specs, and journals from empty to mid-order. Orders are signed with the
// fuzz targets' fixed plan key, so the verifier accepts them unmutated.
//
//   make_corpus OUT_DIR    -> OUT_DIR/protocol/*, OUT_DIR/journal/*
//
// The committed seeds under tests/fuzz/corpus/ came from this program;
// scripts/fuzz.sh also runs it into its working copy, so the seeds follow
// wire-format changes even before the committed ones are refreshed.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "flotilla/agent/journal.h"
#include "flotilla/common/crypto.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"
#include "fuzz_support.h"

namespace {

using namespace flotilla;
using namespace flotilla::protocol;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

bool write(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) std::fprintf(stderr, "make_corpus: cannot write %s\n", path.c_str());
  return static_cast<bool>(out);
}

OrderSpec fullSpec() {
  OrderSpec s;
  s.deploy.before_switch = {{"./bin/migrate", "--check"}, {"./bin/warm"}};
  s.deploy.restart = {"systemctl", "restart", "web"};
  s.deploy.hook_timeout = 5min;
  s.health.interval = 1s;
  s.health.healthy_for = 10s;
  s.health.deadline = 60s;
  HealthCheck http;
  http.kind = HealthCheck::Kind::kHttp;
  http.target = "http://127.0.0.1:8080/healthz";
  HealthCheck tcp;
  tcp.kind = HealthCheck::Kind::kTcp;
  tcp.target = "127.0.0.1:${PORT}";
  tcp.timeout = 500ms;
  HealthCheck exec;
  exec.kind = HealthCheck::Kind::kExec;
  exec.argv = {"./bin/selfcheck", "--quick"};
  s.health.checks = {http, tcp, exec};
  return s;
}

OrderBody body(const std::string& action, std::uint64_t sequence) {
  OrderBody b;
  b.order_id = "o-" + std::to_string(sequence);
  b.target = std::string(fuzz::kAgentId);
  b.rollout_id = "r-1";
  b.app = "web";
  b.version = "2.4.1";
  b.action = action;
  b.artifact_digest = std::string(64, 'a');
  b.artifact_size = 123456;
  b.sequence = sequence;
  b.issued_at = fuzz::kNow - 60;
  b.expires_at = fuzz::kNow + 3600;
  return b;
}

bool writeProtocol(const fs::path& dir, const common::SigningKeyPair& key) {
  bool ok = true;
  auto put = [&](const char* name, const std::string& bytes) { ok = write(dir / name, bytes) && ok; };

  put("hello", encode(Hello{"agent-1", {{"role", "web"}, {"zone", "a"}}, {{"web", "2.4.0"}}, "join-token", "0.1.0"}));
  put("heartbeat_idle", encode(Heartbeat{{{"web", "2.4.0"}}, {{"web", HealthState::kHealthy}}, ""}));
  put("heartbeat_busy",
      encode(Heartbeat{{}, {{"web", HealthState::kUnknown}, {"db", HealthState::kUnhealthy}}, "o-4"}));
  put("report_accepted", encode(Report{"o-4", "web", "2.4.1", 4, Phase::kAccepted, "", "2.4.0", 1'800'000'000'000}));
  put("report_reverted",
      encode(Report{"o-4", "web", "2.4.1", 4, Phase::kReverted, "health check failed", "2.4.0", -1}));
  put("fetch", encode(Fetch{std::string(64, 'a'), 262144, 8}));
  put("welcome", encode(Welcome{WelcomeStatus::kAccepted, "", 5000, 1'800'000'000'000}));
  put("welcome_pending", encode(Welcome{WelcomeStatus::kPending, "waiting for accept", 1, 0}));
  put("chunk", encode(Chunk{std::string(64, 'a'), 0, 5, "hello"}));
  put("refusal", encode(Refusal{RefusalCode::kNotEnrolled, "say hello first"}));
  put("refusal_fetch", encode(Refusal{RefusalCode::kFetchNoArtifact, "no artifact " + std::string(64, 'a')}));

  const std::string spec = encodeSpec(fullSpec());
  put("spec", spec);
  put("spec_minimal", encodeSpec(OrderSpec{}));

  SignedOrder deploy = signOrder(body("deploy", 4), spec, key);
  put("order_deploy", encode(deploy));
  put("order_rollback", encode(signOrder(body("rollback", 9), encodeSpec(OrderSpec{}), key)));
  put("order_body", deploy.body);
  OrderBody released = body("deploy", 5);
  released.release_signature = signRelease(released.app, released.version, released.artifact_digest,
                                           released.artifact_size, fuzz::fixedReleaseKey());
  put("order_release_signed", encode(signOrder(released, spec, key)));
  SignedOrder forged = deploy;
  forged.signature[0] ^= 1;
  put("order_bad_signature", encode(forged));
  return ok;
}

bool writeJournal(const fs::path& dir) {
  using agent::Journal;
  using agent::JournalState;
  bool ok = true;
  auto put = [&](const char* name, const JournalState& s) { ok = write(dir / name, Journal::serialize(s)) && ok; };

  put("empty.json", JournalState{});

  JournalState settled;
  agent::AppState web;
  web.current = "2.4.1";
  web.previous = "2.4.0";
  web.sequence = 4;
  web.releases["2.4.0"].digest = std::string(64, 'b');
  web.releases["2.4.0"].spec = encodeSpec(OrderSpec{});
  web.releases["2.4.1"].digest = std::string(64, 'a');
  web.releases["2.4.1"].spec = encodeSpec(fullSpec());
  settled.apps["web"] = web;
  agent::AppState api;
  api.current = "1.0";
  api.sequence = 1;
  api.releases["1.0"] = agent::ReleaseInfo{};
  settled.apps["api"] = api;
  put("settled.json", settled);

  JournalState finished = settled;
  finished.apps["web"].last_order = agent::FinishedOrder{"o-4",
                                                         4,
                                                         "deploy",
                                                         "2.4.1",
                                                         protocol::Phase::kReverted,
                                                         "not healthy within 30s; 2.4.0 is live again",
                                                         "2.4.0",
                                                         1700000000000};
  put("finished.json", finished);

  JournalState busy = settled;
  agent::InFlightOrder order;
  order.order_id = "o-5";
  order.app = "web";
  order.version = "2.5.0";
  order.previous = "2.4.1";
  order.action = "deploy";
  order.sequence = 5;
  order.phase = "switching";
  order.digest = std::string(64, 'c');
  order.spec = encodeSpec(fullSpec());
  busy.order = order;
  put("in_flight.json", busy);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus OUT_DIR\n");
    return 2;
  }
  if (!common::initCrypto().ok()) return 1;
  const fs::path out = argv[1];
  std::error_code ec;
  fs::create_directories(out / "protocol", ec);
  fs::create_directories(out / "journal", ec);
  if (ec) {
    std::fprintf(stderr, "make_corpus: cannot create %s: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }
  bool ok = writeProtocol(out / "protocol", fuzz::fixedPlanKey());
  ok = writeJournal(out / "journal") && ok;
  return ok ? 0 : 1;
}
