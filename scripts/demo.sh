#!/usr/bin/env bash
# The main job, end to end, on this machine: a coordinator and a fleet of 5
# agents in a temporary directory, each running the example service on its own
# port. Release 1 goes everywhere; release 2 rolls out in waves and succeeds;
# release 3 is broken, so its canary reverts itself, the rollout fails and is
# rolled back, and every host still serves release 2. Release 4 passes its
# health checks but fails 10% of its requests: release analysis compares the
# canary's metrics with hosts still on release 2, fails the canary wave and
# rolls it back, so every host still serves release 2; the demo prints the
# analysis table. Then a dark launch: the releases ship /checkout's new path
# behind the flag new-checkout, off; the flag turns on in waves; a flag set
# whose variant breaks /healthz is reverted by the canary by itself and the
# flag rollout rolled back; the kill switch turns the flag off everywhere at
# once. Every fact is checked by asking the services and the console; exits 0
# only if all of them hold.
#
# Usage: scripts/demo.sh [--keep] [--ha]
#   --keep  leaves the fleet's directory behind
#   --ha    plays a failover instead: two coordinators on a PostgreSQL, the
#           leader killed mid-rollout (scripts/demo-ha.sh, docs/ha.md)
# FLOTILLA_DEMO_BIN=DIR runs the programs of an existing build tree instead of
# bootstrapping and building build/release (or FLOTILLA_DEMO_BUILD).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
keep=0
ha=0
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    --ha) ha=1 ;;
  esac
done

if [ -n "${FLOTILLA_DEMO_BIN:-}" ]; then
  bin=$(cd "$FLOTILLA_DEMO_BIN" && pwd)
else
  scripts/bootstrap.sh
  build=${FLOTILLA_DEMO_BUILD:-build/release}
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLOTILLA_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target flotilla flotilla-agent flotilla-coordinator
  bin="$root/$build"
fi
if [ "$ha" = 1 ]; then
  FLOTILLA_DEMO_BIN=$bin FLOTILLA_DEMO_KEEP=$keep exec scripts/demo-ha.sh
fi

coordinator="$bin/coordinator/flotilla-coordinator"
agent="$bin/agent/flotilla-agent"
work=$(mktemp -d /tmp/flotilla-demo.XXXXXX)
export FLOTILLA_CONTROL="ipc://$work/coord/control.sock"
flotilla() { "$bin/coordinator/flotilla" "$@"; }

