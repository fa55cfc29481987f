#!/usr/bin/env bash
# OFREP on a real agent (scripts/bench.sh section o): one flotilla-agent with [flags] listen,
# pinned to CPU 0 (taskset), serving a flag set put in place as a flag rollout leaves it
# (flotilla-ofrep-bench seed; the agent needs no coordinator for it), loaded from CPU 1 by
# flotilla-ofrep-bench load. Prints one JSON document:
#   {"idle_rss_kb", "idle_rss_anon_kb", "evaluations_per_second", "agent_cpu_pct", "load_rss_kb",
#    "peak_rss_kb", "errors"}
# (RssAnon is the agent's own memory; the rest of VmRSS is mostly its shared libraries.)
# Usage: scripts/bench/ofrep_bench.sh BUILD_DIR [SECONDS] [CONNECTIONS]
set -euo pipefail
bin=$1
seconds=${2:-10}
connections=${3:-4}
coordinator="$bin/coordinator/flotilla-coordinator"
agent="$bin/agent/flotilla-agent"
tool="$bin/tests/flotilla-ofrep-bench"
work=$(mktemp -d /tmp/flotilla-ofrep-bench.XXXXXX)
agent_pid=
cleanup() {
  if [ -n "$agent_pid" ]; then
    kill "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The agent on CPU 0, the load on CPU 1, when there are two.
pin0=() pin1=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -gt 1 ]; then pin0=(taskset -c 0) pin1=(taskset -c 1); fi

"$coordinator" init "$work/coord" --listen "tcp://127.0.0.1:$(free_port)" >/dev/null
"$agent" init "$work/agent" --join "$work/coord/join.toml" --id bench --label zone=eu >/dev/null
port=$(free_port)
printf '\n[flags]\nlisten = "127.0.0.1:%s"\n' "$port" >>"$work/agent/agent.toml"
cat >"$work/flags.json" <<'JSON'
{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "new-checkout": {
      "state": "ENABLED",
      "variants": {"on": true, "off": false},
      "defaultVariant": "off",
      "targeting": {"if": [{"==": [{"var": "$flotilla.labels.zone"}, "eu"]},
                           {"fractional": [["on", 5], ["off", 95]]}, "off"]}
    }
  }
}
JSON
"$tool" seed --config "$work/agent/agent.toml" --app web --version f-bench --flags "$work/flags.json"
"${pin0[@]}" "$agent" run --config "$work/agent/agent.toml" --log-level warn >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do
  curl -sf -X POST -d '{}' "http://127.0.0.1:$port/apps/web/ofrep/v1/evaluate/flags/new-checkout" >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 2
idle_rss=$(rss_kb "$agent_pid" VmRSS)
idle_anon=$(rss_kb "$agent_pid" RssAnon)
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks "$agent_pid")
load=$("${pin1[@]}" "$tool" load --port "$port" --app web --flag new-checkout --seconds "$seconds" \
  --connections "$connections" --context '{"targetingKey": "user-42"}' || true)
t1=$(cpu_ticks "$agent_pid")
python3 - "$load" "$idle_rss" "$(rss_kb "$agent_pid" VmRSS)" "$(rss_kb "$agent_pid" VmHWM)" "$((t1 - t0))" "$hz" \
  "$idle_anon" <<'PY'
import json, sys
load = json.loads(sys.argv[1] or "{}")
ticks, hz = int(sys.argv[5]), int(sys.argv[6])
seconds = load.get("seconds") or 1
print(json.dumps({
    "idle_rss_kb": int(sys.argv[2]),
    "idle_rss_anon_kb": int(sys.argv[7]),
    "evaluations_per_second": round(load.get("per_second", 0)),
    "agent_cpu_pct": round(100.0 * ticks / hz / seconds, 1),
    "load_rss_kb": int(sys.argv[3]),
    "peak_rss_kb": int(sys.argv[4]),
    "errors": load.get("errors", -1),
}))
PY
