#!/usr/bin/env bash
# A failover end to end, on this machine (docs/ha.md): a PostgreSQL 15 in a
# temporary directory on a loopback port, coordinator A leading and
# coordinator B standing by on it (`flotilla-coordinator init B --from A`),
# three agents given both coordinators (B's join.toml lists both), each
# running the example service. Release 1 goes everywhere; release 2 rolls out
# in waves, watched by a console given both control endpoints. While its
# canary wave bakes, A is killed with SIGKILL: B takes the lease when it
# expires, resumes the rollout, the agents and the watch find B by
# themselves, and the rollout succeeds with no host deployed twice. Prints
# each step with the measured times; exits 0 only if every check holds.
# Everything it started is stopped and its directories removed on exit, also
# on failure (--keep leaves the directories behind).
#
# Usage: scripts/demo.sh --ha [--keep], which builds the programs (or takes
# them from FLOTILLA_DEMO_BIN) and runs this script with FLOTILLA_DEMO_BIN set
# to their build tree and FLOTILLA_DEMO_KEEP=1 for --keep.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${FLOTILLA_DEMO_BIN:?run scripts/demo.sh --ha}
keep=${FLOTILLA_DEMO_KEEP:-0}
coordinator="$bin/coordinator/flotilla-coordinator"
agent="$bin/agent/flotilla-agent"
pgbin=/usr/lib/postgresql/15/bin
if [ ! -x "$pgbin/postgres" ]; then
  echo "demo --ha: PostgreSQL 15 is not installed ($pgbin/postgres); scripts/bootstrap.sh installs it" >&2
  exit 1
fi

work=$(mktemp -d /tmp/flotilla-demo-ha.XXXXXX)
# PostgreSQL refuses to run as root: as root its directory belongs to the
# postgres user and it runs as that user. Apart from $work, which stays 0700.
pgdir=$(mktemp -d /tmp/flotilla-demo-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres:postgres "$pgdir"
  as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
control_a="ipc://$work/coord-a/control.sock"
control_b="ipc://$work/coord-b/control.sock"
export FLOTILLA_CONTROL="$control_a,$control_b"
flotilla() { "$bin/coordinator/flotilla" "$@"; }
flotilla_b() { "$bin/coordinator/flotilla" --control "$control_b" "$@"; }

hosts=(web-1 web-2 web-3)
declare -A port
pg_pid="" pid_a="" pid_b="" watch_pid=""
agent_pids=()
cleanup() {
  set +e
  trap '' INT TERM
  # The agents first (killed: one stopped gently would finish or revert the
  # step in hand, which may start a service), then the services they started.
  for p in $watch_pid "${agent_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in $watch_pid "${agent_pids[@]}"; do wait "$p" 2>/dev/null; done
  for h in "${hosts[@]}"; do
    stop="$work/agents/$h/apps/web/current/bin/stop"
    [ -x "$stop" ] && "$stop" "$work/agents/$h/apps/web" >/dev/null 2>&1
  done
  for p in $pid_a $pid_b; do kill "$p" 2>/dev/null; done
  for p in $pid_a $pid_b; do wait "$p" 2>/dev/null; done
  if [ -n "$pg_pid" ]; then
    kill -INT "$pg_pid" 2>/dev/null  # fast shutdown
    wait "$pg_pid" 2>/dev/null
  fi
  if [ "$keep" = 1 ]; then
    echo "demo --ha: fleet left in $work, PostgreSQL's directory in $pgdir"
  else
    rm -rf "$work" "$pgdir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }
failures=0
check() {  # check "what" command...
  local what=$1; shift
  if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what"; failures=$((failures + 1)); fi
}
say() { printf '\n== %s\n' "$*"; }
# wait_for SECONDS WHAT command...: polls the command every 0.1 s; fails the demo after SECONDS.
wait_for() {
  local limit=$1 what=$2 deadline
  shift 2
  deadline=$(($(now_ms) + limit * 1000))
  until "$@"; do
    if [ "$(now_ms)" -gt "$deadline" ]; then
      echo "demo --ha: gave up after ${limit} s waiting for $what; logs in $work (kept)" >&2
      keep=1
      exit 1
    fi
    sleep 0.1
  done
}
healthz() { curl -s --noproxy '*' -m 2 "http://127.0.0.1:$1/healthz" || true; }
leads() { case "$(healthz "$1")" in "ok: leader"*) return 0 ;; *) return 1 ;; esac; }
stands_by() { case "$(healthz "$1")" in "ok: standby"*) return 0 ;; *) return 1 ;; esac; }
online_count() {  # online_count CONSOLE...: how many agents that console lists online
  "$@" --json agents 2>/dev/null |
    python3 -c 'import json,sys; print(sum(a["state"]=="online" for a in json.load(sys.stdin)["agents"]))' 2>/dev/null ||
    echo 0
}
all_online() { [ "$(online_count "$@")" = "${#hosts[@]}" ]; }

