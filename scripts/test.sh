#!/usr/bin/env bash
# Installs what is missing, builds with AddressSanitizer and UBSan, and runs
# every test through ctest. Usage: scripts/test.sh [ctest args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/bootstrap.sh

build=${FLOTILLA_TEST_BUILD:-build/test}
# ccache, where a developer has it, makes rebuilds across worktrees cheap; CI does without.
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFLOTILLA_SANITIZE=ON -DFLOTILLA_TESTS=ON -DFLOTILLA_CRASH_POINTS=ON \
  "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"

# Fuzz the decoders, the plan parser and the journal parser for a bounded time
# (FLOTILLA_FUZZ_SECONDS per target; 0 skips), before ctest so its summary is last.
fuzz_seconds=${FLOTILLA_FUZZ_SECONDS:-15}
if [ "$fuzz_seconds" -gt 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds"
fi

# The package test (tests/package) installs Debian packages built from a Release build, which
# it reuses: build it now, not inside ctest beside timing-sensitive tests. Only where the test
# can run (root, dpkg); elsewhere ctest reports it skipped.
if [ "$(id -u)" -eq 0 ] && command -v dpkg-deb >/dev/null 2>&1; then
  scripts/package.sh --out "$build/packages"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure -j"$(nproc)" "$@"