pids=()
hosts=(web-1 web-2 web-3 web-4 web-5)
declare -A port
cleanup() {
  for h in "${hosts[@]}"; do
    stop="$work/agents/$h/apps/web/current/bin/stop"
    [ -x "$stop" ] && "$stop" "$work/agents/$h/apps/web" >/dev/null 2>&1 || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "demo: fleet left in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
failures=0
check() {  # check "what" command...
  local what=$1; shift
  if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what"; failures=$((failures + 1)); fi
}
say() { printf '\n== %s\n' "$*"; }

say "A coordinator and ${#hosts[@]} agents in $work"
"$coordinator" init "$work/coord" --listen "tcp://127.0.0.1:$(free_port)" >/dev/null
"$coordinator" run --config "$work/coord/coordinator.toml" >"$work/coordinator.log" 2>&1 &
pids+=($!)
for h in "${hosts[@]}"; do
  port[$h]=$(free_port)
  "$agent" init "$work/agents/$h" --join "$work/coord/join.toml" --id "$h" \
    --label role=web --var "PORT=${port[$h]}" >/dev/null
  "$agent" run --config "$work/agents/$h/agent.toml" >"$work/agent-$h.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 100); do
  online=$(flotilla --json agents 2>/dev/null | python3 -c 'import json,sys; print(sum(a["state"]=="online" for a in json.load(sys.stdin)["agents"]))' 2>/dev/null || echo 0)
  [ "$online" = "${#hosts[@]}" ] && break
  sleep 0.1
done
flotilla agents

# Every release's service calls its own /work 20 times a second (the default
# is 50): enough traffic for analysis, light on a small machine.
rps=20
make_plan() {  # make_plan VERSION SIZES [make-release.sh option...]
  local v=$1 sizes=$2
  shift 2
  examples/make-release.sh "$v" "$work/web-$v.tar.gz" --rps "$rps" "$@" >/dev/null
  sed -e "s/@VERSION@/$v/" -e "s|@ARTIFACT@|web-$v.tar.gz|" -e "s|^sizes .*|sizes = $sizes|" \
    examples/plans/web.toml.in >"$work/web-$v.toml"
  cat >>"$work/web-$v.toml" <<TOML

[change]
commit       = "demo-$v"
committed_at = $(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
TOML
}

answers() {  # answers PORT PATH TEXT: GET PATH says TEXT and /healthz is 200
  local body
  body=$(python3 - "$1" "$2" <<'PY'
import sys, urllib.request
port, path = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    v = opener.open(f"http://127.0.0.1:{port}{path}", timeout=2).read().decode().strip()
    h = opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2).status
    print(f"{v} {h}")
except Exception as e:
    print(f"error {e}")
PY
)
  [ "$body" = "$3 200" ]
}
serves() { answers "$1" /version "$2"; }    # serves PORT VERSION
checkout() { answers "$1" /checkout "$2"; }  # checkout PORT TEXT: the dark-launched feature

say "Release 1 to every host at once"
make_plan 1 '["100%"]'
flotilla rollout "$work/web-1.toml" --watch
for h in "${hosts[@]}"; do check "$h answers /version 1 and /healthz 200" serves "${port[$h]}" 1; done

say "Release 2 in waves [1, \"50%\", \"100%\"]"
make_plan 2 '[1, "50%", "100%"]'
flotilla rollout "$work/web-2.toml" --watch
r2=$(flotilla --json history --app web --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["rollouts"][0]["id"])')
for h in "${hosts[@]}"; do check "$h answers /version 2 and /healthz 200" serves "${port[$h]}" 2; done
check "rollout $r2 ran 3 waves, all succeeded" python3 -c '
import json, subprocess, sys
s = json.loads(subprocess.check_output([sys.argv[1], "--json", "status", sys.argv[2]]))
sys.exit(0 if s["state"] == "succeeded" and [w["state"] for w in s["waves"]] == ["succeeded"] * 3 else 1)' "$bin/coordinator/flotilla" "$r2"

say "Release 3 is broken: its canary must revert itself"
make_plan 3 '[1, "50%", "100%"]' --broken
set +e
flotilla rollout "$work/web-3.toml" --watch
rc=$?
set -e
check "watching release 3 exits 1 (the rollout did not succeed)" test "$rc" = 1
r3=$(flotilla --json history --app web --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["rollouts"][0]["id"])')
check "rollout $r3 of release 3 was rolled back after its canary failed" python3 -c '
import json, subprocess, sys
s = json.loads(subprocess.check_output([sys.argv[1], "--json", "status", sys.argv[2]]))
w = s["waves"]
sys.exit(0 if s["state"] == "rolled_back" and w[0]["failed"] == 1 and all(x["state"] == "pending" for x in w[1:]) else 1)' \
  "$bin/coordinator/flotilla" "$r3"
check "the canary reported that it reverted itself" python3 -c '
import json, subprocess, sys
ev = json.loads(subprocess.check_output([sys.argv[1], "--json", "events", sys.argv[2]]))["events"]
sys.exit(0 if any(e["kind"] == "host_failed" and "reverted" in e["message"] for e in ev) else 1)' "$bin/coordinator/flotilla" "$r3"
for h in "${hosts[@]}"; do check "$h still answers /version 2 and /healthz 200" serves "${port[$h]}" 2; done

say "Release 4 is healthy but fails 10% of its requests: analysis must catch its canary"
make_plan 4 '[1, "50%", "100%"]' --error-rate 0.1
cat examples/plans/web-analysis.toml.in >>"$work/web-4.toml"
set +e
flotilla rollout "$work/web-4.toml" --watch
rc=$?
set -e
check "watching release 4 exits 1 (the rollout did not succeed)" test "$rc" = 1
r4=$(flotilla --json history --app web --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["rollouts"][0]["id"])')
echo
flotilla analysis "$r4"
check "rollout $r4 of release 4 was rolled back after its canary wave, with no host failing its health checks" python3 -c '
import json, subprocess, sys
s = json.loads(subprocess.check_output([sys.argv[1], "--json", "status", sys.argv[2]]))
w = s["waves"]
ok = s["state"] == "rolled_back" and w[0]["state"] == "failed" and w[0]["failed"] == 0 \
     and all(x["state"] == "pending" for x in w[1:])
sys.exit(0 if ok else 1)' "$bin/coordinator/flotilla" "$r4"
check "analysis of wave 0 failed it: error_ratio is high" python3 -c '
import json, subprocess, sys
a = json.loads(subprocess.check_output([sys.argv[1], "--json", "analysis", sys.argv[2]]))
w0 = [w for w in a["waves"] if w["wave"] == 0 and w["final"]]
err = [m for m in w0[0]["metrics"] if m["metric"] == "error_ratio"] if w0 else []
sys.exit(0 if w0 and w0[0]["outcome"] == "fail" and err and err[0]["verdict"] == "high" else 1)' \
  "$bin/coordinator/flotilla" "$r4"
check "an analysis_verdict event records it" python3 -c '
import json, subprocess, sys
ev = json.loads(subprocess.check_output([sys.argv[1], "--json", "events", sys.argv[2]]))["events"]
sys.exit(0 if any(e["kind"] == "analysis_verdict" and e["message"].startswith("fail") for e in ev) else 1)' \
  "$bin/coordinator/flotilla" "$r4"
canary=$(flotilla --json events "$r4" | python3 -c '
import json, sys
ev = json.load(sys.stdin)["events"]
print(next((e["agent"] for e in ev if e["kind"] == "host_rolled_back" and e["wave"] == 0), "none"))')
check "the canary ($canary) was rolled back to release 2" serves "${port[$canary]:-0}" 2
for h in "${hosts[@]}"; do check "$h still answers /version 2 and /healthz 200" serves "${port[$h]}" 2; done

flag_set() {  # flag_set DEFAULT_VARIANT > FILE: the flag set of web, new-checkout at DEFAULT_VARIANT
  cat <<JSON
{
  "\$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false, "broken": true},
                     "defaultVariant": "$1"}
  }
}
JSON
}
last_flag_rollout() { flotilla --json flags history web --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["rollouts"][0]["id"])'; }

