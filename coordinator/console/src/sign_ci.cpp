// `flotilla sign PLAN --key CI.key --ci`: the CI signature of a plan's release
// and change (protocol/provenance.h, docs/policy.md). Offline, like `sign`.
#include <cstring>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/console/commands.h"
#include "flotilla/console/render.h"
#include "flotilla/protocol/plan.h"
#include "flotilla/protocol/provenance.h"

namespace flotilla::console {

Result<Console::SignInputs> Console::signInputs(const std::string& plan_path, const std::string& key_file,
                                                const std::string& what) {
  auto plan = protocol::parsePlanFile(plan_path);
  if (!plan) return plan.error();
  auto raw = common::readKeyFile(key_file, 64, what);
  if (!raw) return raw.error().context("--key");
  SignInputs in{std::move(*plan), {}, {}};
  std::memcpy(in.key.secret_key.data(), raw->data(), 64);
  // An Ed25519 secret key carries its public half in its last 32 bytes.
  std::memcpy(in.key.public_key.data(), raw->data() + 32, 32);
  if (in.plan.artifact_file.empty())
    return Error(Errc::kInvalidArgument, plan_path +
                                             ": artifact.file: signing needs the local copy of the artifact "
                                             "(artifact.file beside artifact.url, instead of artifact.digest)");
  auto digest = common::digestFile(in.plan.artifact_file);
  if (!digest) return digest.error().context(plan_path + ": artifact.file");
  in.artifact = *digest;
  return in;
}

int Console::signCi(const std::string& plan_path, const std::string& key_file) {
  auto in = signInputs(plan_path, key_file, "a CI key (flotilla keygen --ci)");
  if (!in) return fail(in.error(), kExitUsage);
  const protocol::Plan& plan = in->plan;
  const common::FileDigest& digest = in->artifact;
  const common::SigningKeyPair& key = in->key;
  protocol::CiClaim claim{plan.app, plan.version, digest.digest, digest.size, "", ""};
  if (plan.change) {
    claim.commit = plan.change->commit;
    claim.ref = plan.change->ref;
  }
  const std::filesystem::path out = plan.artifact_ci_signature.empty()
                                        ? std::filesystem::path(plan.artifact_file.string() + ".ci-sig")
                                        : plan.artifact_ci_signature;
  if (auto st = common::atomicWriteFile(out, protocol::signCi(claim, key), 0644); !st.ok())
    return fail(st.error(), kExitUsage);
  const std::string key_id = common::keyId(key.public_key);
  if (options_.json) {
    out_ << json{{"ci_signature_file", out.string()},
                 {"app", claim.app},
                 {"version", claim.version},
                 {"artifact_digest", claim.artifact_digest},
                 {"commit", claim.commit},
                 {"ref", claim.ref},
                 {"key_id", key_id}}
                .dump()
         << "\n";
    return kExitOk;
  }
  out_ << "CI-signed " << claim.app << " " << claim.version << " (" << claim.artifact_digest.substr(0, 16) << ", "
       << claim.artifact_size << " bytes";
  if (!claim.commit.empty()) out_ << ", commit " << claim.commit;
  if (!claim.ref.empty()) out_ << ", " << claim.ref;
  out_ << ") with CI key " << key_id << ": " << out.string() << "\n";
  if (plan.artifact_ci_signature.empty())
    out_ << "add to the plan's [artifact]: ci_signature = \"" << out.filename().string() << "\"\n";
  return kExitOk;
}

}  // namespace flotilla::console
