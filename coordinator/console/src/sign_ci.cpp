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

int Console::signCi(const std::string& plan_path, const std::string& key_file) {
  auto plan = protocol::parsePlanFile(plan_path);
  if (!plan) return fail(plan.error(), kExitUsage);
  auto raw = common::readKeyFile(key_file, 64, "a CI key (flotilla keygen --ci)");
  if (!raw) return fail(raw.error().context("--key"), kExitUsage);
  common::SigningKeyPair key;
  std::memcpy(key.secret_key.data(), raw->data(), 64);
  std::memcpy(key.public_key.data(), raw->data() + 32, 32);
  auto digest = common::digestFile(plan->artifact_file);
  if (!digest) return fail(digest.error().context(plan_path + ": artifact.file"), kExitUsage);
  protocol::CiClaim claim{plan->app, plan->version, digest->digest, digest->size, "", ""};
  if (plan->change) {
    claim.commit = plan->change->commit;
    claim.ref = plan->change->ref;
  }
  const std::filesystem::path out = plan->artifact_ci_signature.empty()
                                        ? std::filesystem::path(plan->artifact_file.string() + ".ci-sig")
                                        : plan->artifact_ci_signature;
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
  if (plan->artifact_ci_signature.empty())
    out_ << "add to the plan's [artifact]: ci_signature = \"" << out.filename().string() << "\"\n";
  return kExitOk;
}

}  // namespace flotilla::console