say "Dark launch: release 2 ships /checkout's new path behind the flag new-checkout, off"
flag_set off >"$work/flags-off.json"
flotilla flags push web "$work/flags-off.json" --watch
for h in "${hosts[@]}"; do check "$h answers /checkout with the old checkout" checkout "${port[$h]}" "old checkout"; done

say "The flag turns on in waves [1, 50%, 100%], with web's health checks"
flag_set on >"$work/flags-on.json"
flotilla flags push web "$work/flags-on.json" --waves '1,50%,100%' --watch
flotilla flags show web
for h in "${hosts[@]}"; do check "$h answers /checkout with the new checkout" checkout "${port[$h]}" "new checkout"; done
check "every host runs the same flag set" python3 -c '
import json, subprocess, sys
s = json.loads(subprocess.check_output([sys.argv[1], "--json", "flags", "show", "web"]))
sys.exit(0 if len(s["versions"]) == 1 and s["versions"][0]["hosts"] == int(sys.argv[2]) else 1)' \
  "$bin/coordinator/flotilla" "${#hosts[@]}"

say "A flag set whose variant breaks /healthz: the canary must revert it by itself"
flag_set broken >"$work/flags-broken.json"
set +e
flotilla flags push web "$work/flags-broken.json" --waves '1,100%' --watch
rc=$?
set -e
check "watching the broken flag set exits 1 (the flag rollout did not succeed)" test "$rc" = 1
fb=$(last_flag_rollout)
check "flag rollout $fb was rolled back after its canary failed" python3 -c '
import json, subprocess, sys
s = json.loads(subprocess.check_output([sys.argv[1], "--json", "status", sys.argv[2]]))
sys.exit(0 if s["state"] == "rolled_back" and s["waves"][0]["failed"] == 1 else 1)' "$bin/coordinator/flotilla" "$fb"
check "the canary reported that it reverted its flag set itself" python3 -c '
import json, subprocess, sys
ev = json.loads(subprocess.check_output([sys.argv[1], "--json", "events", sys.argv[2]]))["events"]
sys.exit(0 if any(e["kind"] == "host_failed" and "reverted" in e["message"] for e in ev) else 1)' "$bin/coordinator/flotilla" "$fb"
for h in "${hosts[@]}"; do check "$h still answers /checkout with the new checkout" checkout "${port[$h]}" "new checkout"; done

