// toml++'s parser compiled into fuzz_plan, so libFuzzer sees its coverage and
// ASan its memory accesses; the system libtomlplusplus.so is not instrumented.
// These definitions take precedence over the shared library's.
//
// The system library is a release build whose internal asserts compile to
// nothing; so do these. Left on, they stop the fuzzer at a known debug-only
// assertion in toml++ 3.3.0 (parse_key() reached from a malformed table header
// such as "[\0]" or "[[[1]]]"; fixed upstream in marzer/tomlplusplus#301),
// where the release library returns a parse_error. Memory errors behind a
// silenced assert are still ASan's to find.
//
// For the same reason tests/fuzz/CMakeLists.txt compiles this file without
// UBSan's `unreachable` check: toml++ 3.3.0 reaches TOML_UNREACHABLE in
// is_non_ascii_horizontal_whitespace() for some non-ASCII characters after a
// value (e.g. "a = 1\xc6\x9c"; marzer/tomlplusplus#190, #295, fixed upstream
// by #305). That is undefined behaviour in the system library too, where it
// happens to yield the right parse_error; flagging it on every run would stop
// the fuzzer long before it reaches Flotilla's own code.
#define TOML_ASSERT(expr) static_cast<void>(0)
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
