#pragma once
// ProvenanceGate: the [policy.provenance] gate (docs/policy.md). With CI keys
// configured, a rollout starts only when its plan carries a CI signature
// (protocol/provenance.h) by one of them over exactly this app, version,
// artifact (the digest and size the coordinator stored) and [change] commit
// and ref. Without keys the gate is open. Immutable after construction; the
// reactor thread calls it from the rollout handler, before anything starts.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::coordinator {

class ProvenanceGate {
 public:
  explicit ProvenanceGate(std::vector<common::PublicKey> ci_keys = {}) : ci_keys_(std::move(ci_keys)) {}

  bool enabled() const { return !ci_keys_.empty(); }

  // OK when the gate is open or `ci_signature` (the file's text; "" = none) is
  // CI's for this plan and artifact; otherwise a policy_denied error, "policy
  // provenance: <plan name>: <what is wrong>".
  Status check(const protocol::Plan& plan, const std::string& plan_name, const std::string& artifact_digest,
               std::uint64_t artifact_size, std::string_view ci_signature) const;

 private:
  std::vector<common::PublicKey> ci_keys_;
};

}  // namespace flotilla::coordinator
