// Artifact uploads from the console to a real coordinator: streamed in chunks,
// checked by digest, and nothing left behind when they do not finish.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "flotilla/common/crypto.h"

#include "support/cluster.h"

using namespace flotilla::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Files in the coordinator's artifacts directory whose name starts with `prefix`.
std::vector<fs::path> artifactFiles(Fleet& f, const std::string& prefix = "") {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(f.dir() / "coord/artifacts", ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(prefix, 0) == 0) out.push_back(it->path());
  return out;
}

// A healthy release carrying `blob_bytes` of random (incompressible) data, so
// its artifact takes many upload chunks.
fs::path makeLargeRelease(Fleet& f, const std::string& version, std::size_t blob_bytes) {
  const auto src = f.dir() / ("big-" + version);
  fs::create_directories(src / "bin");
  std::ofstream(src / "HEALTHY") << "yes\n";
  std::ofstream(src / "bin/restart") << "#!/bin/sh\nexit 0\n";
  fs::permissions(src / "bin/restart", fs::perms::owner_all);
  {
    std::ofstream blob(src / "blob", std::ios::binary);
    std::mt19937_64 rng(42);
    std::vector<std::uint64_t> buf(4096);
    for (std::size_t done = 0; done < blob_bytes; done += buf.size() * 8) {
      for (auto& w : buf) w = rng();
      blob.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(buf.size() * 8));
    }
  }
  const auto out = f.dir() / ("big-" + version + ".tar");
  auto r = runCommand({"/bin/tar", "-C", src.string(), "-cf", out.string(), "."});
  REQUIRE(r.exit_code == 0);
  return out;
}

// A bare control connection speaking the upload commands frame by frame.
class RawControl {
 public:
  explicit RawControl(const std::string& endpoint) : sock_(ctx_, zmq::socket_type::dealer) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.set(zmq::sockopt::rcvtimeo, 10000);
    sock_.connect(endpoint);
  }
  nlohmann::json call(nlohmann::json req, const std::string& data = "") {
    req["req"] = ++next_;
    const std::string text = req.dump();
    sock_.send(zmq::buffer(text), data.empty() ? zmq::send_flags::none : zmq::send_flags::sndmore);
    if (!data.empty()) sock_.send(zmq::buffer(data), zmq::send_flags::none);
    zmq::message_t reply;
    if (!sock_.recv(reply)) return nullptr;
    return nlohmann::json::parse(reply.to_string_view(), nullptr, false);
  }

 private:
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  int next_ = 0;
};

}  // namespace

TEST_CASE("upload: a chunk out of order is refused over the control socket and the upload ends",
          "[integration][upload]") {
  Fleet f;
  f.startCoordinator();
  RawControl c(f.controlEndpoint());
  const std::string data(3000, 'x');
  const std::string digest = flotilla::common::blake2bHex(flotilla::common::asBytes(data));
  auto begin = c.call({{"cmd", "upload_begin"}, {"digest", digest}, {"size", data.size()}});
  INFO(begin.dump());
  REQUIRE(begin["ok"] == true);
  const std::string id = begin["upload_id"];
  CHECK(begin["credit"].get<int>() >= 1);
  CHECK(begin["type"] == "response");
  CHECK(begin["req"] == 1);
  auto first = c.call({{"cmd", "upload_chunk"}, {"upload_id", id}, {"offset", 0}}, data.substr(0, 1000));
  INFO(first.dump());
  CHECK(first["ok"] == true);
  CHECK(first["received"] == 1000);
  CHECK(first["req"] == 2);
  auto skipped = c.call({{"cmd", "upload_chunk"}, {"upload_id", id}, {"offset", 2000}}, data.substr(2000));
  INFO(skipped.dump());
  CHECK(skipped["ok"] == false);
  CHECK_THAT(skipped["error"]["message"].get<std::string>(), Catch::Contains("out of order"));
  CHECK(artifactFiles(f).empty());
  auto end = c.call({{"cmd", "upload_end"}, {"upload_id", id}});
  CHECK(end["ok"] == false);
  CHECK(end["error"]["code"] == "not_found");
}

