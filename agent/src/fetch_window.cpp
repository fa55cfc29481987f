#include "flotilla/agent/fetch_window.h"

#include <algorithm>

namespace flotilla::agent {

std::optional<protocol::Fetch> FetchWindow::nextRequest() {
  constexpr std::uint64_t kWindowBytes = std::uint64_t{kFetchWindowChunks} * protocol::kChunkBytes;
  if (size_ == 0) {
    if (requested_ > 0) return std::nullopt;
    requested_ = 1;
    return protocol::Fetch{digest_, 0, 1};
  }
  if (requested_ >= size_) return std::nullopt;
  const std::uint64_t in_flight = requested_ - received_;
  if (in_flight > kWindowBytes / 2) return std::nullopt;
  const std::uint64_t bytes = std::min<std::uint64_t>(kWindowBytes - in_flight, size_ - requested_);
  const auto credit = static_cast<std::uint32_t>((bytes + protocol::kChunkBytes - 1) / protocol::kChunkBytes);
  if (credit == 0) return std::nullopt;
  protocol::Fetch f{digest_, requested_, credit};
  requested_ = std::min<std::uint64_t>(size_, requested_ + std::uint64_t{credit} * protocol::kChunkBytes);
  return f;
}

Result<FetchWindow::Fit> FetchWindow::accept(const protocol::Chunk& c) {
  if (c.digest != digest_) return Fit::kStale;
  if (c.total != size_)
    return Error(Errc::kCorrupt,
                 "coordinator reports " + std::to_string(c.total) + " bytes, the order says " + std::to_string(size_));
  if (c.offset < received_ && c.data.size() <= received_ - c.offset) return Fit::kStale;
  if (c.offset != received_)
    return Error(Errc::kCorrupt,
                 "chunk at offset " + std::to_string(c.offset) + ", expected " + std::to_string(received_));
  if (c.data.size() > size_ - received_)
    return Error(Errc::kCorrupt, "coordinator sent more bytes than the order's length");
  received_ += c.data.size();
  return received_ == size_ ? Fit::kComplete : Fit::kMore;
}

}  // namespace flotilla::agent