say "PostgreSQL 15 in $pgdir"
pg_port=$(free_port)
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -U flotilla --auth=trust -E UTF8 --locale=C --no-sync >"$work/initdb.log" 2>&1
"${as_pg[@]}" "$pgbin/postgres" -D "$pgdir/data" -p "$pg_port" -k "$pgdir" -c listen_addresses=127.0.0.1 \
  -c fsync=off >"$work/postgres.log" 2>&1 &
pg_pid=$!
wait_for 60 "PostgreSQL to accept connections" "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"
"$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U flotilla flotilla
url="postgresql://flotilla@127.0.0.1:$pg_port/flotilla"
echo "store.url = \"$url\""

say "Coordinator A leads, coordinator B stands by (init B --from A), lease_ttl 3s"
http_a=$(free_port)
http_b=$(free_port)
"$coordinator" init "$work/coord-a" --listen "tcp://127.0.0.1:$(free_port)" --http "127.0.0.1:$http_a" >/dev/null
sed -i "s|^file = 'flotilla.db'|url = \"$url\"\nfile = 'flotilla.db'|" "$work/coord-a/coordinator.toml"
printf '\n[leadership]\nlease_ttl = "3s"\n' >>"$work/coord-a/coordinator.toml"
# init wrote its join token into a SQLite file: one in PostgreSQL, for join.toml (docs/postgresql.md).
token=$("$coordinator" token create --config "$work/coord-a/coordinator.toml" --ttl 1h)
sed -i "s|^token = .*|token = \"$token\"|" "$work/coord-a/join.toml"
"$coordinator" init "$work/coord-b" --from "$work/coord-a" --listen "tcp://127.0.0.1:$(free_port)" \
  --http "127.0.0.1:$http_b" >/dev/null
"$coordinator" run --config "$work/coord-a/coordinator.toml" >"$work/coordinator-a.log" 2>&1 &
pid_a=$!
wait_for 30 "A to lead" leads "$http_a"
"$coordinator" run --config "$work/coord-b/coordinator.toml" >"$work/coordinator-b.log" 2>&1 &
pid_b=$!
wait_for 30 "B to stand by" stands_by "$http_b"
echo "A: $(healthz "$http_a")"
echo "B: $(healthz "$http_b")"

say "${#hosts[@]} agents, each given both coordinators (B's join.toml)"
grep '^coordinator = ' "$work/coord-b/join.toml"
for h in "${hosts[@]}"; do
  port[$h]=$(free_port)
  "$agent" init "$work/agents/$h" --join "$work/coord-b/join.toml" --id "$h" \
    --label role=web --var "PORT=${port[$h]}" >/dev/null
  "$agent" run --config "$work/agents/$h/agent.toml" >"$work/agent-$h.log" 2>&1 &
  agent_pids+=($!)
done
wait_for 60 "every agent online at A" all_online flotilla
flotilla agents

