#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for SECONDS
# on a scratch copy of its seed corpus, then replays every saved reproducer in
# tests/fuzz/regressions/<name>/. The committed corpus is never written to.
# Usage: scripts/fuzz.sh [SECONDS]     (per target, default 20)
# Exits 1 if any target crashes, leaks, times out or a reproducer still fails;
# 2 on bad usage or a missing clang/libFuzzer.
# Environment: FLOTILLA_FUZZ_BUILD (default build/fuzz), FLOTILLA_FUZZ_JOBS
# (default 2), FLOTILLA_FUZZ_CXX (default clang++-14, else clang++).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=${1:-20}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS]  (seconds per target, a positive integer)" >&2
  exit 2
fi

scripts/bootstrap.sh

# bootstrap.sh does not install clang or the libFuzzer runtime; say so plainly
# instead of failing somewhere inside CMake.
cxx=${FLOTILLA_FUZZ_CXX:-}
if [ -z "$cxx" ]; then
  for candidate in clang++-14 clang++; do
    if command -v "$candidate" >/dev/null 2>&1; then cxx=$candidate; break; fi
  done
fi
if [ -z "$cxx" ] || ! command -v "$cxx" >/dev/null 2>&1; then
  echo "fuzz: ${cxx:-clang++} not found. Fuzzing needs clang and its libFuzzer runtime:" >&2
  echo "  sudo apt-get install clang-14 libclang-rt-14-dev" >&2
  exit 2
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
  >"$probe/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" -o "$probe/probe" \
  >"$probe/log" 2>&1; then
  echo "fuzz: $cxx cannot link a libFuzzer target with ASan/UBSan:" >&2
  sed 's/^/  /' "$probe/log" >&2
  echo "  fuzzing needs clang with its libFuzzer runtime:" >&2
  echo "  sudo apt-get install clang-14 libclang-rt-14-dev" >&2
  exit 2
fi

build=${FLOTILLA_FUZZ_BUILD:-build/fuzz}
jobs=${FLOTILLA_FUZZ_JOBS:-2}
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
# Debug keeps assert() (Result::value() checks ok()); -O1 with line tables is
# libFuzzer's usual trade of speed for readable stacks and quick builds.
cmake -S . -B "$build" "${generator[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" \
  -DFLOTILLA_FUZZ=ON -DFLOTILLA_SANITIZE=ON -DFLOTILLA_TESTS=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target flotilla_fuzzers

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

bin="$build/tests/fuzz"
fuzz_dir=tests/fuzz
run="$build/run"
rm -rf "$run"
mkdir -p "$run"
# Fresh seeds from today's encoders join the committed ones in the scratch copy.
"$bin/make_corpus" "$run/generated"

failed=()
for name in protocol plan journal prom flags; do
  target="$bin/fuzz_$name"
  work="$run/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -R "$fuzz_dir/corpus/$name/." "$work/corpus/"
  if [ -d "$run/generated/$name" ]; then cp -R "$run/generated/$name/." "$work/corpus/"; fi
  dict=()
  if [ -f "$fuzz_dir/$name.dict" ]; then dict=(-dict="$fuzz_dir/$name.dict"); fi
  common=(-timeout=5 -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/")

  echo "fuzz: fuzz_$name for ${seconds}s (log: $work/fuzz.log)"
  status=0
  "$target" "${common[@]}" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    "$work/corpus" >"$work/fuzz.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log")
  if [ "$status" -ne 0 ]; then
    echo "fuzz: fuzz_$name FAILED (exit $status); the end of its log:" >&2
    { grep -v '^#[0-9]' "$work/fuzz.log" || true; } | tail -n 60 >&2
    echo "fuzz: reproduce with: $target $work/artifacts/<file>" >&2
    failed+=("fuzz_$name")
  else
    echo "fuzz: fuzz_$name ok: ${execs:-?} runs, ${rate:-?} exec/s"
  fi

  regressions=()
  if [ -d "$fuzz_dir/regressions/$name" ]; then
    while IFS= read -r -d '' file; do regressions+=("$file"); done \
      < <(find "$fuzz_dir/regressions/$name" -type f ! -name '*.md' -print0 | sort -z)
  fi
  if [ ${#regressions[@]} -gt 0 ]; then
    status=0
    "$target" "${common[@]}" "${regressions[@]}" >"$work/regressions.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
      echo "fuzz: fuzz_$name: a reproducer in $fuzz_dir/regressions/$name still fails:" >&2
      { grep -v '^#[0-9]' "$work/regressions.log" || true; } | tail -n 60 >&2
      failed+=("fuzz_$name (regressions)")
    else
      echo "fuzz: fuzz_$name: ${#regressions[@]} reproducer(s) pass"
    fi
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets ok"
