#pragma once
// Who an operator is, as the control socket authenticated them, never as the
// console claims: the ZAP handler (server.cpp) names every control peer by one
// of these identities, and the policy gates (approvals, break-glass) compare
// them.
//  - "operator:KEYID": a CURVE operator key on a tcp:// control endpoint
//    (KEYID is common::keyId of the key, 16 hex characters);
//  - "user:NAME": the Unix user of the process at the other end of the
//    ipc:// control socket, from the kernel (SO_PEERCRED, which libzmq
//    appends to the peer address of a ZAP request as ":UID:GID:PID");
//    "uid:N" when the user has no name.
//
// Pure functions (identityOfUid reads the user database): any thread.

#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"

namespace flotilla::coordinator {

inline constexpr std::string_view kOperatorPrefix = "operator:";
inline constexpr std::string_view kUserPrefix = "user:";

std::string identityOfKey(const common::PublicKey& key);
std::string identityOfUid(uid_t uid);

// The peer's uid from a ZAP request's address frame on an ipc:// socket
// ("localhost:UID:GID:PID"); nullopt when the frame does not carry one.
std::optional<uid_t> peerUidFromZapAddress(std::string_view address);

// An identity as written in coordinator.toml (policy.approvals.approvers,
// policy.break_glass.operators): a key id (16 hex), an operator public key
// (64 hex), "operator:KEYID", or "user:NAME". Returns the canonical form.
Result<std::string> parseIdentity(std::string_view written);

}  // namespace flotilla::coordinator
