#pragma once
// An HTTP(S) artifact store for tests (docs/artifacts.md): cpp-httplib's
// server on 127.0.0.1 at a port picked at run time, serving blobs the test
// gives it whole, cut short (the full Content-Length announced, half the bytes
// sent, the connection closed), or trickled slowly (1 KiB every 100 ms), and
// counting the requests of each path. The server runs on its own thread; the
// methods may be called from the test's thread at any time.

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace flotilla::testing {

class ArtifactServer {
 public:
  enum class Mode { kWhole, kTruncated, kSlow };

  // Plain HTTP.
  ArtifactServer();
  // HTTPS with this certificate chain and key (PEM files; see writeTestTls).
  ArtifactServer(const std::filesystem::path& cert, const std::filesystem::path& key);
  ~ArtifactServer();
  ArtifactServer(const ArtifactServer&) = delete;
  ArtifactServer& operator=(const ArtifactServer&) = delete;

  void serve(const std::string& path, std::string bytes, Mode mode = Mode::kWhole);
  // "http(s)://127.0.0.1:PORT" + path.
  std::string url(const std::string& path) const;
  int requests(const std::string& path) const;

 private:
  struct Blob {
    std::string bytes;
    Mode mode = Mode::kWhole;
    int requests = 0;
  };
  void start();

  std::unique_ptr<httplib::Server> server_;
  std::string scheme_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::map<std::string, Blob> blobs_;
};

// A test CA and a server certificate it signs for 127.0.0.1 and localhost,
// made with the openssl command: dir/ca.pem, dir/server.pem, dir/server.key.
// False when openssl is missing or fails.
bool writeTestTls(const std::filesystem::path& dir);

}  // namespace flotilla::testing
