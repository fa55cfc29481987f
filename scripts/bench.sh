#!/usr/bin/env bash
# The performance figures of DESIGN.md section 6, measured on this machine.
# Builds a release into build/bench, then on 127.0.0.1 only:
#   (a) 20 real agents: a ~200 KB release in waves [1, "10%", "50%", "100%"], against the same
#       rolling update done by Ansible (ansible-core, connection local), and the ratio;
#   (b) flotilla-swarm: time for 1,000 / 5,000 / 10,000 agents to be online, dispatch of a
#       10,000-host wave (wave start -> every agent holds a verified order), zero-bake four-wave
#       rollouts to 1,000 and 10,000 agents;
#   (c) coordinator CPU and RSS with 10,000 agents heartbeating every 5 s, memory per agent;
#   (d) an idle real agent's RSS and CPU over one minute;
#   (e) heartbeats/reports per second the coordinator handles on one core;
#   (f) peak memory of the console and the coordinator while a 2 GB artifact uploads;
#   (g) the release judge on seeded synthetic data (flotilla-judge-bench): false-alarm rate over
#       500 identical runs, detection rate of +10/+20/+30% latency shifts, 0% vs 1% errors, and
#       judge() on a 1,000-host wave;
#   (h) release analysis on 2,000 swarm agents: a wave of 1,000 hosts sampled (synthetic samples,
#       canary equal to baseline) and judged; end of the bake -> verdict, samples stored, the
#       verdict, coordinator CPU and RSS while the wave bakes;
#   (i) feature flags on N swarm agents (--agents): a flag change pushed in one wave of 100%,
#       submission -> every host's report; then the kill switch, per host p50, p99 and max;
#   (o) OFREP on a real agent pinned to one core: flag evaluations per second, and the agent's RSS
#       with the endpoint on, idle and under that load (scripts/bench/ofrep_bench.sh);
#   (j) failover: two coordinators on a real PostgreSQL 15, real agents listing both; the leader
#       SIGKILLed mid-rollout -> the first order of the new leader received by an agent, median and
#       worst of 10 (scripts/bench/ha.sh, as (k) and (p));
#   (k) 1,000 swarm agents listing both coordinators: the leader SIGKILLed, then the new one SIGSTOPped
#       -> all online at the other;
#   (p) with (b): the same 10,000-host wave dispatched with the store in PostgreSQL, and the ratio.
# Prints one table (each figure beside the command that produced it) and writes it, with a
# description of the machine, to docs/performance.md. Every wait is bounded; every process
# started here is stopped on exit. Takes about 10 minutes.
#
# Usage: scripts/bench.sh [--out FILE] [--agents N] [--swarms K] [--sections a,d,b,p,e,f,g,h,i,o,j,k] [--keep]
#   --out FILE    where to write the report (default docs/performance.md)
#   --sections    which parts to run (default all: a,d,b,p,e,f,g,h,i,o,j,k; (c) runs with (b); (d) needs
#                 (a); (p) needs (b))
#   --agents N    swarm size for (b), (c) and (i) (default 10000; at least 2000)
#   --swarms K    swarm processes sharing them (default 4)
#   --keep        keep the work directory (logs, plans, order logs)
# Environment: FLOTILLA_BENCH_BUILD (default build/bench), FLOTILLA_BENCH_JOBS (default 2),
#   FLOTILLA_BENCH_PERF=1 also records `perf` profiles of the coordinator in (c), (e), (h) and the
#   kill of (i), and of the whole machine during the timed rollout of (a),
#   FLOTILLA_BENCH_STRACE=web-NN traces that agent of (a) with `strace -f -tt -T` (with --keep),
#   FLOTILLA_BENCH_LEASE_TTL (default 5s) the coordinators' lease in (j) and (k),
#   FLOTILLA_BENCH_FAILOVERS (default 10) the trials of (j), FLOTILLA_BENCH_HA_AGENTS (default 1000) (k)'s swarm.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

out=docs/performance.md
agents=10000
swarms=4
keep=0
sections=a,d,b,p,e,f,g,h,i,o,j,k
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift ;;
    --agents) agents=$2; shift ;;
    --swarms) swarms=$2; shift ;;
    --sections) sections=$2; shift ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,45p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case $agents in '' | *[!0-9]*) echo "bench: --agents N" >&2; exit 2 ;; esac
case $swarms in '' | *[!0-9]*) echo "bench: --swarms K" >&2; exit 2 ;; esac
if [ "$agents" -lt 2000 ] || [ "$swarms" -lt 2 ]; then echo "bench: need --agents >= 2000 and --swarms >= 2" >&2; exit 2; fi

