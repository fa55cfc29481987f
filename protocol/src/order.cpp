#include "flotilla/protocol/order.h"

#include "flotilla/protocol/artifact_source.h"

#include <cstring>
#include <limits>

namespace flotilla::protocol {
namespace {

std::string signedBytes(const std::string& body) {
  std::string msg(kOrderDomain);
  msg += body;
  return msg;
}

}  // namespace

SignedOrder signOrder(OrderBody body, const std::string& spec_bytes, const common::SigningKeyPair& plan_key) {
  body.key_id = common::keyId(plan_key.public_key);
  body.spec_digest = common::blake2bHex(common::asBytes(spec_bytes));
  SignedOrder out;
  out.body = encodeOrderBody(body);
  auto sig = common::sign(common::asBytes(signedBytes(out.body)), plan_key.secret_key);
  out.signature.assign(reinterpret_cast<const char*>(sig.data()), sig.size());
  out.spec = spec_bytes;
  return out;
}

std::string signRelease(const std::string& app, const std::string& version, const std::string& digest,
                        std::uint64_t size, const common::SigningKeyPair& release_key) {
  auto sig = common::sign(common::asBytes(releaseStatement(app, version, digest, size)), release_key.secret_key);
  return common::toHex(sig);
}

bool verifyRelease(const OrderBody& body, const std::vector<common::PublicKey>& release_keys) {
  auto raw = common::fromHex(body.release_signature, 64);
  if (!raw) return false;
  common::Signature sig{};
  std::copy(raw->begin(), raw->end(), sig.begin());
  // A SHA-256 digest is signed with its prefix: a statement never leaves the algorithm to be guessed.
  const std::string digest = body.artifact_digest_algorithm == common::DigestAlgorithm::kSha256
                                 ? prefixedDigest({body.artifact_digest_algorithm, body.artifact_digest})
                                 : body.artifact_digest;
  const std::string statement = releaseStatement(body.app, body.version, digest, body.artifact_size);
  for (const auto& k : release_keys)
    if (common::verifySignature(common::asBytes(statement), sig, k)) return true;
  return false;
}

Rotation makeRotation(const common::SigningKeyPair& current, const common::PublicKey& next, std::int64_t issued_at) {
  Rotation r;
  r.old_key.assign(reinterpret_cast<const char*>(current.public_key.data()), 32);
  r.new_key.assign(reinterpret_cast<const char*>(next.data()), 32);
  r.issued_at = issued_at;
  auto sig = common::sign(common::asBytes(rotationStatement(r)), current.secret_key);
  r.signature.assign(reinterpret_cast<const char*>(sig.data()), sig.size());
  return r;
}

bool verifyRotation(const Rotation& r, const common::PublicKey& pinned) {
  if (r.old_key.size() != 32 || r.new_key.size() != 32 || r.signature.size() != 64) return false;
  if (std::memcmp(r.old_key.data(), pinned.data(), 32) != 0 || r.old_key == r.new_key) return false;
  common::Signature sig{};
  std::memcpy(sig.data(), r.signature.data(), 64);
  return common::verifySignature(common::asBytes(rotationStatement(r)), sig, pinned);
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
                  "signed by key " + b.key_id + ", but this agent trusts plan key " + common::keyId(ctx.plan_key));
  common::Signature sig{};
  if (order.signature.size() != sig.size())
    return refuse(RefusalReason::kBadSignature, "signature has the wrong length");
  std::copy(order.signature.begin(), order.signature.end(), sig.begin());
  if (!common::verifySignature(common::asBytes(signedBytes(order.body)), sig, ctx.plan_key))
    return refuse(RefusalReason::kBadSignature, "signature does not verify against the pinned plan key");
  if (b.target != ctx.agent_id)
    return refuse(RefusalReason::kWrongTarget, "order is for agent '" + b.target + "', this is '" + ctx.agent_id + "'");
  if (b.epoch < ctx.highest_epoch)
    return refuse(RefusalReason::kStaleEpoch, "signed in leadership epoch " + std::to_string(b.epoch) +
                                                  ", below epoch " + std::to_string(ctx.highest_epoch) +
                                                  " already seen: that coordinator no longer leads");
  // Compare without overflow: a signed order may carry any int64 times.
  auto addSat = [](std::int64_t a, std::int64_t d) {
    if (d > 0 && a > std::numeric_limits<std::int64_t>::max() - d) return std::numeric_limits<std::int64_t>::max();
    if (d < 0 && a < std::numeric_limits<std::int64_t>::min() - d) return std::numeric_limits<std::int64_t>::min();
    return a + d;
  };
  if (ctx.now_unix_s > addSat(b.expires_at, ctx.clock_skew_s))
    return refuse(RefusalReason::kExpired,
                  "order expired at unix " + std::to_string(b.expires_at) + ", now " + std::to_string(ctx.now_unix_s));
  if (ctx.now_unix_s < addSat(b.issued_at, -ctx.clock_skew_s))
    return refuse(RefusalReason::kNotYetValid,
                  "order issued in the future (unix " + std::to_string(b.issued_at) + "); check the clocks");
  if (b.sequence <= ctx.highest_sequence)
    return refuse(RefusalReason::kReplay, "sequence " + std::to_string(b.sequence) + " for app '" + b.app +
                                              "' is not above the highest accepted, " +
                                              std::to_string(ctx.highest_sequence));
  if (common::blake2bHex(common::asBytes(order.spec)) != b.spec_digest)
    return refuse(RefusalReason::kBadSpec, "spec does not match the signed digest");
  auto spec = decodeSpec(order.spec);
  if (!spec) return refuse(RefusalReason::kBadSpec, spec.error().message);
  // A rollback to a release already on disk names no artifact: it was checked
  // when it was installed.
  if (!ctx.release_keys.empty() && !b.artifact_digest.empty() && !verifyRelease(b, ctx.release_keys))
    return refuse(RefusalReason::kUnsignedRelease,
                  b.release_signature.empty() ? "this agent requires a release signature and the order carries none"
                                              : "the release signature matches none of this agent's release keys");
  out.ok = true;
  out.order = VerifiedOrder{b, std::move(*spec)};
  return out;
}

}  // namespace flotilla::protocol
