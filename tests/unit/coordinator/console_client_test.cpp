// ControlClient against a scripted ROUTER on an ipc socket in a temporary
// directory (the coordinator's side of the control protocol, played by a thread).
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include <zmq.hpp>

#include "flotilla/console/client.h"
#include "flotilla/console/commands.h"
#include "flotilla/console/render.h"
#include "flotilla/console/upload.h"

#include <fstream>

#include "flotilla/common/crypto.h"
#include "support/temp_dir.h"

using namespace flotilla;
using namespace flotilla::console;
using flotilla::testing::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Binds a ROUTER at `endpoint` on its own thread and runs `script` with it;
// the socket lives and dies on that thread. The constructor returns once it
// listens; the destructor lets the thread close it.
class FakeCoordinator {
 public:
  using Script = std::function<void(zmq::socket_t&)>;
  FakeCoordinator(std::string endpoint, Script script) {
    thread_ = std::thread([this, endpoint, script] {
      zmq::context_t ctx;
      zmq::socket_t router(ctx, zmq::socket_type::router);
      router.set(zmq::sockopt::linger, 0);
      router.set(zmq::sockopt::rcvtimeo, 5000);  // a failed test must not hang the join
      router.bind(endpoint);
      bound_ = true;
      bound_.notify_all();
      script(router);
      // Stay connected until the test is done: a closing peer may take
      // undelivered replies with it.
      done_.wait(false);
    });
    bound_.wait(false);
  }
  ~FakeCoordinator() {
    done_ = true;
    done_.notify_all();
    thread_.join();
  }

  // One request: [routing id, JSON(, attachment)]; empty after 5 s without one.
  struct Request {
    std::string rid;
    json body;
    std::string attachment;
  };
  static Request receive(zmq::socket_t& router) {
    Request r;
    zmq::message_t id, body;
    if (!router.recv(id) || !router.recv(body)) return r;
    r.rid = id.to_string();
    r.body = json::parse(body.to_string(), nullptr, false);
    if (body.more()) {
      zmq::message_t att;
      (void)router.recv(att);
      r.attachment = att.to_string();
    }
    return r;
  }
  static void send(zmq::socket_t& router, const std::string& rid, const json& doc) {
    router.send(zmq::buffer(rid), zmq::send_flags::sndmore);
    router.send(zmq::buffer(doc.dump()), zmq::send_flags::none);
  }

 private:
  std::atomic<bool> bound_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

ClientOptions optionsFor(const fs::path& sock, int timeout_ms = 2000) {
  ClientOptions o;
  o.endpoint = "ipc://" + sock.string();
  o.timeout = common::Millis(timeout_ms);
  o.operator_name = "tester@host";
  return o;
}

}  // namespace

TEST_CASE("client refuses an ipc endpoint whose socket file is missing", "[console][client]") {
  TempDir dir;
  auto c = ControlClient::connect(optionsFor(dir.path() / "control.sock"));
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == Errc::kUnavailable);
  CHECK(c.error().message == "coordinator unreachable: no control socket at " + (dir.path() / "control.sock").string() +
                                 " (is flotilla-coordinator running?)");
  CHECK(exitCodeForError(c.error().code) == kExitUnreachable);
}

TEST_CASE("client refuses an empty or malformed endpoint", "[console][client]") {
  ClientOptions o;
  auto empty = ControlClient::connect(o);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == Errc::kInvalidArgument);
  o.endpoint = "nonsense://x";
  auto bad = ControlClient::connect(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::kInvalidArgument);
}

TEST_CASE("client refuses a path that is not a socket", "[console][client]") {
  TempDir dir;
  auto c = ControlClient::connect(optionsFor(dir.path()));
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == Errc::kInvalidArgument);
}