want() { case ",$sections," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
if want d && ! want a; then echo "bench: section d needs section a" >&2; exit 2; fi
if want p && ! want b; then echo "bench: section p needs section b" >&2; exit 2; fi

scripts/bootstrap.sh
# Beyond the build: ansible-core for the comparison in (a), linux-perf for the optional profiles.
apt_missing=()
command -v ansible-playbook >/dev/null 2>&1 || apt_missing+=(ansible-core)
if [ "${FLOTILLA_BENCH_PERF:-0}" = 1 ] && ! command -v perf >/dev/null 2>&1; then apt_missing+=(linux-perf); fi
# A real PostgreSQL 15 for (j), (k), (p) (bootstrap.sh installs it for the tests already).
if { want j || want k || want p; } && [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then apt_missing+=(postgresql); fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "bench: installing ${apt_missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

build=${FLOTILLA_BENCH_BUILD:-build/bench}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLOTILLA_TESTS=OFF >/dev/null
cmake --build "$build" -j"${FLOTILLA_BENCH_JOBS:-2}" --target flotilla flotilla-agent flotilla-coordinator flotilla-swarm

case $build in /*) bin=$build ;; *) bin="$root/$build" ;; esac
coordinator="$bin/coordinator/flotilla-coordinator"
agent_bin="$bin/agent/flotilla-agent"
flotilla_bin="$bin/coordinator/flotilla"
swarm_bin="$bin/agent/swarm/flotilla-swarm"
py="python3 $root/scripts/bench/bench.py"
work=$(mktemp -d /tmp/flotilla-bench.XXXXXX)
results="$work/results.jsonl"
notes="$work/notes.md"
: >"$results"
: >"$notes"
machine_load="n/a"

pids=()         # every process started here
app_dirs=()     # <apps_dir>/web of every host whose service may be running
cleanup() {
  set +e
  for d in "${app_dirs[@]}"; do
    for stop in "$d"/current/bin/stop "$d"/releases/*/bin/stop; do
      [ -x "$stop" ] && { "$stop" "$d" >/dev/null 2>&1; break; }
    done
  done
  stop_pids "${pids[@]}"
  pg_stop
  if [ "$keep" = 1 ]; then echo "bench: work directory kept: $work"; else rm -rf "$work"; fi
}
stop_pids() {  # TERM, wait up to 10 s, then KILL
  local p alive i
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 100); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
# shellcheck source=scripts/bench/ha.sh
. "$root/scripts/bench/ha.sh"
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# Seconds since $1 (a `now`), the end read before anything else starts: a python3 here would
# count its own start-up in the figure (~10 ms; ~0.1 s through a pyenv shim first in PATH).
since() {
  local t1
  t1=$(now)
  awk -v t0="$1" -v t1="$t1" 'BEGIN { printf "%.3f\n", t1 - t0 }'
}
say() { printf '\n== %s\n' "$*" >&2; }
note() { printf '%s\n' "$*" >>"$notes"; }
record() { $py record --results "$results" "$@"; }
field() { $py field "$1"; }
flotilla() { "$flotilla_bin" "$@"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# start_coordinator DIR [SED-EXPR...]: init, edit coordinator.toml, run; sets coord_pid.
start_coordinator() {
  local dir=$1; shift
  "$coordinator" init "$dir" --listen "tcp://127.0.0.1:$(free_port)" >/dev/null
  local e
  for e in "$@"; do sed -i -e "$e" "$dir/coordinator.toml"; done
  "$coordinator" run --config "$dir/coordinator.toml" >"$dir.log" 2>&1 &
  coord_pid=$!
  pids+=("$coord_pid")
  export FLOTILLA_CONTROL="ipc://$dir/control.sock"
  local i
  for i in $(seq 100); do
    flotilla --json --timeout 2 agents >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench: coordinator in $dir did not answer; see $dir.log" >&2
  exit 1
}
online_count() {
  flotilla --json --timeout 30 agents 2>/dev/null |
    python3 -c 'import json,sys; print(sum(a["state"]=="online" for a in json.load(sys.stdin)["agents"]))' 2>/dev/null || echo 0
}
wait_online() {  # wait_online N TIMEOUT_S
  local i
  for i in $(seq "$(($2 * 5))"); do
    [ "$(online_count)" -ge "$1" ] && return 0
    sleep 0.2
  done
  echo "bench: only $(online_count) of $1 agents online after $2 s" >&2
  return 1
}

# submit_wait NAME ARGS...: `flotilla --json ARGS...` submits a rollout (a plan, a flag push or a
# kill); wait until it ends. Sets rollout_id, rollout_json and submitted_ms (unix ms just before
# the command was started).
submit_wait() {
  local name=$1 t0 id
  shift
  t0=$(now)
  id=$(flotilla --json --timeout 60 "$@" | field id) || true  # a refusal is reported below, not fatal
  submitted_ms=$(python3 -c "import sys; print(round(float(sys.argv[1]) * 1000))" "$t0")
  if [ -z "$id" ]; then echo "bench: $name: flotilla $* failed" >&2; rollout_id=""; rollout_json="{}"; return 0; fi
  rollout_id=$id
  rollout_json=$($py wait-rollout --flotilla "$flotilla_bin" --id "$id" --start "$t0" --timeout 180)
  echo "$name: $rollout_json" >&2
}
run_rollout() { submit_wait "$2" rollout "$1"; }  # run_rollout PLAN NAME

swarm_plan() {  # swarm_plan VERSION SIZES TARGET_LABELS > plan
  cat <<TOML
app     = "fleet"
version = "$1"

[artifact]
file = "fleet.tar.gz"

[target]
labels = { $3 }

[waves]
sizes           = $2
max_parallel    = 100000
max_failed      = 0
max_unreachable = 0
bake            = "0s"
on_failure      = "halt"
deadline        = "2m"

[health]
interval    = "1s"
healthy_for = "0s"
deadline    = "10s"
TOML
}

$py machine >"$work/machine.json"
say "Benchmark in $work (load average $(cut -d' ' -f1-3 /proc/loadavg))"

if want a; then
# ------------------------------------------------------------------ (a) real agents vs Ansible
say "(a) 20 real agents: release 2 in waves [1, 10%, 50%, 100%]"
A="$work/a"
mkdir -p "$A"
start_coordinator "$A/coord"
hosts=()
ports=()
for i in $(seq -w 1 20); do hosts+=("web-$i"); done
declare -A port
start_agent() {  # start_agent ID LABEL [PORT]
  local id=$1 label=$2 p=${3:-}
  local vars=()
  [ -n "$p" ] && vars=(--var "PORT=$p")
  "$agent_bin" init "$A/agents/$id" --join "$A/coord/join.toml" --id "$id" --label "$label" "${vars[@]}" >/dev/null
  "$agent_bin" run --config "$A/agents/$id/agent.toml" >"$A/agent-$id.log" 2>&1 &
  agent_pid[$id]=$!
  pids+=("${agent_pid[$id]}")
  app_dirs+=("$A/agents/$id/apps/web")
}
declare -A agent_pid
for h in "${hosts[@]}"; do
  port[$h]=$(free_port)
  ports+=("${port[$h]}")
  start_agent "$h" role=web "${port[$h]}"
done
# FLOTILLA_BENCH_STRACE=web-20: trace that agent and its children (hooks, restart, checks) with
# timestamps, to see where a host's time goes (it slows that host down: profiling only).
if [ -n "${FLOTILLA_BENCH_STRACE:-}" ] && [ -n "${agent_pid[$FLOTILLA_BENCH_STRACE]:-}" ]; then
  strace -f -tt -T -qq -o "$A/strace-$FLOTILLA_BENCH_STRACE.txt" -p "${agent_pid[$FLOTILLA_BENCH_STRACE]}" 2>/dev/null &
  pids+=($!)
fi
port[idle-app]=$(free_port)
start_agent idle-app role=idle "${port[idle-app]}"
start_agent idle-bare role=bare
wait_online 22 60

# --rps 0: the example service makes no traffic of its own (default 50 req/s), which would skew the figures.
for v in 0 1 2; do examples/make-release.sh "$v" "$A/web-$v.tar.gz" --pad 200 --rps 0 >/dev/null; done
# healthy_for 0s: the agent needs one passing round of http + tcp checks, as Ansible's playbook
# does one wait_for + one uri check per host.
bench_plan=(--set 'max_parallel=20' --set 'bake="0s"' --set 'interval="50ms"' --set 'healthy_for="0s"' --drop-exec)
$py plan --template examples/plans/web.toml.in --version 0 --artifact web-0.tar.gz \
  --set 'sizes=["100%"]' --set 'bake="0s"' --target role=idle >"$A/web-0.toml"
$py plan --template examples/plans/web.toml.in --version 1 --artifact web-1.tar.gz \
  --set 'sizes=["100%"]' "${bench_plan[@]}" --target role=web >"$A/web-1.toml"
$py plan --template examples/plans/web.toml.in --version 2 --artifact web-2.tar.gz \
  --set 'sizes=[1, "10%", "50%", "100%"]' "${bench_plan[@]}" --target role=web >"$A/web-2.toml"
flotilla rollout "$A/web-0.toml" --watch >"$A/rollout-0.log" 2>&1 || { echo "bench: setup rollout of release 0 failed" >&2; cat "$A/rollout-0.log" >&2; exit 1; }
flotilla rollout "$A/web-1.toml" --watch >"$A/rollout-1.log" 2>&1 || { echo "bench: setup rollout of release 1 failed" >&2; cat "$A/rollout-1.log" >&2; exit 1; }

perf_a=""
if [ "${FLOTILLA_BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  # The whole machine while the rollout runs: which processes (agents, hooks, services) use the CPU.
  perf record -a -F 499 -o "$A/perf-a.data" >/dev/null 2>&1 &
  perf_a=$!
  sleep 1
fi
t0=$(now)
rc=0
flotilla rollout "$A/web-2.toml" --watch >"$A/rollout-2.log" 2>&1 || rc=$?
flotilla_s=$(since "$t0")
if [ -n "$perf_a" ]; then kill -INT "$perf_a" 2>/dev/null || true; wait "$perf_a" 2>/dev/null || true; fi
serving=$($py serves --ports "$(IFS=,; echo "${ports[*]}")" --version 2)
echo "flotilla: ${flotilla_s}s (exit $rc), $serving/20 hosts serve release 2" >&2
if [ "$rc" = 0 ] && [ "$serving" = 20 ]; then a_ok=1; else a_ok=0; fi
record --id a1 --what "real agents: ~200 KB release to 20 hosts, 4 waves, submission to done (${serving}/20 serve it)" \
  --num "$( [ $a_ok = 1 ] && echo "$flotilla_s" || echo failed)" --unit " s" \
  --target "see a3" --command "flotilla rollout web-2.toml --watch"

# Where the rollout's time went, per wave and phase (slowest host), from millisecond log lines.
rollout_id=$(sed -n 's/^rollout \([^ ]*\) submitted.*/\1/p' "$A/rollout-2.log" | head -1)
if [ -n "$rollout_id" ]; then
  $py phases --coord-log "$A/coord.log" --rollout "$rollout_id" "$A"/agent-web-*.log >"$A/phases.json" || true
  python3 - "$A/phases.json" >>"$notes" <<'PY' || true
import json, sys
doc = json.load(open(sys.argv[1]))
for w in doc["waves"]:
    steps = ", ".join(f"{k} {v}" for k, v in w["slowest_host_ms"].items())
    print(f"- (a1) wave {w['wave']} ({w['hosts']} hosts): {w['wall_ms']} ms; slowest host, ms: {steps}.")
PY
fi

say "(a) stopping the Flotilla fleet before the Ansible run"
fleet_pids=()
for h in "${hosts[@]}"; do fleet_pids+=("${agent_pid[$h]}"); done
stop_pids "${fleet_pids[@]}"
for h in "${hosts[@]}"; do "$A/agents/$h/apps/web/current/bin/stop" "$A/agents/$h/apps/web" >/dev/null 2>&1 || true; done

say "(a) Ansible: the same rolling update"
AN="$work/ansible"
mkdir -p "$AN/tmp"
inventory="$AN/hosts.ini"
echo "[web]" >"$inventory"
an_ports=()
for i in $(seq -w 1 20); do
  d="$AN/host$i/web"
  p=$(free_port)
  an_ports+=("$p")
  app_dirs+=("$d")
  mkdir -p "$d/releases/1"
  tar -xzf "$A/web-1.tar.gz" -C "$d/releases/1"
  ln -sfn releases/1 "$d/current"
  (cd "$d/releases/1" && env -i PATH=/usr/bin:/bin FLOTILLA_RELEASE_DIR="$d/releases/1" ./bin/restart "$p" >/dev/null)
  echo "host$i ansible_connection=local ansible_python_interpreter=/usr/bin/python3 app_root=$d port=$p" >>"$inventory"
done
# The PATH the agent gives its hooks (common::baseEnvironment): Ansible's command module passes
# the playbook's own on, and a pyenv shim first in it ran each bin/restart's python3 through
# pyenv (~0.1 s a start) and another interpreter than Flotilla's hooks get.
std_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
t0=$(now)
rc=0
PATH=$std_path ANSIBLE_CONFIG="$root/scripts/bench/ansible.cfg" ANSIBLE_LOCAL_TEMP="$AN/tmp" ANSIBLE_REMOTE_TEMP="$AN/tmp" \
  ANSIBLE_HOME="$AN/home" ansible-playbook -i "$inventory" scripts/bench/rolling-update.yml \
  -e version=2 -e "artifact=$A/web-2.tar.gz" >"$AN/playbook.log" 2>&1 || rc=$?
ansible_s=$(since "$t0")
an_serving=$($py serves --ports "$(IFS=,; echo "${an_ports[*]}")" --version 2)
echo "ansible: ${ansible_s}s (exit $rc), $an_serving/20 hosts serve release 2" >&2
if [ "$rc" != 0 ] || [ "$an_serving" != 20 ]; then tail -20 "$AN/playbook.log" >&2; ansible_s=failed; fi
record --id a2 --what "Ansible rolling update, same work, 20 hosts (${an_serving}/20 serve it)" --num "$ansible_s" --unit " s" \
  --target "52 s measured in DESIGN.md" --command "ansible-playbook -i hosts.ini scripts/bench/rolling-update.yml -e version=2"
ratio=$(python3 -c "import sys; print(round(float(sys.argv[1])/float(sys.argv[2]),1))" "$ansible_s" "$flotilla_s" 2>/dev/null || echo failed)
record --id a3 --what "speed-up of Flotilla over Ansible (a2 / a1)" --num "$ratio" --unit "x" --ge 20 \
  --target ">= 20x" --command "a2 / a1"
for d in "$AN"/host*/web; do "$d/current/bin/stop" "$d" >/dev/null 2>&1 || true; done
if ! want d; then
  stop_pids "${agent_pid[idle-app]}" "${agent_pid[idle-bare]}" "$coord_pid"
  "$A/agents/idle-app/apps/web/current/bin/stop" "$A/agents/idle-app/apps/web" >/dev/null 2>&1 || true
fi

fi

if want d; then
# ------------------------------------------------------------------ (d) idle real agent
say "(d) idle agents over 60 s"
$py procstat --window 60 "app=${agent_pid[idle-app]}" "bare=${agent_pid[idle-bare]}" >"$work/idle.json"
for which in app bare; do
  doc=$(field "$which" <"$work/idle.json")
  rss=$(echo "$doc" | field rss_kb)
  cpu=$(echo "$doc" | field cpu_pct)
  kids=$(echo "$doc" | field children_cpu_pct)
  if [ "$which" = app ]; then
    what="idle agent running the example app (http, tcp and exec checks every 5 s once live; the spawned checks used ${kids}% more)"
  else
    what="idle agent with no app (heartbeats only)"
  fi
  record --id "d-$which-rss" --what "$what: RSS" --num "$(python3 -c "print(round(${rss:-0}/1024,1))")" --unit " MB" --le 8 \
    --target "< 8 MB" --command "bench.py procstat --window 60 (VmRSS)"
  record --id "d-$which-cpu" --what "$what: CPU" --num "$cpu" --unit "% of a core" --fmt "{:.3f}" --le 0.1 \
    --target "< 0.1%" --command "bench.py procstat --window 60 (utime+stime)"
done
stop_pids "${agent_pid[idle-app]}" "${agent_pid[idle-bare]}" "$coord_pid"
"$A/agents/idle-app/apps/web/current/bin/stop" "$A/agents/idle-app/apps/web" >/dev/null 2>&1 || true

fi

if want b; then
# ------------------------------------------------------------------ (b), (c) swarm of N agents
say "(b) $agents simulated agents in $swarms flotilla-swarm processes"
B="$work/b"
mkdir -p "$B"
start_coordinator "$B/coord"
bcoord=$coord_pid
sleep 1
rss_base=$(rss_kb "$bcoord")
first=1000
rest=$(((agents - first) / (swarms - 1)))
swarm_pids=()
t_swarm=$(now)
for k in $(seq 0 $((swarms - 1))); do
  if [ "$k" = 0 ]; then n=$first; slice=a; else n=$rest; slice=b; fi
  [ "$k" = $((swarms - 1)) ] && [ "$k" != 0 ] && n=$((agents - first - rest * (swarms - 2)))
  "$swarm_bin" --join "$B/coord/join.toml" --agents "$n" --id-prefix "swarm-$k-" --label role=swarm --label "slice=$slice" \
    --connect-rate 150 --connect-window 32 --order-log "$B/orders-$k.log" --progress 1 \
    >"$B/swarm-$k.json" 2>"$B/swarm-$k.err" &
  swarm_pids+=($!)
  pids+=($!)
done
thresholds="1000,$((agents / 2)),$agents"
$py online --flotilla "$flotilla_bin" --start "$t_swarm" --thresholds "$thresholds" --timeout 300 >"$B/online.json"
for th in ${thresholds//,/ }; do
  s=$(field "reached_s.$th" <"$B/online.json")
  record --id "b-online-$th" --what "$th simulated agents online (from starting $swarms swarms)" --num "${s:-timeout}" --unit " s" \
    --target "$( [ "$th" = "$agents" ] && echo "10,000 held (~30 s of handshakes)" || echo "")" \
    --command "flotilla-swarm x$swarms; poll flotilla --json agents"
done
machine_load=$(cut -d' ' -f1-3 /proc/loadavg)
online=$(field online <"$B/online.json")
if [ "${online:-0}" -lt "$agents" ]; then
  note "- Only ${online:-0} of $agents agents were online when the wait ended; (b) and (c) ran with those."
fi

say "(c) coordinator with $agents agents heartbeating every 5 s"
sleep 6
perf_c=""
if [ "${FLOTILLA_BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  perf record -F 499 -g -p "$bcoord" -o "$B/perf-c.data" -- sleep 20 >/dev/null 2>&1 &
  perf_c=$!
fi
swarm_stat_args=()
for k in "${!swarm_pids[@]}"; do swarm_stat_args+=("swarm$k=${swarm_pids[$k]}"); done
$py procstat --window 30 "coord=$bcoord" "${swarm_stat_args[@]}" >"$B/steady.json"
[ -n "$perf_c" ] && wait "$perf_c" 2>/dev/null || true
cdoc=$(field coord <"$B/steady.json")
ccpu=$(echo "$cdoc" | field cpu_pct)
crss=$(echo "$cdoc" | field rss_kb)
per_agent=$(python3 -c "print(round(($crss-$rss_base)/$agents,1))")
record --id c1 --what "coordinator CPU, $online agents heartbeating every 5 s (threads: $($py threads coord <"$B/steady.json"))" \
  --num "$ccpu" --unit "% of a core" --fmt "{:.1f}" --command "bench.py procstat --window 30 (coordinator)"
record --id c2 --what "coordinator RSS with $online agents (before any agent: $((rss_base / 1024)) MB)" \
  --num "$(python3 -c "print(round($crss/1024,1))")" --unit " MB" --command "VmRSS of flotilla-coordinator"
record --id c3 --what "coordinator memory per connected agent, all included" --num "$per_agent" --unit " KB" --le 32 \
  --target "<= 32 KB" --command "(c2 - RSS before) / $agents"
swarm_cpu=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(sum(v.get('cpu_pct',0) for k,v in d.items() if k!='coord'),1))" "$B/steady.json")
note "- While (c) was measured the $swarms swarm processes used ${swarm_cpu}% of a core together (their CURVE, ZMTP pings and heartbeats)."

say "(b) dispatch: one wave of $agents hosts"
examples/make-release.sh 1 "$B/fleet.tar.gz" >/dev/null
swarm_plan d1 '["100%"]' 'role = "swarm"' >"$B/dispatch.toml"
b_dispatch_load=$(cut -d' ' -f1-3 /proc/loadavg)  # for (p)'s comparison
run_rollout "$B/dispatch.toml" dispatch
sleep 1  # the swarms flush their order logs every loop; give the last lines a moment
$py dispatch --coord-log "$B/coord.log" --rollout "$rollout_id" --hosts "$online" "$B"/orders-*.log >"$B/dispatch.json"
echo "dispatch: $(cat "$B/dispatch.json")" >&2
last=$(field last_s <"$B/dispatch.json")
nver=$(field verified_hosts <"$B/dispatch.json")
record --id b-dispatch --what "wave start -> all of a $online-host wave hold a verified order ($nver verified; p50 $(field p50_s <"$B/dispatch.json") s)" \
  --num "${last:-failed}" --unit " s" --fmt "{:.2f}" --le 1 --target "<= 1 s" \
  --command "coordinator log wave_started -> swarm --order-log 'verified'"
note "- The one-wave rollout of (b-dispatch) ended $(echo "$rollout_json" | field state) after $(echo "$rollout_json" | field wall_s) s (coordinator: $(echo "$rollout_json" | field coordinator_duration_s) s)."

say "(b) zero-bake four-wave rollouts"
swarm_plan w1k '[1, "10%", "50%", "100%"]' 'slice = "a"' >"$B/four-1k.toml"
run_rollout "$B/four-1k.toml" four-1k
w=$(echo "$rollout_json" | field wall_s)
[ "$(echo "$rollout_json" | field state)" = succeeded ] || w="failed ($(echo "$rollout_json" | field state))"
record --id b-4w-1k --what "zero-bake 4-wave rollout to 1,000 simulated agents, submission to done (coordinator: $(echo "$rollout_json" | field coordinator_duration_s) s)" \
  --num "$w" --unit " s" --fmt "{:.2f}" --command "flotilla --json rollout four-1k.toml; poll flotilla --json status"
swarm_plan w10k '[1, "10%", "50%", "100%"]' 'role = "swarm"' >"$B/four-10k.toml"
run_rollout "$B/four-10k.toml" four-10k
w=$(echo "$rollout_json" | field wall_s)
[ "$(echo "$rollout_json" | field state)" = succeeded ] || w="failed ($(echo "$rollout_json" | field state))"
record --id b-4w-10k --what "zero-bake 4-wave rollout to $online simulated agents, submission to done (coordinator: $(echo "$rollout_json" | field coordinator_duration_s) s)" \
  --num "$w" --unit " s" --fmt "{:.2f}" --le 5 --target "<= 5 s" \
  --command "flotilla --json rollout four-10k.toml; poll flotilla --json status"
stop_pids "${swarm_pids[@]}"
for k in $(seq 0 $((swarms - 1))); do
  v=$(field receipt_to_verified.p50_ms <"$B/swarm-$k.json")
  [ -n "$v" ] && note "- swarm $k: order receipt -> verified p50 ${v} ms, p99 $(field receipt_to_verified.p99_ms <"$B/swarm-$k.json") ms; $(field send_dropped <"$B/swarm-$k.json") sends dropped."
done
stop_pids "$bcoord"

fi

if want p; then section_p "$work/b/dispatch.json"; fi

if want e; then
# ------------------------------------------------------------------ (e) heartbeat rate on one core
# The load generator shares the two cores with the coordinator, so the coordinator cannot be
# driven to 100% here. Instead: offer a rate the coordinator keeps up with (no send drops, RSS
# flat), measure the CPU it spends per message over a window, and give the rate that one fully
# busy core would sustain: offered / CPU share. Both the reactor thread alone (decode, lookup,
# bookkeeping) and the whole process (plus CURVE decryption in the libzmq I/O thread) are given.
say "(e) heartbeats per second on one core"
E="$work/e"
mkdir -p "$E"
hb_agents=1000
start_coordinator "$E/coord" 's/^heartbeat_interval = .*/heartbeat_interval = "50ms"/' \
  's/^heartbeat_expiry = .*/heartbeat_expiry = "30s"/'
ecoord=$coord_pid
e_pids=()
for k in 0 1; do
  "$swarm_bin" --join "$E/coord/join.toml" --agents $((hb_agents / 2)) --id-prefix "hb-$k-" --label role=hb \
    --connect-rate 200 --connect-window 32 --progress 1 >"$E/swarm-$k.json" 2>"$E/swarm-$k.err" &
  e_pids+=($!)
  pids+=($!)
done
wait_online "$hb_agents" 120 || true
sleep 3
rss_e0=$(rss_kb "$ecoord")
perf_e=""
if [ "${FLOTILLA_BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  perf record -F 499 -g -p "$ecoord" -o "$E/perf-e.data" -- sleep 10 >/dev/null 2>&1 &
  perf_e=$!
fi
$py procstat --window 20 "coord=$ecoord" "swarm0=${e_pids[0]}" "swarm1=${e_pids[1]}" >"$E/stat.json" &
stat_pid=$!
$py swarm-rate --window 20 "$E/swarm-0.err" "$E/swarm-1.err" >"$E/rate.json"
wait "$stat_pid"
[ -n "$perf_e" ] && wait "$perf_e" 2>/dev/null || true
rss_e1=$(rss_kb "$ecoord")
rate=$(field msgs_per_s <"$E/rate.json")
edoc=$(field coord <"$E/stat.json")
main_cpu=$(echo "$edoc" | python3 -c 'import json,sys; t=[x for x in json.load(sys.stdin)["threads"] if x["comm"].startswith("flotilla")]; print(t[0]["cpu_pct"] if t else 0)')
io_cpu=$(echo "$edoc" | python3 -c 'import json,sys; print(round(sum(x["cpu_pct"] for x in json.load(sys.stdin)["threads"] if x["comm"].startswith("ZMQbg/IO")),1))')
ecpu=$(echo "$edoc" | field cpu_pct | python3 -c 'import sys; print(round(float(sys.stdin.read() or 0), 1))')
per_core() { python3 -c "import sys; r,c=float(sys.argv[1]),float(sys.argv[2]); print(round(r*100/c) if c>0 else 0)" "${rate:-0}" "$1"; }
record --id e1 --what "heartbeats offered by $hb_agents agents every 50 ms (coordinator: reactor thread ${main_cpu}%, I/O thread ${io_cpu}%, process ${ecpu}% of a core; RSS $((rss_e0 / 1024)) -> $((rss_e1 / 1024)) MB; $(field send_dropped <"$E/rate.json") dropped)" \
  --num "${rate:-0}" --unit " msg/s" --fmt "{:.0f}" --command "flotilla-swarm x2 (heartbeat_interval 50ms); bench.py swarm-rate --window 20"
record --id e2 --what "heartbeats per second at 100% of the reactor thread (e1 / reactor CPU share)" \
  --num "$(per_core "$main_cpu")" --unit " msg/s" --fmt "{:.0f}" --ge 50000 --target ">= 50,000/s on one core" --command "e1 * 100 / reactor CPU %"
record --id e3 --what "heartbeats per second at 100% of one core for the whole coordinator, CURVE included (e1 / process CPU share)" \
  --num "$(per_core "$ecpu")" --unit " msg/s" --fmt "{:.0f}" --ge 50000 --target ">= 50,000/s on one core" --command "e1 * 100 / process CPU %"
stop_pids "${e_pids[@]}" "$ecoord"

fi

if want g; then
# ------------------------------------------------------------------ (g) the release judge
# Pure computation on seeded data (the setups are described in tests/bench/judge_bench.cpp).
# The program is defined with the tests: configure them in for this one target, then back out.
say "(g) the release judge on seeded synthetic data"
cmake -S . -B "$build" -DFLOTILLA_TESTS=ON >/dev/null
cmake --build "$build" -j"${FLOTILLA_BENCH_JOBS:-2}" --target flotilla-judge-bench >/dev/null
cmake -S . -B "$build" -DFLOTILLA_TESTS=OFF >/dev/null
"$bin/tests/flotilla-judge-bench" >"$work/judge.tsv"
while IFS=$'\t' read -r id value unit what; do
  printf '%s: %s%s\n' "$what" "$value" "$unit" >&2
  record --id "$id" --what "$what" --num "$value" --unit "$unit" --command "flotilla-judge-bench (tests/bench/judge_bench.cpp)"
done <"$work/judge.tsv"
fi

if want h; then
# ------------------------------------------------------------------ (h) analysis of a 1,000-host wave
# 2,000 swarm agents answer SampleRequests with synthetic samples, canary equal to baseline; the
# plan's first wave is 1,000 hosts (baseline: 100 hosts of the second wave), no bake of its own,
# so it bakes the analysis window: (min_samples + 1) x interval = 4 s. The events API has seconds
# only: the end of the bake (wave_baking + the bake it announces) and the verdict come from the
# coordinator's millisecond log lines (bench.py verdict-time).
say "(h) release analysis: end of the bake -> verdict for a 1,000-host wave of swarm agents"
H="$work/h"
mkdir -p "$H"
h_agents=2000
h_http="127.0.0.1:$(free_port)"
start_coordinator "$H/coord" "s/^http = .*/http = \"$h_http\"/"
hcoord=$coord_pid
h_pids=()
for k in 0 1; do
  "$swarm_bin" --join "$H/coord/join.toml" --agents $((h_agents / 2)) --id-prefix "an-$k-" --label role=analysed \
    --connect-rate 200 --connect-window 32 --report-probation --seed $((k + 1)) \
    --sample-level 0.05 --sample-spread 0.1 --sample-canary-shift 0 --sample-requests 1000 \
    >"$H/swarm-$k.json" 2>"$H/swarm-$k.err" &
  h_pids+=($!)
  pids+=($!)
done
wait_online "$h_agents" 120 || true
h_online=$(online_count)
examples/make-release.sh 1 "$H/fleet.tar.gz" --rps 0 >/dev/null
# The swarm sends, per metric kind: rate with per -> num = value x requests, den = requests; gauge
# -> value; histogram -> value (the quantile) and num = requests. The scrape URL is not read.
swarm_plan h1 '[1000, "100%"]' 'role = "analysed"' >"$H/analysed.toml"
cat >>"$H/analysed.toml" <<'TOML'

[analysis]
interval       = "1s"
min_samples    = 3
pass_score     = 95
marginal_score = 75

[[analysis.metric]]
name      = "error_ratio"
scrape    = "http://127.0.0.1:9100/metrics"
rate      = 'http_requests_total{code=~"5.."}'
per       = 'http_requests_total'
direction = "increase"
tolerance = "25%"
critical  = true

[[analysis.metric]]
name      = "in_flight"
scrape    = "http://127.0.0.1:9100/metrics"
gauge     = 'http_requests_in_flight'
tolerance = "50%"

[[analysis.metric]]
name      = "latency_p90"
scrape    = "http://127.0.0.1:9100/metrics"
histogram = 'http_request_duration_seconds'
quantile  = 0.9
tolerance = "25%"
TOML
t0=$(now)
h_id=$(flotilla --json --timeout 60 rollout "$H/analysed.toml" | field id)
h_stat="{}"
if [ -n "$h_id" ]; then
  # The coordinator's CPU and RSS while the first wave bakes (every canary and baseline host sampling).
  for i in $(seq 1200); do
    grep -q "\[$h_id\] wave_baking" "$H/coord.log" 2>/dev/null && break
    sleep 0.1
  done
  h_bake_s=$(sed -n "s/.*\[$h_id\] wave_baking: bake \([0-9]*\)s.*/\1/p" "$H/coord.log" | head -1)
  perf_h=""
  if [ "${FLOTILLA_BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
    perf record -F 999 -g -p "$hcoord" -o "$H/perf-h.data" -- sleep "$((${h_bake_s:-4} + 1))" >/dev/null 2>&1 &
    perf_h=$!
  fi
  h_stat=$($py procstat --window "${h_bake_s:-4}" "coord=$hcoord")
  [ -n "$perf_h" ] && wait "$perf_h" 2>/dev/null || true
  rollout_json=$($py wait-rollout --flotilla "$flotilla_bin" --id "$h_id" --start "$t0" --timeout 180)
  echo "analysed rollout: $rollout_json" >&2
  flotilla --json analysis "$h_id" >"$H/analysis.json" 2>/dev/null || true
else
  echo "bench: submitting $H/analysed.toml failed" >&2
  rollout_json="{}"
fi
stop_pids "${h_pids[@]}"
h_dropped=$(curl -fsS --max-time 10 "http://$h_http/metrics" 2>/dev/null | awk '$1 == "flotilla_analysis_dropped_samples_total" {print $2}')
stop_pids "$hcoord"
h_sent=0
h_lost=0
for k in 0 1; do
  v=$(field samples.sent <"$H/swarm-$k.json")
  h_sent=$((h_sent + ${v:-0}))
  v=$(field samples.dropped <"$H/swarm-$k.json")
  h_lost=$((h_lost + ${v:-0}))
done
$py verdict-time --coord-log "$H/coord.log" --rollout "${h_id:-none}" --db "$H/coord/flotilla.db" >"$H/verdict.json" ||
  echo '{}' >"$H/verdict.json"
echo "verdict time: $(cat "$H/verdict.json")" >&2
w0=$(field waves.0 <"$H/verdict.json")
h_ms=$(echo "$w0" | field bake_end_to_verdict_ms)
h_outcome=$(echo "$w0" | field outcome)
h_canary=$(echo "$w0" | field samples.canary)
h_baseline=$(echo "$w0" | field samples.baseline)
h_chosts=$(echo "$w0" | field sampling_hosts.canary)
h_bhosts=$(echo "$w0" | field sampling_hosts.baseline)
record --id h1 --what "analysed wave of 1,000 swarm agents ($h_online online, 3 metrics, interval 1s, min_samples 3): end of the bake (${h_bake_s:-?} s) -> verdict" \
  --num "${h_ms:-failed}" --unit " ms" --fmt "{:.0f}" \
  --command "coordinator log: wave_baking + its bake -> analysis_verdict (bench.py verdict-time)"
h_stored=$(python3 -c 'import json,sys; print(sum(sum(w.get("samples", {}).values()) for w in json.load(open(sys.argv[1])).get("waves", [])))' "$H/verdict.json")
record --id h2 --what "samples stored for that wave: canary ${h_canary:-0} from ${h_chosts:-0} hosts, baseline ${h_baseline:-0} from ${h_bhosts:-0} hosts (both waves: the swarms sent $h_sent, $h_stored stored, ${h_dropped:-?} dropped by the coordinator as not asked for (another wave, or after the verdict); $h_lost not sent while offline)" \
  --num "$(( ${h_canary:-0} + ${h_baseline:-0} ))" --unit " samples" --fmt "{:.0f}" \
  --command "SELECT count(*) FROM analysis_samples WHERE wave = 0 (flotilla.db)"
record --id h3 --what "its verdict, canary equal to baseline ($(echo "$w0" | field message | cut -c1-60))" \
  --value "${h_outcome:-none}" --verdict "$( [ "$h_outcome" = pass ] && echo met || echo missed)" --target "pass" \
  --command "flotilla --json analysis ROLLOUT"
hdoc=$(echo "$h_stat" | field coord)
h_peak=$(echo "$hdoc" | field peak_rss_kb)
record --id h4 --what "coordinator CPU while that wave bakes ($(( ${h_chosts:-0} + ${h_bhosts:-0} )) hosts sampling every 1 s; threads: $(echo "$h_stat" | $py threads coord))" \
  --num "$(echo "$hdoc" | field cpu_pct)" --unit "% of a core" --fmt "{:.1f}" --command "bench.py procstat --window ${h_bake_s:-4} (coordinator)"
record --id h5 --what "coordinator peak RSS while that wave bakes" \
  --num "$(python3 -c "print(round(${h_peak:-0}/1024,1))")" --unit " MB" --command "VmRSS of flotilla-coordinator"
w1=$(field waves.1 <"$H/verdict.json")
[ -n "$w1" ] && note "- (h) the second wave (1,000 hosts, no host left on the previous release, so no baseline) got its verdict ($(echo "$w1" | field outcome)) $(echo "$w1" | field bake_end_to_verdict_ms) ms after the end of its bake; the rollout ended $(echo "$rollout_json" | field state) after $(echo "$rollout_json" | field wall_s) s."
fi

if want i; then
# ------------------------------------------------------------------ (i) feature flags on N swarm agents
# The app is deployed once (a host takes an app's flag set only once it runs the app), a first
# flag set shipped dark (not timed); then the figures: a flag change pushed in one wave of 100%,
# and a kill of that flag. Per host, from the submission (this script's clock just before the
# command) to the host's terminal report in the swarms' order logs (bench.py dispatch, as
# b-dispatch); the coordinator's own view (`flotilla flags show`: the flag set each host's
# heartbeat lists) then checks that every host runs the new set.
say "(i) feature flags: a flag change in one wave and a kill, $agents simulated agents"
I="$work/i"
mkdir -p "$I"
start_coordinator "$I/coord"
icoord=$coord_pid
i_pids=()
per=$(((agents + swarms - 1) / swarms))
t_swarm=$(now)
for k in $(seq 0 $((swarms - 1))); do
  n=$per
  [ "$k" = $((swarms - 1)) ] && n=$((agents - per * (swarms - 1)))
  "$swarm_bin" --join "$I/coord/join.toml" --agents "$n" --id-prefix "flag-$k-" --label role=flagged \
    --connect-rate 150 --connect-window 32 --order-log "$I/orders-$k.log" \
    >"$I/swarm-$k.json" 2>"$I/swarm-$k.err" &
  i_pids+=($!)
  pids+=($!)
done
$py online --flotilla "$flotilla_bin" --start "$t_swarm" --thresholds "$agents" --timeout 300 >"$I/online.json"
i_online=$(field online <"$I/online.json")
echo "(i) $i_online of $agents online after $(field "reached_s.$agents" <"$I/online.json") s" >&2
[ "${i_online:-0}" -lt "$agents" ] && note "- (i) only ${i_online:-0} of $agents agents were online when the wait ended; (i) ran with those."
i_load=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$machine_load" = n/a ] && machine_load=$i_load
examples/make-release.sh 1 "$I/fleet.tar.gz" --rps 0 >/dev/null
swarm_plan i1 '["100%"]' 'role = "flagged"' >"$I/fleet.toml"
run_rollout "$I/fleet.toml" fleet-deploy
cat >"$I/flags-dark.json" <<'JSON'
{"flags": {"new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}
JSON
cat >"$I/flags-on.json" <<'JSON'
{"flags": {"new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                            "targeting": {"fractional": [["on", 50], ["off", 50]]}}}}
JSON
submit_wait flags-dark flags push fleet "$I/flags-dark.json" --waves 100%
# flag_hosts VERSION: how many hosts the coordinator sees running that flag set (their heartbeats),
# polled until all i_online do, for at most 10 s.
flag_hosts() {
  local n=0 i
  for i in $(seq 20); do
    n=$(flotilla --json --timeout 30 flags show fleet 2>/dev/null |
      python3 -c 'import json,sys; v=sys.argv[1]; print(sum(x["hosts"] for x in json.load(sys.stdin)["versions"] if x["version"]==v))' "$1" 2>/dev/null || echo 0)
    [ "${n:-0}" -ge "$i_online" ] && break
    sleep 0.5
  done
  echo "${n:-0}"
}
# flag_latency NAME: per-host figures of the rollout submit_wait just ran, to $I/NAME.json.
flag_latency() {
  sleep 1  # the swarms flush their order logs every loop; give the last lines a moment
  $py dispatch --coord-log "$I/coord.log" --rollout "${rollout_id:-none}" --hosts "$i_online" \
    --events healthy,reverted,failed --from-ms "$submitted_ms" "$I"/orders-*.log >"$I/$1.json"
  echo "$1: $(cat "$I/$1.json")" >&2
}
i_events() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])).get("events") or {}; print(", ".join(f"{v} {k}" for k, v in sorted(d.items())) or "none")' "$1"; }
i_state() { [ "$(echo "$rollout_json" | field state)" = succeeded ] && echo "$1" || echo "failed ($(echo "$rollout_json" | field state))"; }

say "(i) a flag change pushed in one wave of 100%"
i_load=$(cut -d' ' -f1-3 /proc/loadavg)
submit_wait flags-on flags push fleet "$I/flags-on.json" --waves 100%
push_version=$(flotilla --json status "${rollout_id:-none}" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("rollout", d).get("version", ""))' 2>/dev/null || true)
flag_latency push
push_hosts=$(flag_hosts "$push_version")
record --id i-push --what "flag change in one wave of 100% to $i_online simulated agents: submission -> the last host's terminal report ($(field hosts_seen <"$I/push.json") hosts reported: $(i_events "$I/push.json"); p50 $(field p50_s <"$I/push.json") s, p99 $(field p99_s <"$I/push.json") s; rollout done after $(echo "$rollout_json" | field wall_s) s; $push_hosts hosts heartbeat the new set; load $i_load)" \
  --num "$(i_state "$(field last_s <"$I/push.json")")" --unit " s" --fmt "{:.2f}" --le 5 --target "< 5 s (issue 13)" \
  --command "flotilla flags push fleet flags-on.json --waves 100%; swarm --order-log (bench.py dispatch --events healthy,reverted,failed --from-ms SUBMIT)"

say "(i) the kill switch"
i_load=$(cut -d' ' -f1-3 /proc/loadavg)
perf_i=""
if [ "${FLOTILLA_BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  perf record -F 999 -g -p "$icoord" -o "$I/perf-i.data" >/dev/null 2>&1 &
  perf_i=$!
  sleep 1
fi
submit_wait flags-kill flags kill fleet new-checkout
if [ -n "$perf_i" ]; then kill -INT "$perf_i" 2>/dev/null || true; wait "$perf_i" 2>/dev/null || true; fi
kill_version=$(flotilla --json status "${rollout_id:-none}" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("rollout", d).get("version", ""))' 2>/dev/null || true)
flag_latency kill
kill_hosts=$(flag_hosts "$kill_version")
kill_cmd="flotilla flags kill fleet new-checkout; swarm --order-log (bench.py dispatch --events healthy,reverted,failed --from-ms SUBMIT)"
kill_what="kill switch to $i_online simulated agents, per host: submission -> terminal report ($(field hosts_seen <"$I/kill.json") hosts reported: $(i_events "$I/kill.json"); rollout done after $(echo "$rollout_json" | field wall_s) s; $kill_hosts hosts heartbeat the killed set; load $i_load)"
record --id i-kill-p50 --what "$kill_what: p50" --num "$(i_state "$(field p50_s <"$I/kill.json")")" --unit " s" --fmt "{:.2f}" \
  --le 2 --target "< 2 s (issue 13)" --command "$kill_cmd"
record --id i-kill-p99 --what "the same: p99" --num "$(i_state "$(field p99_s <"$I/kill.json")")" --unit " s" --fmt "{:.2f}" \
  --le 2 --target "< 2 s (issue 13)" --command "$kill_cmd"
record --id i-kill-max --what "the same: the last host" --num "$(i_state "$(field last_s <"$I/kill.json")")" --unit " s" --fmt "{:.2f}" \
  --command "$kill_cmd"
stop_pids "${i_pids[@]}" "$icoord"
fi

if want o; then
# ------------------------------------------------------------------ (o) OFREP on a real agent
# flotilla-ofrep-bench is defined with the tests, like flotilla-judge-bench in (g).
say "(o) OFREP: evaluations per second on one core of a real agent, and its RSS"
cmake -S . -B "$build" -DFLOTILLA_TESTS=ON >/dev/null
cmake --build "$build" -j"${FLOTILLA_BENCH_JOBS:-2}" --target flotilla-ofrep-bench >/dev/null
cmake -S . -B "$build" -DFLOTILLA_TESTS=OFF >/dev/null
"$root/scripts/bench/ofrep_bench.sh" "$bin" 10 4 >"$work/ofrep.json" || echo '{}' >"$work/ofrep.json"
echo "ofrep: $(cat "$work/ofrep.json")" >&2
record --id o1 --what "OFREP single-flag evaluations per second, agent on one core (4 keep-alive clients on the other; agent CPU $(field agent_cpu_pct <"$work/ofrep.json")%, $(field errors <"$work/ofrep.json") errors)" \
  --num "$(field evaluations_per_second <"$work/ofrep.json")" --unit " /s" --fmt "{:.0f}" \
  --command "scripts/bench/ofrep_bench.sh (flotilla-ofrep-bench load, 10 s)"
record --id o2 --what "agent RSS with the OFREP endpoint on and a flag set loaded, idle (of which its own, RssAnon: $(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1])).get('idle_rss_anon_kb', 0)/1024, 1))" "$work/ofrep.json") MB)" \
  --num "$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1])).get('idle_rss_kb', 0)/1024, 1))" "$work/ofrep.json")" \
  --unit " MB" --command "VmRSS of flotilla-agent (compare d-bare-rss: the same agent without the endpoint)"
record --id o3 --what "agent peak RSS under that load" \
  --num "$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1])).get('peak_rss_kb', 0)/1024, 1))" "$work/ofrep.json")" \
  --unit " MB" --command "VmHWM of flotilla-agent"
