#!/usr/bin/env bash
# The seeded scenario the browser test (dashboard.test.js) looks at: a real
# coordinator serving the dashboard with a token, and four real agents running
# the example service (one of them with a hostile id and label). Release 1
# succeeds everywhere; release 2 is broken, its canary reverts itself and the
# rollout is rolled back; release 3's canary succeeds and then bakes for an
# hour, so it is still in progress.
#
# Usage: scenario.sh BUILD_DIR WORK_DIR
# Writes WORK_DIR/ready.json ({url, token, control, flotilla, coordinator,
# config, rollouts: {good, failed, running}, coordinator_pid}) once all that is
# true, then waits until it is terminated (SIGTERM), stopping everything it
# started and whatever coordinator the test restarted in its place
# (WORK_DIR/coordinator.pid).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
work=$2
mkdir -p "$work"
coordinator="$build/coordinator/flotilla-coordinator"
agent="$build/agent/flotilla-agent"
export FLOTILLA_CONTROL="ipc://$work/coord/control.sock"
flotilla() { "$build/coordinator/flotilla" "$@"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hostile_id='<b>evil<i>'
hosts=(web-1 web-2 web-3 "$hostile_id")
pids=()
cleanup() {
  for dir in "$work"/agents/*/; do
    stop="${dir}apps/web/current/bin/stop"
    [ -x "$stop" ] && "$stop" "${dir}apps/web" >/dev/null 2>&1 || true
  done
  [ -f "$work/coordinator.pid" ] && kill "$(cat "$work/coordinator.pid")" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' TERM INT

http_port=$(free_port)
"$coordinator" init "$work/coord" --listen "tcp://127.0.0.1:$(free_port)" >/dev/null
token=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
printf '%s\n' "$token" >"$work/coord/dashboard.token"
chmod 600 "$work/coord/dashboard.token"
# The [http] table replaces the `http = ""` line init wrote.
sed -i '/^http = /d' "$work/coord/coordinator.toml"
cat >>"$work/coord/coordinator.toml" <<TOML

[http]
listen = "127.0.0.1:$http_port"
token_file = "dashboard.token"
TOML
"$coordinator" run --config "$work/coord/coordinator.toml" >"$work/coordinator.log" 2>&1 &
pids+=($!)
echo $! >"$work/coordinator.pid"
i=0
for h in "${hosts[@]}"; do
  i=$((i + 1))
  label=(--label role=web)
  [ "$h" = "$hostile_id" ] && label=(--label role=web --label "note=<img src=x onerror=alert(2)>")
  "$agent" init "$work/agents/a$i" --join "$work/coord/join.toml" --id "$h" "${label[@]}" \
    --var "PORT=$(free_port)" >/dev/null
  "$agent" run --config "$work/agents/a$i/agent.toml" >"$work/agent-$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 300); do
  online=$(flotilla --json agents 2>/dev/null | python3 -c 'import json,sys; print(sum(a["state"]=="online" for a in json.load(sys.stdin)["agents"]))' 2>/dev/null || echo 0)
  [ "$online" = "${#hosts[@]}" ] && break
  sleep 0.1
done
[ "$online" = "${#hosts[@]}" ] || { echo "scenario: $online of ${#hosts[@]} agents online" >&2; exit 1; }

make_plan() {  # make_plan VERSION SIZES BAKE [make-release.sh option...]
  local v=$1 sizes=$2 bake=$3
  shift 3
  "$root/examples/make-release.sh" "$v" "$work/web-$v.tar.gz" --rps 5 "$@" >/dev/null
  sed -e "s/@VERSION@/$v/" -e "s|@ARTIFACT@|web-$v.tar.gz|" -e "s|^sizes .*|sizes = $sizes|" \
    -e "s|^bake .*|bake = \"$bake\"|" "$root/examples/plans/web.toml.in" >"$work/web-$v.toml"
}
last_rollout() { flotilla --json history --app web --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["rollouts"][0]["id"])'; }

make_plan 1 '[1, "100%"]' 1s
flotilla rollout "$work/web-1.toml" --watch >"$work/rollout-1.log" 2>&1
good=$(last_rollout)
make_plan 2 '[1, "100%"]' 1s --broken
flotilla rollout "$work/web-2.toml" --watch >"$work/rollout-2.log" 2>&1 || true
failed=$(last_rollout)
make_plan 3 '[1, "100%"]' 1h
flotilla rollout "$work/web-3.toml" >"$work/rollout-3.log" 2>&1
running=$(last_rollout)
# In progress: the canary wave is done and bakes.
for _ in $(seq 600); do
  w0=$(flotilla --json status "$running" | python3 -c 'import json,sys; print(json.load(sys.stdin)["waves"][0]["state"])')
  [ "$w0" = baking ] && break
  sleep 0.1
done
[ "$w0" = baking ] || { echo "scenario: the running rollout's canary wave is $w0, not baking" >&2; exit 1; }

python3 - "$work/ready.json" <<PY
import json, sys
json.dump({"url": "http://127.0.0.1:$http_port", "token": "$token", "control": "$FLOTILLA_CONTROL",
           "flotilla": "$build/coordinator/flotilla", "coordinator": "$coordinator",
           "config": "$work/coord/coordinator.toml", "hostile_id": """$hostile_id""",
           "rollouts": {"good": "$good", "failed": "$failed", "running": "$running"}},
          open(sys.argv[1] + ".tmp", "w"))
PY
mv "$work/ready.json.tmp" "$work/ready.json"
while true; do sleep 1; done
