// libFuzzer target: the agent's journal.json as it may be found after a crash,
// a full disk or a hand edit. Parsing gives a state or an error; a state must
// serialize into a journal that parses back to the same state.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "flotilla/agent/journal.h"
#include "fuzz_support.h"

using flotilla::agent::Journal;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto state = Journal::parse(text);
  if (!state) {
    FUZZ_CHECK(!state.error().message.empty());
    return 0;
  }
  std::string first = Journal::serialize(*state);
  auto again = Journal::parse(first);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(Journal::serialize(*again) == first);
  return 0;
}
