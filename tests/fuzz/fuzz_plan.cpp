// libFuzzer target: plan files as an operator (or a typo) writes them. A plan
// either parses into something the rest of the system can use, or is refused
// with an error that starts with the file position (plan.h's contract).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "flotilla/common/duration.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/plan.h"
#include "fuzz_support.h"

namespace {

using namespace flotilla;
using namespace flotilla::protocol;

// Above this the spec could hit the codec's unpack limits (4096 elements,
// 1 MiB strings) legitimately, so the round trip is not a property there.
constexpr std::size_t kRoundTripMaxInput = 16 * 1024;

void checkAmount(const Amount& amount) {
  FUZZ_CHECK(!amount.toString().empty());
  for (std::size_t total : {0u, 1u, 7u, 1000u}) FUZZ_CHECK(amount.resolve(total) <= total);
}

void checkPlan(const Plan& plan, std::size_t input_size) {
  FUZZ_CHECK(validAppName(plan.app));
  FUZZ_CHECK(validVersion(plan.version));
  FUZZ_CHECK(!plan.artifact_file.empty());
  FUZZ_CHECK(!plan.waves.sizes.empty());
  FUZZ_CHECK(plan.waves.max_parallel >= 1);
  for (const Amount& size : plan.waves.sizes) checkAmount(size);
  checkAmount(plan.waves.max_failed);
  checkAmount(plan.waves.max_unreachable);
  FUZZ_CHECK(plan.health.deadline >= plan.health.healthy_for);
  (void)common::formatDuration(plan.waves.bake);
  (void)common::formatDuration(plan.health.deadline);
  if (plan.change && plan.change->committed_at) (void)common::formatRfc3339(*plan.change->committed_at);

  // The coordinator ships deploy + health to every host; an agent must be able
  // to decode what any accepted plan produces.
  if (input_size <= kRoundTripMaxInput) {
    std::string spec = encodeSpec(OrderSpec{plan.deploy, plan.health});
    auto decoded = decodeSpec(spec);
    FUZZ_CHECK(decoded.ok());
    FUZZ_CHECK(encodeSpec(*decoded) == spec);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto plan = parsePlan(text, "fuzz.toml", "");
  if (!plan) {
    FUZZ_CHECK(plan.error().message.starts_with("fuzz.toml:"));
    return 0;
  }
  checkPlan(*plan, size);
  return 0;
}
