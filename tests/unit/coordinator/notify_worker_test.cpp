// One target's worker against a store it reads and a receiver on loopback:
// order, the cursor across restarts, the queue bound, receivers that refuse
// for good, and HTTPS that only trusts the system's CAs.
#include "flotilla/coordinator/notify_worker.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "flotilla/common/fs.h"
#include "support/cluster.h"
#include "support/temp_dir.h"

using namespace flotilla;
using namespace flotilla::coordinator;
using namespace std::chrono_literals;
using flotilla::testing::waitUntil;

namespace {

// Answers every POST with `status` and keeps the event ids it saw.
class Receiver {
 public:
  explicit Receiver(std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
      : server_(std::move(server)) {
    server_->Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      ids_.push_back(req.get_header_value("X-Flotilla-Event-Id"));
      res.status = status_;
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  ~Receiver() {
    server_->stop();
    thread_.join();
  }
  std::string url(const char* scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_) + "/hook";
  }
  void answer(int status) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
  }
  std::vector<std::string> ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;  // guards status_ and ids_
  int status_ = 200;
  std::vector<std::string> ids_;
};

struct Log {
  testing::TempDir dir{"notify-worker"};
  std::filesystem::path file = dir.path() / "flotilla.db";
  std::filesystem::path cursor = dir.path() / "notify-hook.cursor";
  std::unique_ptr<Store> store;

  Log() {
    auto opened = openStore({.file = file});
    REQUIRE(opened.ok());
    store = std::move(*opened);
    RolloutRecord r;
    r.id = "web-1";
    r.app = "web";
    r.version = "1";
    REQUIRE(store->insertRollout(r).ok());
  }
  std::int64_t add(const std::string& kind, int wave = -1) {
    EventRecord e;
    e.rollout_id = "web-1";
    e.kind = kind;
    e.wave = wave;
    auto seq = store->appendEvent(e);
    REQUIRE(seq.ok());
    return *seq;
  }
};

NotifyTarget target(const std::string& url, std::size_t queue = 100) {
  NotifyTarget t;
  t.name = "hook";
  t.url = url;
  t.events = {NotifyEvent::kSubmitted, NotifyEvent::kWaveSucceeded, NotifyEvent::kFinished};
  t.timeout = 2s;
  t.queue = queue;
  return t;
}

}  // namespace

TEST_CASE("notify worker: wanted events go in order, once, and a restarted worker resumes after them",
          "[coordinator][notify]") {
  Receiver receiver;
  Log log;
  log.add("submitted");  // before the worker's start: not sent
  const auto start = *log.store->lastEventSeq();
  const auto s1 = log.add("submitted");
  log.add("wave_started", 0);  // not a notification
  const auto s2 = log.add("wave_succeeded", 0);
  log.add("rollout_paused");  // not asked for
  {
    NotifyWorker w(target(receiver.url()), {.file = log.file}, log.cursor, start, common::RealClock::instance());
    w.start();
    REQUIRE(waitUntil([&] { return w.counters().delivered == 2; }, 10s));
    CHECK(receiver.ids() == std::vector<std::string>{std::to_string(s1), std::to_string(s2)});
  }
  const auto s3 = log.add("rollout_succeeded");
  NotifyWorker again(target(receiver.url()), {.file = log.file}, log.cursor, 0, common::RealClock::instance());
  again.start();
  REQUIRE(waitUntil([&] { return again.counters().delivered == 1; }, 10s));
  CHECK(receiver.ids() == std::vector<std::string>{std::to_string(s1), std::to_string(s2), std::to_string(s3)});
  CHECK(again.counters().failed_attempts == 0);
  CHECK(again.counters().queue_depth == 0);
}

TEST_CASE("notify worker: a queue that overflows while the receiver fails drops the oldest and counts it",
          "[coordinator][notify]") {
  Receiver receiver;
  receiver.answer(503);
  Log log;
  NotifyWorker w(target(receiver.url(), 2), {.file = log.file}, log.cursor, 0, common::RealClock::instance());
  w.start();
  log.add("submitted");
  REQUIRE(waitUntil([&] { return w.counters().failed_attempts >= 1; }, 10s));
  const auto s2 = log.add("wave_succeeded", 0);
  const auto s3 = log.add("wave_succeeded", 1);
  REQUIRE(waitUntil([&] { return w.counters().dropped == 1; }, 10s));
  CHECK(w.counters().queue_depth == 2);
  receiver.answer(200);
  REQUIRE(waitUntil([&] { return w.counters().delivered == 2; }, 10s));
  const auto ids = receiver.ids();
  REQUIRE(ids.size() >= 3);
  CHECK(std::vector<std::string>(ids.end() - 2, ids.end()) ==
        std::vector<std::string>{std::to_string(s2), std::to_string(s3)});
  CHECK(w.counters().queue_depth == 0);
}

TEST_CASE("notify worker: a notification the receiver refuses with a 4xx is dropped, the next one goes",
          "[coordinator][notify]") {
  Receiver receiver;
  receiver.answer(400);
  Log log;
  NotifyWorker w(target(receiver.url()), {.file = log.file}, log.cursor, 0, common::RealClock::instance());
  w.start();
  log.add("submitted");
  REQUIRE(waitUntil([&] { return w.counters().dropped == 1; }, 10s));
  CHECK(w.counters().failed_attempts == 0);
  receiver.answer(202);
  log.add("rollout_failed");
  REQUIRE(waitUntil([&] { return w.counters().delivered == 1; }, 10s));
  CHECK(receiver.ids().size() == 2);
}

