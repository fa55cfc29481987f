// Hostile input to real processes: frames the coordinator must decode within
// bounds (from an enrolled raw peer), and artifacts whose entries would escape
// the release directory or smuggle special files.

#include <catch2/catch.hpp>

#include "flotilla/protocol/messages.h"
#include "support/cluster.h"
#include "support/raw_peer.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
namespace proto = flotilla::protocol;
namespace common = flotilla::common;

namespace {

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
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  f.baseline("1");
  auto plan = f.writePlan("web", "2", hostileTarball(f, name, entry(f)), kOneWaveAllAtOnce);
  auto id = f.submit(plan);
  auto st = f.waitFinished(id, 60s);
  INFO(st.dump(2));
  CHECK(st["state"] != "succeeded");
  CHECK(f.liveRelease("h0", "web") == "1");
  auto ev = f.findEvent(id, "host_failed", "");
  REQUIRE(ev);
  INFO((*ev).dump());
  CHECK((*ev)["message"].get<std::string>().find(entry_name) != std::string::npos);
  check_outside(f);
  CHECK(f.agentRunning("h0"));
  CHECK(f.agentState("h0") == "online");
  // Nothing of the hostile release stays staged.
  std::error_code ec;
  CHECK(!fs::exists(f.appsDir("h0") / "web/releases/2", ec));
}

}  // namespace

// ================================================================ 4. bounded decoding at the coordinator

namespace {
// An enrolled raw peer sends `payload`; the coordinator must stay up and still roll out.
void coordinatorSurvives(const std::vector<std::string>& frames, bool expect_refusal,
                         const std::function<void(Fleet&)>& also = {}) {
  Fleet f;
  f.startCoordinator();
  f.startAgent("h0");
  REQUIRE(f.waitOnline(1));
  RawAgent raw(f);
  raw.enroll("raw0");
  for (std::size_t i = 0; i < frames.size(); ++i) raw.socket().sendBlocking(frames[i], i + 1 < frames.size());
  if (expect_refusal) {
    auto reason = raw.refusal();
    REQUIRE(reason);
    CHECK(reason->code == proto::RefusalCode::kMalformed);
  }
  CHECK(f.coordinatorUp());
  CHECK(f.agentState("h0") == "online");
  if (also) also(f);
  f.baseline("2");
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
                      [](Fleet& f) { CHECK(f.agentState("smuggled").empty()); });
}

TEST_CASE("coordinator: a fetch for a path outside the store is refused", "[integration][trust]") {
  proto::Fetch fe;
  fe.digest = "../../../../../../etc/passwd";
  fe.credit = 1;
  Fleet f;
  f.startCoordinator();
  RawAgent raw(f);
  raw.enroll("raw0");
  raw.socket().sendBlocking(proto::encode(fe));
  auto reason = raw.refusal();
  REQUIRE(reason);
  CHECK(proto::isFetchRefusal(reason->code));
  CHECK(f.coordinatorUp());
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