rps=20
make_plan() {  # make_plan VERSION SIZES BAKE
  examples/make-release.sh "$1" "$work/web-$1.tar.gz" --rps "$rps" >/dev/null
  sed -e "s/@VERSION@/$1/" -e "s|@ARTIFACT@|web-$1.tar.gz|" -e "s|^sizes .*|sizes = $2|" \
    -e "s|^bake .*|bake = \"$3\"|" examples/plans/web.toml.in >"$work/web-$1.toml"
}
serves() {  # serves PORT VERSION: GET /version says VERSION
  [ "$(curl -s --noproxy '*' -m 2 "http://127.0.0.1:$1/version" || true)" = "$2" ]
}
status_of() {  # status_of ROLLOUT FIELD-EXPRESSION: a value of `flotilla status` at B
  flotilla_b --json status "$1" | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}
# How many times the host's service was started from release VERSION.
starts() { grep -c "serving $work/agents/$1/apps/web/releases/$2[/ ]" "$work/agents/$1/apps/web/run/service.log" || true; }

say "Release 1 to every host at once"
make_plan 1 '["100%"]' 1s
flotilla rollout "$work/web-1.toml" --watch >/dev/null
for h in "${hosts[@]}"; do check "$h answers /version 1" serves "${port[$h]}" 1; done

say "Release 2 in waves [1, \"50%\", \"100%\"], bake 6s, watched by a console given A and B"
make_plan 2 '[1, "50%", "100%"]' 6s
# The watch's own pid (its output goes through sed), to wait for its exit status.
"$bin/coordinator/flotilla" rollout "$work/web-2.toml" --watch > >(sed -u 's/^/  watch | /') 2>&1 &
watch_pid=$!
r2=""
rollout_2() { r2=$(flotilla --json history --app web --limit 1 |
  python3 -c 'import json,sys; r=json.load(sys.stdin)["rollouts"][0]; print(r["id"] if r["version"]=="2" else "")'); [ -n "$r2" ]; }
wait_for 30 "the rollout of release 2" rollout_2
canary_baking() { [ "$(status_of "$r2" 's["waves"][0]["state"]')" = baking ]; }
wait_for 60 "wave 0 to bake" canary_baking
canary=""
for h in "${hosts[@]}"; do serves "${port[$h]}" 2 && canary=$h; done
echo "(demo) wave 0 is baking: $canary runs release 2, the others release 1"

say "SIGKILL to the leader A (pid $pid_a), mid-rollout"
killed=$(now_ms)
kill -KILL "$pid_a"
wait "$pid_a" 2>/dev/null || true
pid_a=""
wait_for 30 "B to lead" leads "$http_b"
took_over=$(seconds_since "$killed")
echo "(demo) B leads $took_over s after the kill: $(healthz "$http_b")"
wait_for 60 "every agent online at B" all_online flotilla_b
agents_back=$(seconds_since "$killed")
echo "(demo) all ${#hosts[@]} agents online at B $agents_back s after the kill"

say "The rollout goes on at B; the watch started before the kill follows it"
watch_ended() { ! kill -0 "$watch_pid" 2>/dev/null; }
wait_for 180 "the watch to end" watch_ended
watch_rc=0
wait "$watch_pid" || watch_rc=$?
watch_pid=""
check "the watch started before the kill exits 0 (the rollout succeeded)" test "$watch_rc" = 0
check "rollout $r2 succeeded, its 3 waves too" test \
  "$(status_of "$r2" 's["state"] + " " + " ".join(w["state"] for w in s["waves"])')" = \
  "succeeded succeeded succeeded succeeded"
for h in "${hosts[@]}"; do
  check "$h answers /version 2" serves "${port[$h]}" 2
  check "$h started release 2 once (no host deployed twice)" test "$(starts "$h" 2)" = 1
  check "$h recorded epoch 2 (it refuses orders of the dead leader's epoch)" \
    test "$(cat "$work/agents/$h/state/epoch")" = 2
done

say "Summary"
echo "leader killed -> standby leads:        $took_over s (A's lease ran out 2-3 s after the kill: lease_ttl 3 s"
echo "                                       after its last renewal; then B's next poll, every 1 s)"
echo "leader killed -> every agent at B:     $agents_back s"
echo
if [ "$failures" -eq 0 ]; then
  echo "demo --ha: every check passed"
  exit 0
fi
echo "demo --ha: $failures check(s) failed; logs in $work (kept)"
keep=1
exit 1