say "The kill switch: new-checkout off on every host at once"
flotilla flags kill web new-checkout --watch
fk=$(last_flag_rollout)
for h in "${hosts[@]}"; do check "$h answers /checkout with the old checkout" checkout "${port[$h]}" "old checkout"; done
check "kill $fk ran one wave of every host and recorded flag_killed" python3 -c '
import json, subprocess, sys
s = json.loads(subprocess.check_output([sys.argv[1], "--json", "status", sys.argv[2]]))
ev = json.loads(subprocess.check_output([sys.argv[1], "--json", "events", sys.argv[2]]))["events"]
ok = s["state"] == "succeeded" and len(s["waves"]) == 1 and s["waves"][0]["hosts"] == int(sys.argv[3]) \
     and any(e["kind"] == "flag_killed" and "new-checkout" in e["message"] for e in ev)
sys.exit(0 if ok else 1)' "$bin/coordinator/flotilla" "$fk" "${#hosts[@]}"
flotilla flags history web

say "History"
flotilla history --app web
check "history shows releases 1 to 4 as succeeded, succeeded, rolled_back, rolled_back" python3 -c '
import json, subprocess, sys
h = json.loads(subprocess.check_output([sys.argv[1], "--json", "history", "--app", "web"]))["rollouts"]
got = [(r["version"], r["state"]) for r in reversed(h)]
sys.exit(0 if got == [("1", "succeeded"), ("2", "succeeded"), ("3", "rolled_back"), ("4", "rolled_back")] else 1)' \
  "$bin/coordinator/flotilla"

say "Delivery metrics (DORA)"
flotilla metrics --app web
# Flag rollouts are deployments of web (docs/metrics.md): 3 flag changes
# succeeded (off, on, the kill), 1 was rolled back.
check "metrics count 5 deployments (3 flag changes) and 3 failures (1 a flag change) out of 8 finished rollouts of web" python3 -c '
import json, subprocess, sys
m = json.loads(subprocess.check_output([sys.argv[1], "--json", "metrics", "--app", "web"]))["apps"]["web"]
df, cfr = m["deployment_frequency"], m["change_failure_rate"]
ok = df["deployments"] == 5 and df["flag_changes"] == 3 and cfr["failed"] == 3 and cfr["flag_failed"] == 1 \
     and cfr["finished"] == 8 and m["lead_time"]["from_submission"] == 3 and m["rework_rate"]["unplanned"] == 1
sys.exit(0 if ok else 1)' "$bin/coordinator/flotilla"

echo
if [ "$failures" -eq 0 ]; then
  echo "demo: every check passed"
  exit 0
fi
echo "demo: $failures check(s) failed; logs in $work (kept)"
keep=1
exit 1