TEST_CASE("upload: an artifact sent in many chunks is stored whole and deploys", "[integration][upload]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  const auto artifact = makeLargeRelease(f, "2", std::size_t{6} << 20);  // six 1 MiB chunks and more
  auto plan = f.writePlan("web", "2", artifact, "sizes = [\"100%\"]");
  auto st = f.waitFinished(f.submit(plan));
  INFO(st.dump(2));
  REQUIRE(st["state"] == "succeeded");
  CHECK(f.liveRelease("h0", "web") == "2");
  auto stored = artifactFiles(f);
  REQUIRE(stored.size() == 1);
  CHECK(fs::file_size(stored[0]) == fs::file_size(artifact));
  CHECK(fs::exists(f.agentDir("h0") / "apps/web/current/blob"));
}

TEST_CASE("upload: a console killed mid-upload leaves nothing once the upload times out", "[integration][upload]") {
  Fleet f;
  f.startCoordinator({"store.upload_timeout = \"1s\""});
  // Large enough that the upload lasts well beyond the moment its file appears.
  const auto artifact = f.dir() / "huge.tar";
  {
    std::ofstream(artifact).close();
    fs::resize_file(artifact, std::uintmax_t{256} << 20);  // sparse: no disk used
  }
  auto plan = f.writePlan("web", "9", artifact, "sizes = [\"100%\"]");
  Process console({(binDir() / "coordinator/flotilla").string(), "--control", f.controlEndpoint(), "--json", "rollout",
                   plan.string()},
                  f.dir() / "console.log");
  // The positive signal: the coordinator has written part of the upload.
  REQUIRE(waitUntil(
      [&] {
        auto parts = artifactFiles(f, ".upload-");
        std::error_code ec;
        return !parts.empty() && fs::file_size(parts[0], ec) > 0;
      },
      60s, 5ms));
  const int status = console.stop(SIGKILL);
  REQUIRE(WIFSIGNALED(status));  // killed mid-upload, not finished
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(waitUntil([&] { return artifactFiles(f).empty(); }, 15s));
  // The coordinator is still fine, and the upload never became a rollout.
  auto history = f.console({"history"});
  REQUIRE(history.exit_code == 0);
  CHECK(history.json["rollouts"].empty());
}

TEST_CASE("upload: an artifact that does not match its digest is refused with exit 2 and nothing is stored",
          "[integration][upload]") {
  Fleet f;
  f.startCoordinator();
  f.startAgent({"h0"});
  REQUIRE(f.waitOnline(1));
  // Each read of this file gives another UUID: the bytes sent are not the bytes hashed.
  auto plan = f.writePlan("web", "3", "/proc/sys/kernel/random/uuid", "sizes = [\"100%\"]");
  auto r = f.console({"rollout", plan.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.json["error"]["code"] == "corrupt");
  CHECK_THAT(r.json["error"]["message"].get<std::string>(), Catch::Contains("digest mismatch"));
  CHECK(artifactFiles(f).empty());
  auto history = f.console({"history"});
  REQUIRE(history.exit_code == 0);
  CHECK(history.json["rollouts"].empty());
}

TEST_CASE("upload: SIGTERM reaches the coordinator reactor and not its worker threads so it exits 0",
          "[integration][upload]") {
  Fleet f;
  f.startCoordinator();
  f.stopCoordinator();
  Process coordinator({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config",
                       (f.dir() / "coord/coordinator.toml").string()},
                      f.dir() / "coordinator-2.log");
  REQUIRE(waitUntil([&] { return f.console({"metrics"}).exit_code == 0; }, 20s));
  const int status = coordinator.stop(SIGTERM);
  REQUIRE(WIFEXITED(status));  // a signal taken by a worker thread would kill it unflushed
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(fs::exists(f.dir() / "coord/flotilla.db-wal"));  // every store connection closed
}
