#!/usr/bin/env bash
# Builds the Debian packages with CPack from a Release build (docs/install.md):
#   flotilla-agent_VERSION_ARCH.deb        the agent
#   flotilla-coordinator_VERSION_ARCH.deb  the coordinator and the console, flotilla
# Usage: scripts/package.sh [--version X.Y.Z] [--build-dir DIR] [--out DIR]
#   --version    package version (default: $FLOTILLA_PACKAGE_VERSION, else the
#                CMake project version); the Debian revision -1 is appended
#   --build-dir  the Release build, reused between runs (default: build/package,
#                or $FLOTILLA_PACKAGE_BUILD)
#   --out        where the .deb files go (default: build/packages)
# Compiler and linker flags come from dpkg-buildflags (Debian's hardening, no -g).
# When lintian is installed it checks both packages; an error fails the script.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
version=${FLOTILLA_PACKAGE_VERSION:-}
build=${FLOTILLA_PACKAGE_BUILD:-build/package}
out=build/packages
while [ $# -gt 0 ]; do
  case $1 in
    --version) [ $# -ge 2 ] || usage; version=$2; shift ;;
    --build-dir) [ $# -ge 2 ] || usage; build=$2; shift ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift ;;
    -h | --help) usage ;;
    *) echo "package.sh: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
if [ -n "$version" ] && ! [[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
  echo "package.sh: --version '$version': a Debian upstream version starts with a digit and holds only A-Za-z0-9.+~" >&2
  exit 2
fi

scripts/bootstrap.sh

launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
# Without -g: the packages ship stripped programs and no debug symbols package.
cxxflags=$(echo "$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CXXFLAGS)" | sed 's/\(^\| \)-g\( \|$\)/ /g')
ldflags=$(dpkg-buildflags --get LDFLAGS)
# An empty FLOTILLA_PACKAGE_VERSION means the project's version (packaging/debian.cmake).
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLOTILLA_TESTS=OFF \
  -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" \
  -DFLOTILLA_PACKAGE_VERSION="$version" "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target flotilla-agent flotilla-coordinator flotilla

rm -f "$build"/flotilla-agent_*.deb "$build"/flotilla-coordinator_*.deb
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || {
  cat "$build/cpack.log" >&2
  exit 1
}
mkdir -p "$out"
debs=()
for deb in "$build"/flotilla-agent_*.deb "$build"/flotilla-coordinator_*.deb; do
  mv -f "$deb" "$out/"
  debs+=("$out/$(basename "$deb")")
done

if command -v lintian >/dev/null 2>&1; then
  # Running as root draws a note from lintian; it is not about the packages.
  report=$(lintian --tag-display-limit 0 "${debs[@]}" 2>&1 | grep -v 'running with root privileges' || true)
  [ -z "$report" ] || echo "$report"
  if grep -q '^E:' <<<"$report"; then
    echo "package.sh: lintian reports errors" >&2
    exit 1
  fi
fi
printf '%s\n' "${debs[@]}"