TEST_CASE("request carries id and operator, attachment as a second frame, and returns the matching reply",
          "[console][client]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  FakeCoordinator::Request seen;
  std::unique_ptr<ControlClient> client;
  std::optional<Result<json>> reply;
  {
    FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
      seen = FakeCoordinator::receive(router);
      // A push and a late reply to another request come first; the client keeps
      // the push and skips the stale reply.
      FakeCoordinator::send(router, seen.rid, {{"type", "event"}, {"seq", 4}});
      FakeCoordinator::send(router, seen.rid, {{"type", "response"}, {"req", 999}, {"ok", true}});
      FakeCoordinator::send(router, seen.rid,
                            {{"type", "response"}, {"req", seen.body["req"]}, {"ok", true}, {"agents", json::array()}});
    });
    auto c = ControlClient::connect(optionsFor(sock));
    REQUIRE(c.ok());
    client = std::move(*c);
    reply = client->request({{"cmd", "rollout"}, {"plan", "x"}}, "ARTIFACT");
  }  // the fake's thread is joined: `seen` is safe to read
  INFO((reply->ok() ? std::string() : reply->error().message));
  REQUIRE(reply->ok());
  CHECK((*reply)->contains("agents"));
  CHECK(seen.body["cmd"] == "rollout");
  CHECK(seen.body["operator"] == "tester@host");
  CHECK(seen.body["req"].is_number_integer());
  CHECK(seen.attachment == "ARTIFACT");
  auto push = client->receive(common::Millis(0));
  REQUIRE(push.ok());
  REQUIRE(push->has_value());
  CHECK((**push)["type"] == "event");
  CHECK((**push)["seq"] == 4);
}

TEST_CASE("an error reply becomes an Error with the coordinator's code and message", "[console][client]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  FakeCoordinator fake("ipc://" + sock.string(), [](zmq::socket_t& router) {
    auto r = FakeCoordinator::receive(router);
    FakeCoordinator::send(
        router, r.rid,
        {{"type", "response"},
         {"req", r.body["req"]},
         {"ok", false},
         {"error", {{"code", "conflict"}, {"message", "rollout web-3 of app 'web' is still active"}}}});
  });
  auto c = ControlClient::connect(optionsFor(sock));
  REQUIRE(c.ok());
  auto reply = (*c)->request({{"cmd", "pause"}, {"rollout", "web-3"}});
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.error().code == Errc::kConflict);
  CHECK(reply.error().message == "rollout web-3 of app 'web' is still active");
  CHECK(exitCodeForError(reply.error().code) == kExitUsage);
}

TEST_CASE("no reply within the timeout means the coordinator is unreachable", "[console][client]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  FakeCoordinator fake("ipc://" + sock.string(), [](zmq::socket_t& router) {
    (void)FakeCoordinator::receive(router);  // and never answer
  });
  auto c = ControlClient::connect(optionsFor(sock, 200));
  REQUIRE(c.ok());
  const auto start = common::SteadyClock::now();
  auto reply = (*c)->request({{"cmd", "agents"}});
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.error().code == Errc::kUnavailable);
  CHECK(reply.error().message.rfind("coordinator unreachable: no reply from ipc://", 0) == 0);
  CHECK(common::SteadyClock::now() - start < std::chrono::seconds(2));
}

namespace {

// The answer of a standby to request `r`: not_leader naming `leader`.
json notLeader(const FakeCoordinator::Request& r, const std::string& leader) {
  return {{"type", "response"},
          {"req", r.body["req"]},
          {"ok", false},
          {"error", {{"code", "not_leader"}, {"message", "this coordinator is a standby"}, {"leader", leader}}}};
}

}  // namespace

