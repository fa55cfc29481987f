#include "flotilla/coordinator/provenance_gate.h"

#include "flotilla/protocol/provenance.h"

namespace flotilla::coordinator {

Status ProvenanceGate::check(const protocol::Plan& plan, const std::string& plan_name,
                             const std::string& artifact_digest, std::uint64_t artifact_size,
                             std::string_view ci_signature) const {
  if (!enabled()) return {};
  protocol::CiClaim expected{plan.app, plan.version, artifact_digest, artifact_size, "", ""};
  if (plan.change) {
    expected.commit = plan.change->commit;
    expected.ref = plan.change->ref;
  }
  Status st = protocol::verifyCi(ci_signature, expected, ci_keys_);
  if (!st) return Error(Errc::kPolicyDenied, "policy provenance: " + plan_name + ": " + st.error().message);
  return {};
}

}  // namespace flotilla::coordinator