fi

if want j; then section_j; fi
if want k; then section_k; fi

# ------------------------------------------------------------------ report
python3 - "$work/machine.json" "$machine_load" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["loadavg_10k"] = sys.argv[2]
json.dump(m, open(sys.argv[1], "w"))
PY
if [ -f "$root/scripts/bench/notes.md" ]; then
  { echo; cat "$root/scripts/bench/notes.md"; } >>"$notes"
fi
if want f; then
say "(f) uploading a 2 GB artifact: peak memory of the console and the coordinator"
up="$work/upload.json"
python3 "$root/scripts/bench/upload_bench.py" --bin "$bin" --size 2000000000 >"$up" || echo '{}' >"$up"
up_console=$(field console_peak_rss_kb <"$up")
up_coord=$(field coordinator_peak_rss_kb <"$up")
record --id f1 --what "console peak RSS uploading a 2 GB artifact ($(field seconds <"$up") s, stored: $(field stored <"$up"))" \
  --num "$(python3 -c "print(round(${up_console:-0}/1024,1))")" --unit " MB" --le 64 --target "< 64 MB" \
  --command "scripts/bench/upload_bench.py (ru_maxrss)"
record --id f2 --what "coordinator peak RSS receiving a 2 GB artifact" \
  --num "$(python3 -c "print(round(${up_coord:-0}/1024,1))")" --unit " MB" --le 64 --target "< 64 MB" \
  --command "scripts/bench/upload_bench.py (VmHWM)"
fi

say "Results"
$py render --results "$results" --machine "$work/machine.json" --notes "$notes" --out "$out"
echo
echo "bench: written to $out"
