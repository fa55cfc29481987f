// libFuzzer target: flag sets (flagd flag definitions) as a flag rollout could carry them, then
// every flag evaluated for a few contexts. A document is either refused with an error naming
// where it is wrong, or every evaluation ends in a consistent resolution, within the work bounds.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "flotilla/flags/evaluator.h"
#include "flotilla/flags/flag_set.h"
#include "fuzz_support.h"

namespace {

using namespace flotilla::flags;

const Json& contexts() {
  static const Json kContexts = Json::array({
      Json::object(),
      Json{{"targetingKey", "user-1"}, {"email", "ada@example.com"}, {"age", 36}, {"version", "1.2.3"}},
      Json{{"targetingKey", 7}, {"email", nullptr}, {"tags", {"a", 1, nullptr}}, {"user", {{"plan", "pro"}}}},
  });
  return kContexts;
}

void checkResolution(const Resolution& r) {
  FUZZ_CHECK(r.value.has_value() == r.variant.has_value());
  FUZZ_CHECK((r.reason == Reason::kError) == (r.errorCode != ErrorCode::kNone));
  FUZZ_CHECK(r.reason != Reason::kError || !r.errorMessage.empty());
  FUZZ_CHECK(r.metadata.is_object());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto set = FlagSet::parse(text);
  if (!set) {
    FUZZ_CHECK(!set.error().message.empty());
    return 0;
  }
  for (const auto& [key, flag] : set->flags()) {
    FUZZ_CHECK(flag.variants.is_object() && !flag.variants.empty());
    FUZZ_CHECK(!flag.defaultVariant || flag.variants.contains(*flag.defaultVariant));
    for (const Json& context : contexts())
      for (ValueType type : {ValueType::kAny, ValueType::kBoolean, ValueType::kObject})
        checkResolution(evaluateFlag(*set, EvaluationRequest{key, type, &context, 1'800'000'000}));
  }
  return 0;
}