TEST_CASE("a not_leader answer is followed to the leader it names", "[console][client][ha]") {
  TempDir dir;
  const std::string standby = "ipc://" + (dir.path() / "standby.sock").string();
  const std::string leader = "ipc://" + (dir.path() / "leader.sock").string();
  std::atomic<int> asked_standby{0};
  FakeCoordinator b(standby, [&](zmq::socket_t& router) {
    auto r = FakeCoordinator::receive(router);
    ++asked_standby;
    FakeCoordinator::send(router, r.rid, notLeader(r, leader));
  });
  FakeCoordinator a(leader, [](zmq::socket_t& router) {
    auto r = FakeCoordinator::receive(router);
    FakeCoordinator::send(router, r.rid,
                          {{"type", "response"}, {"req", r.body["req"]}, {"ok", true}, {"agents", json::array()}});
  });
  // Only the standby is given: the leader is reached by following it.
  auto o = optionsFor(dir.path() / "standby.sock");
  auto c = ControlClient::connect(o);
  REQUIRE(c.ok());
  auto reply = (*c)->request({{"cmd", "agents"}});
  INFO((reply ? std::string() : reply.error().message));
  REQUIRE(reply.ok());
  CHECK((*reply)["agents"] == json::array());
  CHECK(asked_standby == 1);
  CHECK((*c)->endpoint() == leader);
}

TEST_CASE("not_leader answers naming no leader end in an error after the timeout", "[console][client][ha]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  std::atomic<int> asked{0};
  FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
    while (true) {
      auto r = FakeCoordinator::receive(router);
      if (r.rid.empty()) return;
      ++asked;
      FakeCoordinator::send(router, r.rid, notLeader(r, ""));
    }
  });
  auto c = ControlClient::connect(optionsFor(sock, 1000));
  REQUIRE(c.ok());
  auto reply = (*c)->request({{"cmd", "agents"}});
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.error().code == Errc::kUnavailable);
  CHECK_THAT(reply.error().message, Catch::StartsWith("coordinator unreachable: no coordinator leads: ipc://") &&
                                        Catch::Contains("is a standby and knows no leader"));
  CHECK(asked >= 2);  // asked again, after a pause, while the lease may be changing hands
}

TEST_CASE("a list skips an ipc socket that is not there, and refuses a malformed list", "[console][client][ha]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  FakeCoordinator fake("ipc://" + sock.string(), [](zmq::socket_t& router) {
    auto r = FakeCoordinator::receive(router);
    FakeCoordinator::send(router, r.rid, {{"type", "response"}, {"req", r.body["req"]}, {"ok", true}});
  });
  auto o = optionsFor(sock);
  o.endpoint = "ipc://" + (dir.path() / "gone.sock").string() + "," + o.endpoint;
  auto c = ControlClient::connect(o);
  REQUIRE(c.ok());
  CHECK((*c)->endpoint() == "ipc://" + sock.string());
  CHECK((*c)->endpointCount() == 2);
  CHECK((*c)->request({{"cmd", "agents"}}).ok());

  o.endpoint = "ipc://" + sock.string() + ",,";
  auto bad = ControlClient::connect(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::kInvalidArgument);
  o.endpoint = "ipc://" + (dir.path() / "a.sock").string() + ",ipc://" + (dir.path() / "b.sock").string();
  auto none = ControlClient::connect(o);
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error().message, Catch::StartsWith("coordinator unreachable: no control socket at"));
}

TEST_CASE("operator name is user@host", "[console][client]") {
  const std::string name = defaultOperatorName();
  const auto at = name.find('@');
  REQUIRE(at != std::string::npos);
  CHECK(at > 0);
  CHECK(at + 1 < name.size());
}

