#!/usr/bin/env bash
# The Debian packages on this machine, end to end (docs/install.md):
#   build flotilla-agent and flotilla-coordinator (scripts/package.sh, reusing
#   its Release build), install them with dpkg, check files, user, units and
#   versions; join with `init --system`, run both daemons from /usr/bin with
#   the installed configuration and roll a small release out with the console;
#   upgrade to a higher version and check that edited configuration survives;
#   purge both and check that nothing is left.
# It changes the machine (dpkg, a system user), so it runs only as root, with
# dpkg, on a machine without Flotilla installed; otherwise it exits 77, which
# ctest reports as skipped (SKIP_RETURN_CODE). Whatever happens, the trap
# stops the daemons and purges the packages.
# Environment: FLOTILLA_PACKAGE_BUILD, the Release build to reuse (package.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
started=$(date +%s)

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
log() { echo "package_test [$(($(date +%s) - started))s]: $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root: it installs packages with dpkg and creates a system user"
for tool in dpkg dpkg-deb dpkg-query dpkg-shlibdeps cpack setpriv python3 flock; do
  command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is missing (scripts/bootstrap.sh installs dpkg-dev)"
done

# One package test at a time on a machine (several worktrees may run ctest).
exec 9>/tmp/flotilla-package-test.lock
flock -w 900 9 || fail "another package test held /tmp/flotilla-package-test.lock for 15 minutes"

packages=(flotilla-agent flotilla-coordinator)
# Known to dpkg: installed, or removed with its configuration left.
known() {
  local status
  status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) && [ "$status" != not-installed ]
}
for p in "${packages[@]}"; do
  if known "$p"; then skip "$p is already installed here; this test would remove it"; fi
done
getent passwd flotilla >/dev/null && skip "a user 'flotilla' exists here; this test would remove it"
getent group flotilla >/dev/null && skip "a group 'flotilla' exists here; this test would remove it"
for d in /etc/flotilla /var/lib/flotilla-agent /var/lib/flotilla-coordinator; do
  [ -e "$d" ] && skip "$d exists here; this test would remove it"
done

