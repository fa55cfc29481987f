#include "flotilla/protocol/provenance.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace flotilla::protocol {
namespace {

using nlohmann::json;

void field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ' ';
  out += std::to_string(value.size());
  out += ' ';
  out += value;
  out += '\n';
}

Error denied(const std::string& message) { return Error(Errc::kPolicyDenied, message); }
Error garbled(const std::string& message) { return Error(Errc::kInvalidArgument, message); }

std::string quoted(const std::string& s) { return s.empty() ? "nothing" : "\"" + s + "\""; }

// The first field in which `signed_claim` and `expected` differ, as a sentence; "" when none.
std::string firstDifference(const CiClaim& signed_claim, const CiClaim& expected) {
  if (signed_claim.app != expected.app || signed_claim.version != expected.version)
    return "CI signed " + signed_claim.app + " " + signed_claim.version + ", not " + expected.app + " " +
           expected.version;
  if (signed_claim.artifact_digest != expected.artifact_digest || signed_claim.artifact_size != expected.artifact_size)
    return "the artifact differs from what CI signed (CI signed " + signed_claim.artifact_digest.substr(0, 16) + ", " +
           std::to_string(signed_claim.artifact_size) + " bytes; the rollout's artifact is " +
           expected.artifact_digest.substr(0, 16) + ", " + std::to_string(expected.artifact_size) + " bytes)";
  if (signed_claim.commit != expected.commit)
    return "change.commit differs from what CI signed (CI signed " + quoted(signed_claim.commit) + ", the plan has " +
           quoted(expected.commit) + ")";
  if (signed_claim.ref != expected.ref)
    return "change.ref differs from what CI signed (CI signed " + quoted(signed_claim.ref) + ", the plan has " +
           quoted(expected.ref) + ")";
  return "";
}

}  // namespace

std::string ciStatement(const CiClaim& claim) {
  std::string out(kCiDomain);
  out += '\n';
  field(out, "app", claim.app);
  field(out, "version", claim.version);
  field(out, "artifact_digest", claim.artifact_digest);
  field(out, "artifact_size", std::to_string(claim.artifact_size));
  field(out, "commit", claim.commit);
  field(out, "ref", claim.ref);
  return out;
}

std::string signCi(const CiClaim& claim, const common::SigningKeyPair& ci_key) {
  const auto sig = common::sign(common::asBytes(ciStatement(claim)), ci_key.secret_key);
  const json doc = {{"format", kCiDomain},
                    {"key_id", common::keyId(ci_key.public_key)},
                    {"app", claim.app},
                    {"version", claim.version},
                    {"artifact_digest", claim.artifact_digest},
                    {"artifact_size", claim.artifact_size},
                    {"commit", claim.commit},
                    {"ref", claim.ref},
                    {"signature", common::toHex(sig)}};
  return doc.dump(2) + "\n";
}

Result<CiSignature> parseCiSignature(std::string_view text) {
  if (text.size() > kMaxCiSignatureBytes)
    return garbled("is " + std::to_string(text.size()) + " bytes; a CI signature is far smaller");
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return garbled("not a CI signature file (expected a JSON object)");
  const auto str = [&](const char* key, std::string& out) -> Status {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_string()) return garbled(std::string(key) + ": expected a string");
    out = it->get<std::string>();
    return {};
  };
  std::string format, signature;
  FLOTILLA_TRY(str("format", format));
  if (format != kCiDomain)
    return garbled("format: expected \"" + std::string(kCiDomain) + "\", got \"" + format + "\"");
  CiSignature out;
  FLOTILLA_TRY(str("key_id", out.key_id));
  FLOTILLA_TRY(str("app", out.claim.app));
  FLOTILLA_TRY(str("version", out.claim.version));
  FLOTILLA_TRY(str("artifact_digest", out.claim.artifact_digest));
  FLOTILLA_TRY(str("commit", out.claim.commit));
  FLOTILLA_TRY(str("ref", out.claim.ref));
  auto size = doc.find("artifact_size");
  if (size == doc.end() || !size->is_number_unsigned()) return garbled("artifact_size: expected a byte count");
  out.claim.artifact_size = size->get<std::uint64_t>();
  FLOTILLA_TRY(str("signature", signature));
  auto raw = common::fromHex(signature, out.signature.size());
  if (!raw) return garbled("signature: expected 128 hex characters, got " + std::to_string(signature.size()));
  std::copy(raw->begin(), raw->end(), out.signature.begin());
  return out;
}

Status verifyCi(std::string_view text, const CiClaim& expected, const std::vector<common::PublicKey>& ci_keys) {
  if (text.empty())
    return denied(
        "the plan carries no CI signature (artifact.ci_signature; CI writes it with `flotilla sign PLAN "
        "--key CI.key --ci`)");
  auto parsed = parseCiSignature(text);
  if (!parsed) return denied("the CI signature is garbled: " + parsed.error().message);
  const auto key = std::find_if(ci_keys.begin(), ci_keys.end(),
                                [&](const common::PublicKey& k) { return common::keyId(k) == parsed->key_id; });
  if (key == ci_keys.end())
    return denied("the CI signature is by key " + parsed->key_id + ", which is not one of policy.provenance.ci_keys");
  if (!common::verifySignature(common::asBytes(ciStatement(parsed->claim)), parsed->signature, *key))
    return denied("the CI signature does not verify against CI key " + parsed->key_id +
                  " (forged, or edited after signing)");
  if (std::string diff = firstDifference(parsed->claim, expected); !diff.empty()) return denied(diff);
  return {};
}

}  // namespace flotilla::protocol