namespace {

// Writes `bytes` bytes of a repeating pattern to `path` and returns them.
std::string writeArtifact(const fs::path& path, std::size_t bytes) {
  std::string data(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>('a' + i % 23);
  std::ofstream(path, std::ios::binary) << data;
  return data;
}

json ok(const FakeCoordinator::Request& r, json fields = json::object()) {
  fields["type"] = "response";
  fields["req"] = r.body["req"];
  fields["ok"] = true;
  return fields;
}

}  // namespace

TEST_CASE("upload streams the artifact in order, within the credit, then ends it", "[console][upload]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  const std::string data = writeArtifact(dir.path() / "a.tar", 5 * 4096 + 100);
  json begin;
  std::string received, ended;
  std::size_t max_unanswered = 0;
  std::optional<Result<UploadedArtifact>> result;
  {
    FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
      auto b = FakeCoordinator::receive(router);
      begin = b.body;
      FakeCoordinator::send(router, b.rid, ok(b, {{"upload_id", "u1"}, {"chunk_bytes", 4096}, {"credit", 2}}));
      std::vector<FakeCoordinator::Request> unanswered;
      while (true) {
        auto r = FakeCoordinator::receive(router);
        if (!r.body.is_object()) return;  // nothing for 5 s: the test fails on what it saw
        if (r.body.value("cmd", "") == "upload_end") {
          ended = r.body.value("upload_id", "");
          FakeCoordinator::send(router, r.rid, ok(r, {{"digest", begin["digest"]}, {"size", data.size()}}));
          return;
        }
        if (r.body.value("cmd", "") != "upload_chunk") return;
        CHECK(r.body["offset"] == received.size());
        received += r.attachment;
        unanswered.push_back(r);
        max_unanswered = std::max(max_unanswered, unanswered.size());
        // Answer only when the console has used its whole credit (or sent the last chunk).
        if (unanswered.size() == 2 || received.size() == data.size()) {
          for (const auto& u : unanswered)
            FakeCoordinator::send(router, u.rid,
                                  ok(u, {{"received", u.body["offset"].get<std::size_t>() + u.attachment.size()}}));
          unanswered.clear();
        }
      }
    });
    auto c = ControlClient::connect(optionsFor(sock));
    REQUIRE(c.ok());
    result = uploadArtifact(**c, dir.path() / "a.tar", "plan.toml: artifact.file", nullptr);
  }
  INFO((result->ok() ? std::string() : result->error().message));
  REQUIRE(result->ok());
  CHECK((*result)->digest == common::blake2bHex(common::asBytes(data)));
  CHECK((*result)->size == data.size());
  CHECK(begin["cmd"] == "upload_begin");
  CHECK(begin["digest"] == (*result)->digest);
  CHECK(begin["size"] == data.size());
  CHECK(received == data);
  CHECK(max_unanswered == 2);
  CHECK(ended == "u1");
}

TEST_CASE("upload sends nothing when the coordinator already has the artifact", "[console][upload]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  writeArtifact(dir.path() / "a.tar", 10000);
  std::optional<Result<UploadedArtifact>> result;
  {
    FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
      auto b = FakeCoordinator::receive(router);
      FakeCoordinator::send(router, b.rid, ok(b, {{"stored", true}}));
    });
    auto c = ControlClient::connect(optionsFor(sock));
    REQUIRE(c.ok());
    result = uploadArtifact(**c, dir.path() / "a.tar", "plan.toml: artifact.file", nullptr);
  }
  REQUIRE(result->ok());
  CHECK((*result)->already_stored);
}

TEST_CASE("a malformed upload grant is a protocol error naming the field", "[console][upload]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  writeArtifact(dir.path() / "a.tar", 10000);
  std::optional<Result<UploadedArtifact>> result;
  bool malformed = false;
  {
    FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
      auto b = FakeCoordinator::receive(router);
      FakeCoordinator::send(router, b.rid, ok(b, {{"upload_id", "u1"}, {"chunk_bytes", 4096}, {"credit", "2"}}));
    });
    auto c = ControlClient::connect(optionsFor(sock));
    REQUIRE(c.ok());
    result = uploadArtifact(**c, dir.path() / "a.tar", "plan.toml: artifact.file", nullptr, &malformed);
  }
  REQUIRE_FALSE(result->ok());
  CHECK(result->error().code == Errc::kCorrupt);
  CHECK(result->error().message ==
        "unexpected reply from the coordinator: credit: expected a non-negative integer, got a string");
  CHECK(malformed);
}