TEST_CASE("notify worker: an HTTPS receiver whose certificate the system does not trust gets nothing",
          "[coordinator][notify]") {
  testing::TempDir dir("notify-tls");
  const auto key = dir.path() / "key.pem", cert = dir.path() / "cert.pem";
  auto made = testing::runCommand({"/usr/bin/env", "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                                   "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout",
                                   key.string(), "-out", cert.string()});
  if (made.exit_code != 0) {
    WARN("openssl cannot make a certificate: " << made.err);
    return;
  }
  Receiver receiver(std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str()));
  Log log;
  NotifyWorker w(target(receiver.url("https")), {.file = log.file}, log.cursor, 0, common::RealClock::instance());
  w.start();
  log.add("submitted");
  REQUIRE(waitUntil([&] { return w.counters().failed_attempts >= 1; }, 10s));
  CHECK(w.counters().delivered == 0);
  CHECK(receiver.ids().empty());  // the handshake failed: no request reached it
  CHECK(w.counters().queue_depth == 1);
}

TEST_CASE(
    "notify worker: a new target's cursor is kept from the start, so what waits for a receiver down survives a "
    "restart",
    "[coordinator][notify]") {
  Receiver receiver;
  receiver.answer(503);
  Log log;
  log.add("submitted");  // before the target existed: not sent
  const auto s1 = [&] {
    NotifyWorker w(target(receiver.url()), {.file = log.file}, log.cursor, *log.store->lastEventSeq(),
                   common::RealClock::instance());
    w.start();
    const auto seq = log.add("submitted");
    REQUIRE(waitUntil([&] { return w.counters().failed_attempts >= 1; }, 10s));
    return seq;
  }();
  const auto s2 = log.add("rollout_succeeded");  // while the coordinator is stopped
  receiver.answer(200);
  // Restarted, it is handed the log's end as every restart is: the cursor file says where it was.
  NotifyWorker again(target(receiver.url()), {.file = log.file}, log.cursor, *log.store->lastEventSeq(),
                     common::RealClock::instance());
  again.start();
  REQUIRE(waitUntil([&] { return again.counters().delivered == 2; }, 10s));
  const auto ids = receiver.ids();
  REQUIRE(ids.size() >= 2);
  CHECK(std::vector<std::string>(ids.end() - 2, ids.end()) ==
        std::vector<std::string>{std::to_string(s1), std::to_string(s2)});
}

TEST_CASE("notify worker: a cursor past the end of the log (the store was replaced) starts again from its end",
          "[coordinator][notify]") {
  Receiver receiver;
  Log log;
  log.add("submitted");
  REQUIRE(common::atomicWriteFile(log.cursor, "100000\n", 0640).ok());  // the old store's
  NotifyWorker w(target(receiver.url()), {.file = log.file}, log.cursor, 0, common::RealClock::instance());
  w.start();
  REQUIRE(waitUntil(
      [&] {
        auto text = common::readFile(log.cursor, 64);
        return text && *text == std::to_string(*log.store->lastEventSeq()) + "\n";
      },
      10s));
  const auto s2 = log.add("rollout_succeeded");
  REQUIRE(waitUntil([&] { return w.counters().delivered == 1; }, 10s));
  CHECK(receiver.ids() == std::vector<std::string>{std::to_string(s2)});
}

TEST_CASE("notify worker: stop() cuts short an attempt whose receiver never answers", "[coordinator][notify]") {
  // A socket that listens and never reads: the connection opens (the kernel
  // accepts it), the request is sent, no answer ever comes.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, 8) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  Log log;
  auto t = target("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/hook");
  t.timeout = 120s;
  NotifyWorker w(t, {.file = log.file}, log.cursor, 0, common::RealClock::instance());
  w.start();
  log.add("submitted");
  pollfd pending{listener, POLLIN, 0};
  REQUIRE(::poll(&pending, 1, 10000) == 1);  // the attempt's connection is in
  const auto began = std::chrono::steady_clock::now();
  w.stop();
  CHECK(std::chrono::steady_clock::now() - began < 20s);  // not the attempt's 120 s
  CHECK(w.counters().delivered == 0);
  ::close(listener);
}

TEST_CASE("notify worker: an answer's endless body is cut at the timeout, its 2xx status counts",
          "[coordinator][notify]") {
  httplib::Server server;
  std::atomic<int> posts{0};
  server.Post("/hook", [&](const httplib::Request&, httplib::Response& res) {
    ++posts;
    // A receiver that answers 200 and then streams a body that never ends.
    res.set_chunked_content_provider("text/plain", [](std::size_t, httplib::DataSink& sink) {
      std::this_thread::sleep_for(50ms);
      return sink.write("x", 1);
    });
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread serving([&] { server.listen_after_bind(); });
  Log log;
  auto t = target("http://127.0.0.1:" + std::to_string(port) + "/hook");
  t.timeout = 1s;
  {
    NotifyWorker w(t, {.file = log.file}, log.cursor, 0, common::RealClock::instance());
    w.start();
    log.add("submitted");
    CHECK(waitUntil([&] { return w.counters().delivered == 1; }, 20s));
    CHECK(posts == 1);
  }
  server.stop();
  serving.join();
}