work=$(mktemp -d /tmp/flotilla-package-test.XXXXXX)
chmod 0755 "$work"
pids=()
stop_daemons() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  local rc=$?
  stop_daemons
  for p in "${packages[@]}"; do
    if known "$p"; then dpkg --purge "$p" >/dev/null 2>&1 || true; fi
  done
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for f in "$work"/*.log; do
      [ -f "$f" ] || continue
      echo "--- $f (last 30 lines)"
      tail -n 30 "$f"
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# 1. Two versions of both packages, from one Release build.
log "building packages 0.1.0 and 0.1.1"
"$root/scripts/package.sh" --out "$work/v1" >"$work/package-v1.log" 2>&1 || fail "package.sh failed"
"$root/scripts/package.sh" --version 0.1.1 --out "$work/v2" >"$work/package-v2.log" 2>&1 ||
  fail "package.sh --version 0.1.1 failed"
v1=$(dpkg-deb -f "$work"/v1/flotilla-agent_*.deb Version)
v2=$(dpkg-deb -f "$work"/v2/flotilla-agent_*.deb Version)
[ "$v2" = "0.1.1-1" ] || fail "package.sh --version 0.1.1 built version '$v2'"
dpkg --compare-versions "$v2" gt "$v1" || fail "$v2 is not newer than $v1"
arch=$(dpkg --print-architecture)
for p in "${packages[@]}"; do
  [ -f "$work/v1/${p}_${v1}_${arch}.deb" ] || fail "no $work/v1/${p}_${v1}_${arch}.deb"
done

# 2. Install and check what landed.
log "installing $v1"
dpkg -i "$work"/v1/*.deb >"$work/dpkg-install.log" 2>&1 || fail "dpkg -i failed (dependencies missing?)"
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Version}' "$p")" = "$v1" ] || fail "$p is not at $v1"
  dpkg-query -L "$p" >"$work/$p.files"
done
for f in /usr/bin/flotilla-agent /usr/bin/flotilla-coordinator /usr/bin/flotilla; do
  [ -x "$f" ] || fail "$f is not installed"
done
for f in /lib/systemd/system/flotilla-agent.service /lib/systemd/system/flotilla-coordinator.service \
  /etc/flotilla/agent.env /etc/flotilla/coordinator.env \
  /usr/share/doc/flotilla-agent/copyright /usr/share/doc/flotilla-agent/changelog.Debian.gz \
  /usr/share/doc/flotilla-coordinator/copyright /usr/share/doc/flotilla-coordinator/changelog.Debian.gz; do
  [ -f "$f" ] || fail "$f is not installed"
done
grep -q '^ExecStart=/usr/bin/flotilla-agent run --config /etc/flotilla/agent.toml' \
  /lib/systemd/system/flotilla-agent.service || fail "the agent's unit does not run /usr/bin/flotilla-agent"
grep -q '^User=flotilla' /lib/systemd/system/flotilla-coordinator.service ||
  fail "the coordinator's unit does not run as flotilla"
dpkg-query -W -f='${Conffiles}' flotilla-agent | grep -q /etc/flotilla/agent.env ||
  fail "/etc/flotilla/agent.env is not a conffile"
getent passwd flotilla >/dev/null || fail "no system user flotilla"
[ "$(id -u flotilla)" -lt 1000 ] || fail "flotilla is not a system user (uid $(id -u flotilla))"
[ "$(stat -c '%U %a' /var/lib/flotilla-coordinator)" = "flotilla 750" ] ||
  fail "/var/lib/flotilla-coordinator is $(stat -c '%U %a' /var/lib/flotilla-coordinator), not flotilla 750"
[ "$(stat -c '%U %a' /var/lib/flotilla-agent)" = "root 700" ] ||
  fail "/var/lib/flotilla-agent is $(stat -c '%U %a' /var/lib/flotilla-agent), not root 700"
/usr/bin/flotilla --help >/dev/null || fail "the console does not run"

# 3. Join in one command each, run both daemons from the installed paths
#    (no systemd here: as the units would: the coordinator as flotilla, the
#    agent as root) and roll a release out.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log "init --system (coordinator on 127.0.0.1:$port)"
/usr/bin/flotilla-coordinator init --system --listen "tcp://127.0.0.1:$port" >"$work/init.log" 2>&1 ||
  fail "flotilla-coordinator init --system failed: $(cat "$work/init.log")"
/usr/bin/flotilla-agent init --system --join /etc/flotilla/join.toml --id pkg-host --label role=pkgtest >>"$work/init.log" 2>&1 ||
  fail "flotilla-agent init --system failed: $(cat "$work/init.log")"
for f in /etc/flotilla/coordinator.toml /etc/flotilla/join.toml /etc/flotilla/agent.toml; do
  [ -f "$f" ] || fail "init --system did not write $f"
done
grep -q "state_dir = '/var/lib/flotilla-agent/state'" /etc/flotilla/agent.toml ||
  fail "agent.toml does not keep its state in /var/lib/flotilla-agent"
[ "$(stat -c '%U' /etc/flotilla/keys/plan.key)" = flotilla ] || fail "the coordinator's keys are not flotilla's"

start_daemons() {
  setpriv --reuid=flotilla --regid=flotilla --init-groups /usr/bin/flotilla-coordinator run --config /etc/flotilla/coordinator.toml \
    >>"$work/coordinator.log" 2>&1 &
  pids+=($!)
  /usr/bin/flotilla-agent run --config /etc/flotilla/agent.toml >>"$work/agent.log" 2>&1 &
  pids+=($!)
}
export FLOTILLA_CONTROL=ipc:///var/lib/flotilla-coordinator/control.sock
wait_online() {
  local deadline=$(($(date +%s) + 30)) state
  while :; do
    state=$(/usr/bin/flotilla --json agents 2>/dev/null | python3 -c \
      'import json,sys; print(" ".join(a["id"]+"="+a["state"] for a in json.load(sys.stdin)["agents"]))' \
      2>/dev/null || true)
    [ "$state" = "pkg-host=online" ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail "the agent is not online after 30s (agents: '$state')"
    sleep 0.2
  done
}
start_daemons
wait_online

mkdir -p "$work/release"
printf '1\n' >"$work/release/VERSION"
tar -C "$work/release" -czf "$work/pkgtest-1.tar.gz" VERSION
cat >"$work/pkgtest-1.toml" <<'PLAN'
app = "pkgtest"
version = "1"
[artifact]
file = "pkgtest-1.tar.gz"
[target]
labels = { role = "pkgtest" }
[waves]
deadline = "60s"
[deploy]
restart = ["/bin/sh", "-c", "test -f VERSION"]
[health]
interval = "200ms"
healthy_for = "0s"
deadline = "20s"
[[health.check]]
exec = ["/bin/sh", "-c", "test -f VERSION"]
PLAN
log "rollout"
/usr/bin/flotilla --timeout 60 rollout "$work/pkgtest-1.toml" --watch >"$work/rollout.log" 2>&1 ||
  fail "the rollout did not succeed: $(tail -n 5 "$work/rollout.log")"
[ "$(cat /var/lib/flotilla-agent/apps/pkgtest/current/VERSION)" = 1 ] ||
  fail "release 1 is not current under /var/lib/flotilla-agent/apps"
[ "$(stat -c %U /var/lib/flotilla-coordinator/artifacts)" = flotilla ] ||
  fail "the coordinator did not store the artifact as flotilla"
stop_daemons

# 4. Upgrade, with the configuration edited: conffile and generated files stay.
log "upgrading to $v2"
echo 'FLOTILLA_AGENT_ARGS="--log-level debug"' >>/etc/flotilla/agent.env
sed -i 's/^log_level = "info"/log_level = "debug"/' /etc/flotilla/coordinator.toml
grep -q '^log_level = "debug"' /etc/flotilla/coordinator.toml || fail "could not edit coordinator.toml"
sums=$(md5sum /etc/flotilla/agent.env /etc/flotilla/coordinator.toml /etc/flotilla/agent.toml /etc/flotilla/keys/*)
dpkg -i "$work"/v2/*.deb >"$work/dpkg-upgrade.log" 2>&1 || fail "dpkg -i of $v2 failed"
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Version}' "$p")" = "$v2" ] || fail "$p is not at $v2 after the upgrade"
done
[ "$(md5sum /etc/flotilla/agent.env /etc/flotilla/coordinator.toml /etc/flotilla/agent.toml /etc/flotilla/keys/*)" = \
  "$sums" ] || fail "the upgrade changed the configuration in /etc/flotilla"
[ -f /var/lib/flotilla-coordinator/flotilla.db ] || fail "the upgrade lost the coordinator's store"
# The upgraded programs take up where the old ones stopped.
start_daemons
wait_online
stop_daemons

# 5. Purge: nothing left.
log "purging"
cat "$work"/*.files | sort -u >"$work/all.files"
dpkg --purge "${packages[@]}" >"$work/dpkg-purge.log" 2>&1 || fail "dpkg --purge failed"
for p in "${packages[@]}"; do
  if known "$p"; then fail "dpkg still knows $p after purge"; fi
done
for d in /etc/flotilla /var/lib/flotilla-agent /var/lib/flotilla-coordinator; do
  [ ! -e "$d" ] || fail "$d is left after purge"
done
getent passwd flotilla >/dev/null && fail "the user flotilla is left after purge"
getent group flotilla >/dev/null && fail "the group flotilla is left after purge"
while read -r f; do
  [ -d "$f" ] && continue # shared directories (/usr/bin ...)
  [ ! -e "$f" ] || fail "$f is left after purge"
done <"$work/all.files"
left=$(find /etc/systemd /var/lib/systemd -name 'flotilla*' 2>/dev/null || true)
[ -z "$left" ] || fail "systemd links or state left after purge: $left"
log "passed"
