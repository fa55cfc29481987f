// ControlClient against a scripted ROUTER on an ipc socket in a temporary
// directory (the coordinator's side of the control protocol, played by a thread).
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include <zmq.hpp>

#include "flotilla/console/client.h"
#include "flotilla/console/render.h"
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

TEST_CASE("operator name is user@host", "[console][client]") {
  const std::string name = defaultOperatorName();
  const auto at = name.find('@');
  REQUIRE(at != std::string::npos);
  CHECK(at > 0);
  CHECK(at + 1 < name.size());
}
