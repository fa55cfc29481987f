#pragma once
// Signing orders (coordinator) and verifying them (agent). Pure functions of
// their inputs: the caller supplies the time and the highest accepted sequence.

#include <cstdint>
#include <string>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/messages.h"

namespace flotilla::protocol {

// Signs `body` (its key_id and spec_digest are filled in here) together with
// the spec bytes it commits to.
SignedOrder signOrder(OrderBody body, const std::string& spec_bytes, const common::SigningKeyPair& plan_key);

// Why an order was refused (RefusalReason is in words.h); the reason's string
// form goes into reports and events.
struct OrderRefusal {
  RefusalReason reason;
  std::string message;
};

struct VerifiedOrder {
  OrderBody body;
  OrderSpec spec;
};

struct VerifyContext {
  common::PublicKey plan_key{};
  std::string agent_id;
  std::int64_t now_unix_s = 0;
  std::int64_t clock_skew_s = 300;     // tolerated difference between host and coordinator clocks
  std::uint64_t highest_sequence = 0;  // for the order's app; 0 = none accepted yet
  // The highest leadership epoch this agent has seen (docs/ha.md): an order
  // signed in a lower one comes from a coordinator that no longer leads.
  std::uint64_t highest_epoch = 0;
  // Offline release keys; when not empty, every artifact must carry a release
  // signature by one of them (a compromised coordinator cannot ship code).
  std::vector<common::PublicKey> release_keys;
};

// Signs the release statement of an artifact with an offline release key; hex.
std::string signRelease(const std::string& app, const std::string& version, const std::string& digest,
                        std::uint64_t size, const common::SigningKeyPair& release_key);
bool verifyRelease(const OrderBody& body, const std::vector<common::PublicKey>& release_keys);

// A rotation statement from the current plan key to `next`.
Rotation makeRotation(const common::SigningKeyPair& current, const common::PublicKey& next, std::int64_t issued_at);
// True when `r` hands `pinned` over to another key and `pinned` signed it.
bool verifyRotation(const Rotation& r, const common::PublicKey& pinned);

// Checks, in this order, and stops at the first that fails: the body decodes
// (kMalformed), its key id is the pinned plan key's (kUnknownKey), the
// signature over kOrderDomain+body verifies (kBadSignature), the target is this
// agent (kWrongTarget), its epoch is not below ctx.highest_epoch (kStaleEpoch), now <= expires_at + skew (kExpired),
// now >= issued_at - skew (kNotYetValid), the sequence is above ctx.highest_sequence (kReplay), the spec bytes match
// the signed digest and decode (kBadSpec), and, when ctx.release_keys is not empty and the order names an artifact, a
// release key signed it (kUnsignedRelease). verify() returns an Outcome, not a Result: on refusal `ok` is false and
// `refusal` holds the reason and a message; when `ok` is true, `order` holds the verified body and its decoded spec.
class OrderVerifier {
 public:
  struct Outcome {
    bool ok = false;
    VerifiedOrder order;
    OrderRefusal refusal{RefusalReason::kMalformed, ""};
  };
  // The app is needed before verification to look up the sequence; peekApp
  // decodes the (still unverified) body just for that.
  static Result<std::string> peekApp(const SignedOrder& order);
  static Outcome verify(const SignedOrder& order, const VerifyContext& ctx);
};

}  // namespace flotilla::protocol
