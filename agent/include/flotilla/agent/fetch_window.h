#pragma once
// One artifact download from the coordinator with credit-based flow control
// (the ZeroMQ guide's fileio3): the agent asks for `credit` chunks from an
// offset and never has more than kFetchWindowChunks in flight, topping the
// window up once half of it has landed. It counts bytes and checks that every
// chunk fits the transfer; where the bytes go (a file, a hash) is the owner's.
// Requests in flight die with a connection: after a new session the owner
// rewinds, and the window asks again from the first byte it lacks.
//
// Pure: no sockets, files or clocks; the deadline is only carried. Owned by
// one Session, on its owner's thread.

#include <cstdint>
#include <optional>
#include <string>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::agent {

// Chunks of protocol::kChunkBytes (256 KiB) in flight at most: 2 MiB.
inline constexpr std::uint32_t kFetchWindowChunks = 8;

class FetchWindow {
 public:
  FetchWindow(std::string digest, std::uint64_t size, common::SteadyTime deadline)
      : digest_(std::move(digest)), size_(size), deadline_(deadline) {}

  // The next request to send, if the window has room for one. An empty
  // artifact is asked for once, so its (empty) chunk still comes back.
  std::optional<protocol::Fetch> nextRequest();
  // Forgets the requests in flight (their answers were lost with the
  // connection), so nextRequest() asks from the first byte not yet received.
  void rewind() { requested_ = received_; }

  enum class Fit : std::uint8_t {
    kStale,     // another download's chunk (an abandoned one, arriving late), or bytes
                // already received (a request answered twice across a rewind): ignore it
    kMore,      // counted in; more are due
    kComplete,  // counted in; that was the last byte
  };
  // Counts `c` in, or says why it does not fit this transfer (kCorrupt).
  Result<Fit> accept(const protocol::Chunk& c);

  const std::string& digest() const { return digest_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t received() const { return received_; }
  common::SteadyTime deadline() const { return deadline_; }

 private:
  std::string digest_;
  std::uint64_t size_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t requested_ = 0;  // bytes asked for so far
  common::SteadyTime deadline_{};
};

}  // namespace flotilla::agent
