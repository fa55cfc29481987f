#include "support/artifact_server.h"

#include <chrono>
#include <stdexcept>

#include <httplib.h>

#include "support/cluster.h"

namespace flotilla::testing {
namespace {

constexpr std::size_t kTrickleBytes = 1024;
constexpr std::chrono::milliseconds kTrickleEvery{100};

}  // namespace

ArtifactServer::ArtifactServer() : server_(std::make_unique<httplib::Server>()), scheme_("http") { start(); }

ArtifactServer::ArtifactServer(const std::filesystem::path& cert, const std::filesystem::path& key)
    : server_(std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str())), scheme_("https") {
  if (!server_->is_valid()) throw std::runtime_error("cannot load " + cert.string() + " / " + key.string());
  start();
}

void ArtifactServer::start() {
  server_->Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(req.path);
    if (it == blobs_.end()) {
      res.status = 404;
      return;
    }
    ++it->second.requests;
    auto bytes = std::make_shared<const std::string>(it->second.bytes);
    switch (it->second.mode) {
      case Mode::kWhole:
        res.set_content(*bytes, "application/octet-stream");
        return;
      case Mode::kTruncated:
        res.set_content_provider(bytes->size(), "application/octet-stream",
                                 [bytes](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                   const std::size_t half = bytes->size() / 2;
                                   if (offset >= half) return false;  // closes the connection
                                   return sink.write(bytes->data() + offset, half - offset);
                                 });
        return;
      case Mode::kSlow:
        res.set_content_provider(bytes->size(), "application/octet-stream",
                                 [this, bytes](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                   if (stopping_) return false;
                                   std::this_thread::sleep_for(kTrickleEvery);
                                   const std::size_t n = std::min(kTrickleBytes, bytes->size() - offset);
                                   return sink.write(bytes->data() + offset, n);
                                 });
        return;
    }
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("artifact server: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  if (!waitUntil([this] { return server_->is_running(); }, std::chrono::seconds(10)))
    throw std::runtime_error("artifact server: not running");
}

ArtifactServer::~ArtifactServer() {
  stopping_ = true;
  server_->stop();
  thread_.join();
}

void ArtifactServer::serve(const std::string& path, std::string bytes, Mode mode) {
  std::lock_guard lock(mu_);
  blobs_[path] = Blob{std::move(bytes), mode, 0};
}

std::string ArtifactServer::url(const std::string& path) const {
  return scheme_ + "://127.0.0.1:" + std::to_string(port_) + path;
}

int ArtifactServer::requests(const std::string& path) const {
  std::lock_guard lock(mu_);
  auto it = blobs_.find(path);
  return it == blobs_.end() ? 0 : it->second.requests;
}

bool writeTestTls(const std::filesystem::path& dir) {
  const std::string d = dir.string();
  const std::string script =
      "set -e; cd '" + d +
      "'; "
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem "
      "-days 2 -subj /CN=flotilla-test-ca 2>/dev/null; "
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr "
      "-subj /CN=localhost 2>/dev/null; "
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext; "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile server.ext 2>/dev/null";
  auto r = runCommand({"/bin/sh", "-c", script}, std::chrono::seconds(60));
  return r.exit_code == 0;
}

}  // namespace flotilla::testing
