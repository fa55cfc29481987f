#!/usr/bin/env bash
# Installs the Debian packages Flotilla builds and runs with. Idempotent: it
# asks apt only for what is missing, so a second run does nothing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libsodium-dev libspdlog-dev
  catch2 libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libsqlite3-dev
  libarchive-dev libcurl4-openssl-dev libsystemd-dev libcpp-httplib-dev
  libpq-dev postgresql  # the PostgreSQL store (libpq) and the real PostgreSQL 15 its tests start
  libhowardhinnant-date-dev  # date/tz: freeze windows in IANA time zones (brings libdate-tz3)
  python3 tar gzip curl iproute2 procps
  dpkg-dev lintian  # scripts/package.sh: dpkg-shlibdeps, dpkg-buildflags; the packages checked
  prometheus  # only for promtool: the metrics test lints /metrics with it
  clang-14 libclang-rt-14-dev
  nodejs npm  # flagd's own evaluator (npm @openfeature/flagd-core) checks the flag vectors
  chromium    # the dashboard's browser test (tests/browser) drives it headless with playwright-core
)
root=$(cd "$(dirname "$0")/.." && pwd)

# The npm packages the flag tests (tests/flags_js) and the dashboard's browser test
# (tests/browser) run, exactly as their package-lock.json pin them. npm ci runs only when
# they are missing or the lock file changed, so a second run needs no network; without npm
# or a registry those tests are skipped, not failed.
install_npm_dir() {  # install_npm_dir DIR WHAT
  local dir="$root/$1"
  command -v npm >/dev/null 2>&1 || return 0
  if cmp -s "$dir/package-lock.json" "$dir/node_modules/.flotilla-installed-lock"; then return 0; fi
  echo "bootstrap: npm ci in $1"
  if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
    cp "$dir/package-lock.json" "$dir/node_modules/.flotilla-installed-lock"
  else
    echo "bootstrap: npm ci failed in $1; $2 will be skipped" >&2
  fi
}
install_npm() {
  install_npm_dir tests/flags_js "the test against flagd-core"
  install_npm_dir tests/browser "the dashboard's browser test"
}

missing=()
for p in "${packages[@]}"; do
  # A node from elsewhere (NodeSource's nodejs carries its own npm) serves as well as Debian's.
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  install_npm
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_npm
