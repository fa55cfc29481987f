#!/usr/bin/env bash
# Installs the Debian packages Flotilla builds and runs with. Idempotent: it
# asks apt only for what is missing, so a second run does nothing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libsodium-dev libspdlog-dev
  catch2 libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libsqlite3-dev
  libarchive-dev libcurl4-openssl-dev libsystemd-dev libcpp-httplib-dev
  libhowardhinnant-date-dev  # date/tz: freeze windows in IANA time zones (brings libdate-tz3)
  python3 tar gzip curl iproute2 procps
  dpkg-dev lintian  # scripts/package.sh: dpkg-shlibdeps, dpkg-buildflags; the packages checked
  prometheus  # only for promtool: the metrics test lints /metrics with it
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
