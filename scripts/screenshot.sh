#!/usr/bin/env bash
# Regenerates docs/img/dashboard-rollout.png, the README's picture of the
# dashboard's rollout view: it runs the browser test (tests/browser), which
# starts a seeded fleet, and keeps its screenshot of the rollout in progress.
# The other screenshots stay in BUILD/tests/browser-screenshots/.
#
# Usage: scripts/screenshot.sh [BUILD_DIR]   (default build/dev; built first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build/dev}
scripts/bootstrap.sh
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFLOTILLA_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target flotilla flotilla-agent flotilla-coordinator
node tests/browser/dashboard.test.js "$build" --docs-screenshot
echo "screenshot: docs/img/dashboard-rollout.png"
