#include "flotilla/console/upload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "flotilla/common/bytes.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "flotilla/console/render.h"
#include "flotilla/protocol/control.h"

namespace flotilla::console {

namespace control = protocol::control;

namespace {

// What the console accepts of the coordinator's grant, whatever it says.
constexpr std::uint64_t kMinChunk = 4 * 1024;
constexpr std::uint64_t kMaxChunk = 4 * 1024 * 1024;
constexpr std::uint64_t kMaxCredit = 16;
constexpr common::Millis kProgressEvery{200};
// How often a silent wait checks that the connection is still up: a
// coordinator that died is reported at once, not after the whole timeout.
constexpr common::Millis kConnectionCheck{250};

Error replyError(const json& m) {
  auto err = m.get<control::ErrorReply>();  // lenient: missing fields read as ""
  if (err.message.empty()) err.message = "the coordinator refused the upload";
  return Error(errcFromName(err.code), err.message);
}

class Progress {
 public:
  Progress(std::ostream* out, std::string name, std::uint64_t total)
      : out_(out), name_(std::move(name)), total_(total) {}
  void update(std::uint64_t done) {
    if (!out_) return;
    const auto now = common::SteadyClock::now();
    if (done < total_ && now - last_ < kProgressEvery) return;
    last_ = now;
    const auto pct = total_ ? done * 100 / total_ : 100;
    *out_ << "\ruploading " << name_ << ": " << pct << "% (" << common::formatBytes(done) << " of "
          << common::formatBytes(total_) << ")\x1b[K" << std::flush;
  }
  void finish() {
    if (out_) *out_ << "\n" << std::flush;
  }

 private:
  std::ostream* out_;
  std::string name_;
  std::uint64_t total_;
  common::SteadyTime last_{};
};

// Reads up to `want` bytes at the file's current position (short only at its end).
Result<std::size_t> readChunk(int fd, std::vector<char>& buf, std::size_t want, const std::filesystem::path& file) {
  std::size_t got = 0;
  while (got < want) {
    ssize_t n = ::read(fd, buf.data() + got, want - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(Errc::kIo, "cannot read " + file.string() + ": " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

struct Grant {
  std::string upload_id;
  std::size_t chunk_bytes = 0;
  std::size_t credit = 0;
};

Error wentAway(const std::filesystem::path& file, std::uint64_t acked, std::uint64_t size) {
  return Error(Errc::kUnavailable, "coordinator went away during the upload of " + file.string() +
                                       ": the connection closed after " + common::formatBytes(acked) + " of " +
                                       common::formatBytes(size) + " were acknowledged");
}

// Sends every chunk, keeping at most `credit` unacknowledged.
Status sendChunks(ControlClient& client, int fd, const std::filesystem::path& file, const std::string& label,
                  std::uint64_t size, const Grant& g, Progress& progress, bool& malformed) {
  const common::Millis silence = client.options().timeout;
  std::vector<char> buf(g.chunk_bytes);
  std::set<std::int64_t> in_flight;  // request ids of unacknowledged chunks
  std::uint64_t sent = 0, acked = 0;
  auto last_ack = common::SteadyClock::now();
  while (acked < size) {
    while (sent < size && in_flight.size() < g.credit) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(g.chunk_bytes, size - sent));
      auto n = readChunk(fd, buf, want, file);
      if (!n) return n.error().context(label);
      if (*n != want) return Error(Errc::kIo, label + ": " + file.string() + " changed while it was being uploaded");
      // Mid-upload the connection is up, and credit keeps the queue short: a
      // socket that does not take a chunk at once has lost its coordinator.
      auto id = client.send(control::UploadChunkRequest{g.upload_id, sent}, std::string_view(buf.data(), *n),
                            std::min(silence, kConnectionCheck));
      if (!id) return id.error().code == Errc::kUnavailable ? wentAway(file, acked, size) : id.error();
      in_flight.insert(*id);
      sent += *n;
    }
    const auto left = silence - std::chrono::duration_cast<common::Millis>(common::SteadyClock::now() - last_ack);
    if (left.count() <= 0)
      return Error(Errc::kUnavailable, "coordinator stopped answering during the upload of " + file.string() +
                                           ": no acknowledgement for " + common::formatDuration(silence) + " after " +
                                           common::formatBytes(acked) + " of " + common::formatBytes(size));
    auto msg = client.receive(std::min(left, kConnectionCheck));
    if (!msg) return msg.error();
    if (!msg->has_value()) {
      if (!client.connected()) return wentAway(file, acked, size);
      continue;
    }
    const json& m = **msg;
    auto it = in_flight.find(jsonInt(m, "req", -1));
    if (jsonString(m, "type") != control::kTypeResponse || it == in_flight.end()) continue;
    if (!m.value("ok", false)) return replyError(m);
    auto chunk = control::parseReply<control::UploadChunkReply>(m);
    if (!chunk) {
      malformed = true;
      return chunk.error();
    }
    in_flight.erase(it);
    acked = std::max<std::uint64_t>(acked, chunk->received);
    last_ack = common::SteadyClock::now();
    progress.update(acked);
  }
  return {};
}

}  // namespace

Result<UploadedArtifact> uploadArtifact(ControlClient& client, const std::filesystem::path& file,
                                        const std::string& label, std::ostream* progress, bool* malformed_reply) {
  bool ignored = false;
  bool& malformed = malformed_reply ? *malformed_reply : ignored;
  malformed = false;
  auto digest = common::digestFile(file);
  if (!digest) return digest.error().context(label);
  UploadedArtifact out{digest->digest, digest->size, false};
  auto reply = client.request(control::UploadBeginRequest{out.digest, out.size});
  if (!reply) return reply.error();
  auto begin = control::parseReply<control::UploadBeginReply>(*reply);
  if (!begin) {
    malformed = true;
    return begin.error();
  }
  if (begin->stored) {
    out.already_stored = true;
    return out;
  }
  Grant g;
  g.upload_id = begin->upload_id;
  g.chunk_bytes = static_cast<std::size_t>(std::clamp<std::uint64_t>(begin->chunk_bytes, kMinChunk, kMaxChunk));
  g.credit = static_cast<std::size_t>(std::clamp<std::uint64_t>(begin->credit, 1, kMaxCredit));
  if (g.upload_id.empty()) {
    malformed = true;
    return Error(Errc::kCorrupt, "unexpected reply from the coordinator: upload_begin gave no upload_id");
  }
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(Errc::kIo, label + ": cannot read " + file.string() + ": " + std::strerror(errno));
  Progress bar(progress, file.filename().string(), out.size);
  auto sent = sendChunks(client, fd, file, label, out.size, g, bar, malformed);
  ::close(fd);
  if (!sent.ok()) {
    bar.finish();
    return sent.error();
  }
  auto end = client.request(control::UploadEndRequest{g.upload_id});
  bar.finish();
  if (!end) return end.error();
  if (auto stored = control::parseReply<control::UploadEndReply>(*end); !stored) {
    malformed = true;
    return stored.error();
  }
  return out;
}

}  // namespace flotilla::console
