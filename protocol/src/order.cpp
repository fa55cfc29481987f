#include "flotilla/protocol/order.h"

namespace flotilla::protocol {
namespace {

std::string signedBytes(const std::string& body) {
  std::string msg(kOrderDomain);
  msg += body;
  return msg;
}

}  // namespace

const char* toString(RefusalReason r) {
  switch (r) {
    case RefusalReason::kMalformed: return "malformed";
    case RefusalReason::kUnknownKey: return "unknown_key";
    case RefusalReason::kBadSignature: return "bad_signature";
    case RefusalReason::kWrongTarget: return "wrong_target";
    case RefusalReason::kExpired: return "expired";
    case RefusalReason::kNotYetValid: return "not_yet_valid";
    case RefusalReason::kReplay: return "replay";
    case RefusalReason::kBadSpec: return "bad_spec";
  }
  return "unknown";
}

SignedOrder signOrder(OrderBody body, const std::string& spec_bytes,
                      const common::SigningKeyPair& plan_key) {
  body.key_id = common::keyId(plan_key.public_key);
  body.spec_digest = common::blake2bHex(common::asBytes(spec_bytes));
  SignedOrder out;
  out.body = encodeOrderBody(body);
  auto sig = common::sign(common::asBytes(signedBytes(out.body)), plan_key.secret_key);
  out.signature.assign(reinterpret_cast<const char*>(sig.data()), sig.size());
  out.spec = spec_bytes;
  return out;
}

Result<std::string> OrderVerifier::peekApp(const SignedOrder& order) {
  auto body = decodeOrderBody(order.body);
  if (!body) return body.error();
  return body->app;
}

OrderVerifier::Outcome OrderVerifier::verify(const SignedOrder& order, const VerifyContext& ctx) {
  Outcome out;
  auto refuse = [&](RefusalReason r, std::string msg) {
    out.ok = false;
    out.refusal = {r, std::move(msg)};
    return out;
  };
  auto body = decodeOrderBody(order.body);
  if (!body) return refuse(RefusalReason::kMalformed, body.error().message);
  const auto& b = *body;
  if (b.key_id != common::keyId(ctx.plan_key))
    return refuse(RefusalReason::kUnknownKey,
                  "signed by key " + b.key_id + ", but this agent trusts plan key " +
                      common::keyId(ctx.plan_key));
  common::Signature sig{};
  if (order.signature.size() != sig.size()) return refuse(RefusalReason::kBadSignature, "signature has the wrong length");
  std::copy(order.signature.begin(), order.signature.end(), sig.begin());
  if (!common::verifySignature(common::asBytes(signedBytes(order.body)), sig, ctx.plan_key))
    return refuse(RefusalReason::kBadSignature, "signature does not verify against the pinned plan key");
  if (b.target != ctx.agent_id)
    return refuse(RefusalReason::kWrongTarget, "order is for agent '" + b.target + "', this is '" + ctx.agent_id + "'");
  if (ctx.now_unix_s > b.expires_at + ctx.clock_skew_s)
    return refuse(RefusalReason::kExpired, "order expired at unix " + std::to_string(b.expires_at) +
                                               ", now " + std::to_string(ctx.now_unix_s));
  if (ctx.now_unix_s < b.issued_at - ctx.clock_skew_s)
    return refuse(RefusalReason::kNotYetValid, "order issued in the future (unix " + std::to_string(b.issued_at) +
                                                   "); check the clocks");
  if (b.sequence <= ctx.highest_sequence)
    return refuse(RefusalReason::kReplay, "sequence " + std::to_string(b.sequence) + " for app '" + b.app +
                                              "' is not above the highest accepted, " +
                                              std::to_string(ctx.highest_sequence));
  if (common::blake2bHex(common::asBytes(order.spec)) != b.spec_digest)
    return refuse(RefusalReason::kBadSpec, "spec does not match the signed digest");
  auto spec = decodeSpec(order.spec);
  if (!spec) return refuse(RefusalReason::kBadSpec, spec.error().message);
  out.ok = true;
  out.order = VerifiedOrder{b, std::move(*spec)};
  return out;
}

}  // namespace flotilla::protocol
