#pragma once
// Streams an artifact file to the coordinator with the control commands
// upload_begin, upload_chunk and upload_end (docs/protocol.md), in constant
// memory: the file is read twice, once to hash it (BLAKE2b-256, which
// upload_begin announces) and once to send it chunk by chunk, never holding
// more than the chunks the coordinator's credit allows in flight.
//
// An artifact the coordinator already stores is not sent. A coordinator that
// acknowledges nothing for the client's timeout is reported as having stopped
// answering mid-upload (kUnavailable), with how far the upload got.
//
// Single-threaded, on the console's ControlClient.

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>

#include "flotilla/common/result.h"
#include "flotilla/console/client.h"

namespace flotilla::console {

struct UploadedArtifact {
  std::string digest;  // hex BLAKE2b-256
  std::uint64_t size = 0;
  bool already_stored = false;  // nothing was sent
};

// `label` prefixes errors about the local file ("plan.toml: artifact.file").
// `progress`: where a progress line is redrawn (a terminal), or null.
// A reply that does not have its struct's shape (protocol/control.h) is
// kCorrupt naming the field, and sets *malformed_reply when given: the
// coordinator broke the protocol, unlike a refusal it sends as "corrupt".
Result<UploadedArtifact> uploadArtifact(ControlClient& client, const std::filesystem::path& file,
                                        const std::string& label, std::ostream* progress,
                                        bool* malformed_reply = nullptr);

}  // namespace flotilla::console