TEST_CASE("a coordinator that stops acknowledging mid-upload is reported as such after the timeout",
          "[console][upload]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  writeArtifact(dir.path() / "a.tar", 10 * 4096);
  FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
    auto b = FakeCoordinator::receive(router);
    FakeCoordinator::send(router, b.rid, ok(b, {{"upload_id", "u1"}, {"chunk_bytes", 4096}, {"credit", 2}}));
    auto first = FakeCoordinator::receive(router);
    FakeCoordinator::send(router, first.rid, ok(first, {{"received", 4096}}));
  });
  auto c = ControlClient::connect(optionsFor(sock, 500));
  REQUIRE(c.ok());
  const auto start = std::chrono::steady_clock::now();
  auto result = uploadArtifact(**c, dir.path() / "a.tar", "plan.toml: artifact.file", nullptr);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Errc::kUnavailable);
  CHECK_THAT(result.error().message, Catch::Contains("stopped answering during the upload"));
  CHECK_THAT(result.error().message, Catch::Contains("4.0 KiB of 40 KiB"));
  CHECK(exitCodeForError(result.error().code) == kExitUnreachable);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("a coordinator that goes away mid-upload is reported at once rather than after the timeout",
          "[console][upload]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  writeArtifact(dir.path() / "a.tar", 10 * 4096);
  FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
    auto b = FakeCoordinator::receive(router);
    FakeCoordinator::send(router, b.rid, ok(b, {{"upload_id", "u1"}, {"chunk_bytes", 4096}, {"credit", 2}}));
    (void)FakeCoordinator::receive(router);  // the first chunk arrived: the upload is under way
    router.close();
  });
  auto c = ControlClient::connect(optionsFor(sock, 20000));
  REQUIRE(c.ok());
  const auto start = std::chrono::steady_clock::now();
  auto result = uploadArtifact(**c, dir.path() / "a.tar", "plan.toml: artifact.file", nullptr);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Errc::kUnavailable);
  CHECK_THAT(result.error().message, Catch::Contains("went away during the upload"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("a coordinator that goes away right after granting credit is reported at once", "[console][upload]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  writeArtifact(dir.path() / "a.tar", 10 * 4096);
  FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
    auto b = FakeCoordinator::receive(router);
    FakeCoordinator::send(router, b.rid, ok(b, {{"upload_id", "u1"}, {"chunk_bytes", 4096}, {"credit", 2}}));
    router.set(zmq::sockopt::linger, 5000);  // the grant usually still reaches the console
    router.close();                          // before any chunk: the console's next send finds no connection
  });
  auto c = ControlClient::connect(optionsFor(sock, 20000));
  REQUIRE(c.ok());
  const auto start = std::chrono::steady_clock::now();
  auto result = uploadArtifact(**c, dir.path() / "a.tar", "plan.toml: artifact.file", nullptr);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Errc::kUnavailable);
  // Whether the grant arrived before the connection closed is the transport's
  // business; either way the console says at once that the coordinator went away.
  CHECK_THAT(result.error().message,
             Catch::Contains("went away during the upload") || Catch::Contains("closed before it answered"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("a coordinator that goes away before answering is reported at once", "[console]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
    (void)FakeCoordinator::receive(router);
    router.close();  // no answer, and no connection any more
  });
  auto c = ControlClient::connect(optionsFor(sock, 20000));
  REQUIRE(c.ok());
  const auto start = std::chrono::steady_clock::now();
  auto reply = (*c)->request({{"cmd", "status"}});
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.error().code == Errc::kUnavailable);
  CHECK_THAT(reply.error().message, Catch::Contains("closed before it answered"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("a digest mismatch at upload_end is an error that exits 2", "[console][upload]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  writeArtifact(dir.path() / "a.tar", 100);
  FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
    auto b = FakeCoordinator::receive(router);
    FakeCoordinator::send(router, b.rid, ok(b, {{"upload_id", "u1"}, {"chunk_bytes", 4096}, {"credit", 2}}));
    auto chunk = FakeCoordinator::receive(router);
    FakeCoordinator::send(router, chunk.rid, ok(chunk, {{"received", 100}}));
    auto end = FakeCoordinator::receive(router);
    FakeCoordinator::send(router, end.rid,
                          {{"type", "response"},
                           {"req", end.body["req"]},
                           {"ok", false},
                           {"error", {{"code", "corrupt"}, {"message", "artifact digest mismatch: ..."}}}});
  });
  auto c = ControlClient::connect(optionsFor(sock));
  REQUIRE(c.ok());
  auto result = uploadArtifact(**c, dir.path() / "a.tar", "plan.toml: artifact.file", nullptr);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Errc::kCorrupt);
  CHECK(exitCodeForError(result.error().code) == kExitUsage);
}

