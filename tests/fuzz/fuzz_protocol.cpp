// libFuzzer target: untrusted bytes as they arrive on the agent and coordinator
// sockets. Every decoder sees every input (a frame, a bare order body, a bare
// spec); whatever decodes must survive a round trip, and every decoded order
// goes through OrderVerifier: as received (its signature rarely holds after
// mutation), then re-signed with the fixed plan key, so the checks behind the
// signature (target, validity window, sequence, spec, release signature) are
// reached too, once by an agent without release keys and once by one with.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "flotilla/common/crypto.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"
#include "fuzz_support.h"

namespace {

using namespace flotilla;
using namespace flotilla::protocol;

const common::SigningKeyPair& planKey() {
  static const common::SigningKeyPair key = fuzz::fixedPlanKey();
  return key;
}
const common::SigningKeyPair& releaseKey() {
  static const common::SigningKeyPair key = fuzz::fixedReleaseKey();
  return key;
}

// decode(encode(m)) must give m back; compared through a second encoding
// because the message structs have no operator==.
template <typename Message, typename Decode>
void checkRoundTrip(const Message& decoded, Decode decode) {
  std::string first = std::visit([](const auto& m) { return encode(m); }, decoded);
  auto again = decode(first);
  FUZZ_CHECK(again.ok());
  std::string second = std::visit([](const auto& m) { return encode(m); }, *again);
  FUZZ_CHECK(first == second);
}

void checkOutcome(const OrderVerifier::Outcome& out, const VerifyContext& ctx) {
  if (!out.ok) {
    FUZZ_CHECK(!out.refusal.message.empty());
    return;
  }
  FUZZ_CHECK(out.order.body.target == ctx.agent_id);
  FUZZ_CHECK(out.order.body.sequence > ctx.highest_sequence);
}

void verifyOrder(const SignedOrder& order) {
  const VerifyContext ctx = fuzz::verifyContext(planKey().public_key);
  const VerifyContext strict = fuzz::verifyContext(planKey().public_key, &releaseKey().public_key);
  (void)OrderVerifier::peekApp(order);
  checkOutcome(OrderVerifier::verify(order, ctx), ctx);

  auto body = decodeOrderBody(order.body);
  if (!body) return;
  SignedOrder resigned = signOrder(*body, order.spec, planKey());
  for (const VerifyContext* c : {&ctx, &strict}) {
    auto out = OrderVerifier::verify(resigned, *c);
    checkOutcome(out, *c);
    // Correctly signed by the trusted key over a body that decoded: only the
    // checks behind the signature may refuse it.
    if (!out.ok) {
      FUZZ_CHECK(out.refusal.reason != RefusalReason::kMalformed);
      FUZZ_CHECK(out.refusal.reason != RefusalReason::kUnknownKey);
      FUZZ_CHECK(out.refusal.reason != RefusalReason::kBadSignature);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  FUZZ_CHECK(common::initCrypto().ok());
  (void)planKey();
  (void)releaseKey();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  if (auto m = decodeAgentMessage(bytes)) {
    checkRoundTrip(*m, decodeAgentMessage);
  }

  if (auto m = decodeCoordinatorMessage(bytes)) {
    checkRoundTrip(*m, decodeCoordinatorMessage);
    if (const auto* order = std::get_if<SignedOrder>(&*m)) verifyOrder(*order);
  }

  if (auto body = decodeOrderBody(bytes)) {
    std::string first = encodeOrderBody(*body);
    auto again = decodeOrderBody(first);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(encodeOrderBody(*again) == first);
  }

  if (auto spec = decodeSpec(bytes)) {
    std::string first = encodeSpec(*spec);
    auto again = decodeSpec(first);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(encodeSpec(*again) == first);
  }
  return 0;
}