TEST_CASE("upload names the plan key when the artifact cannot be read", "[console][upload]") {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  FakeCoordinator fake("ipc://" + sock.string(), [](zmq::socket_t&) {});
  auto c = ControlClient::connect(optionsFor(sock));
  REQUIRE(c.ok());
  auto result = uploadArtifact(**c, dir.path() / "missing.tar", "plan.toml: artifact.file", nullptr);
  REQUIRE_FALSE(result.ok());
  CHECK_THAT(result.error().message, Catch::StartsWith("plan.toml: artifact.file: "));
  CHECK(exitCodeForError(result.error().code) == kExitUsage);
}

namespace {

// Runs one console command against a fake coordinator that answers its one
// request with `reply` (the envelope added).
struct CommandRun {
  int rc = -1;
  std::string out, err;
};

template <typename F>
CommandRun runAgainst(const json& reply, bool json_output, F command) {
  TempDir dir;
  const auto sock = dir.path() / "control.sock";
  FakeCoordinator fake("ipc://" + sock.string(), [&](zmq::socket_t& router) {
    auto r = FakeCoordinator::receive(router);
    json doc = reply;
    doc["type"] = "response";
    doc["req"] = r.body["req"];
    FakeCoordinator::send(router, r.rid, doc);
  });
  std::ostringstream out, err;
  ConsoleOptions o;
  o.control = "ipc://" + sock.string();
  o.json = json_output;
  o.timeout_seconds = 2;
  o.operator_name = "tester@host";
  Console console(o, out, err);
  CommandRun run;
  run.rc = command(console);
  run.out = out.str();
  run.err = err.str();
  return run;
}

json agentsReply() {
  return json::parse(R"({"ok":true,"agents":[{"id":"h1","state":"online","labels":{"role":"web"},
    "releases":{"web":"2"},"health":{"web":"healthy"},"key":"0123456789abcdef","busy":null,
    "last_seen":"2026-11-30T10:00:00.000Z"}]})");
}

}  // namespace

TEST_CASE("console --json prints a reply with the coordinator's fields and shapes", "[console][commands]") {
  auto run = runAgainst(agentsReply(), true, [](Console& c) { return c.agents(); });
  CHECK(run.rc == kExitOk);
  json expected = agentsReply();
  expected.erase("ok");
  CHECK(run.out == expected.dump() + "\n");
}

TEST_CASE("console reports a malformed reply naming the field, exit 3", "[console][commands]") {
  json bad = agentsReply();
  bad["agents"][0]["labels"]["role"] = 1;
  auto run = runAgainst(bad, false, [](Console& c) { return c.agents(); });
  CHECK(run.rc == kExitUnreachable);
  CHECK(run.out.empty());
  CHECK(run.err ==
        "flotilla: unexpected reply from the coordinator: agents[0].labels.role: expected a string, got 1\n");

  bad = agentsReply();
  bad["agents"][0].erase("state");
  run = runAgainst(bad, true, [](Console& c) { return c.agents(); });
  CHECK(run.rc == kExitUnreachable);
  CHECK(json::parse(run.out) ==
        json{{"error",
              {{"code", "corrupt"}, {"message", "unexpected reply from the coordinator: agents[0].state: missing"}}}});

  run = runAgainst(json{{"ok", true}, {"rollout", {{"id", "web-1"}}}}, false,
                   [](Console& c) { return c.status("web-1", false); });
  CHECK(run.rc == kExitUnreachable);
  CHECK_THAT(run.err, Catch::Contains("rollout.app: missing"));
}
