# Sourced by scripts/bench.sh: the figures of issue 12 (docs/ha.md, docs/postgresql.md), measured
# against a real PostgreSQL 15 that this file starts in a temporary directory on a free loopback
# port, as tests/support/postgres.cpp does (as the `postgres` user when run as root: PostgreSQL
# refuses to run as root). Uses bench.sh's helpers (record, note, free_port, now, pids, ...).
#   (j) failover time: two coordinators on one database, real agents listing both endpoints; the
#       leader SIGKILLed mid-rollout -> the first order of the new leader an agent receives;
#       median and worst of FLOTILLA_BENCH_FAILOVERS trials (default 10);
#   (k) 1,000 swarm agents listing both endpoints: the leader SIGKILLed (then the new one SIGSTOPped)
#       -> 1,000 online at the other (its /metrics);
#   (p) beside (b)'s b-dispatch (SQLite): the same 10,000-host wave dispatched by a coordinator on
#       PostgreSQL, in the same run, and the ratio.

pg_bin=/usr/lib/postgresql/15/bin
pg_dir=""
pg_port=""
pg_pid=""
ha_lease_ttl=${FLOTILLA_BENCH_LEASE_TTL:-5s}

# pg_start: initdb and start the server once per run (durability settings left at their defaults).
pg_start() {
  [ -n "$pg_pid" ] && return 0
  pg_dir=$(mktemp -d /tmp/flotilla-bench-pg.XXXXXX)
  local as=(setpriv --pdeathsig INT --)
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$pg_dir"
    as=(setpriv --pdeathsig INT --reuid=postgres --regid=postgres --init-groups --)
  fi
  "${as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U flotilla --auth=trust -E UTF8 --locale=C >"$pg_dir/initdb.log" 2>&1 ||
    { cat "$pg_dir/initdb.log" >&2; exit 1; }
  pg_port=$(free_port)
  local stats=()
  [ "${FLOTILLA_BENCH_PG_STATS:-0}" = 1 ] && stats=(-c shared_preload_libraries=pg_stat_statements)
  "${as[@]}" "$pg_bin/postgres" -D "$pg_dir/data" -p "$pg_port" -k "$pg_dir" -c listen_addresses=127.0.0.1 \
    -c max_connections=200 "${stats[@]}" >"$pg_dir/postgres.log" 2>&1 &
  pg_pid=$!
  local i
  for i in $(seq 300); do
    pg_isready -q -h 127.0.0.1 -p "$pg_port" -U flotilla && return 0
    sleep 0.1
  done
  echo "bench: PostgreSQL did not start; see $pg_dir/postgres.log" >&2
  exit 1
}
# pg_stop: fast shutdown (called from bench.sh's cleanup).
pg_stop() {
  [ -z "$pg_pid" ] && return 0
  kill -INT "$pg_pid" 2>/dev/null
  local i
  for i in $(seq 100); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pg_pid" 2>/dev/null
  wait "$pg_pid" 2>/dev/null
  [ "$keep" = 1 ] && echo "bench: PostgreSQL directory kept: $pg_dir" || rm -rf "$pg_dir"
  pg_pid=""
}
pg_sql() { psql -X -qAt -h 127.0.0.1 -p "$pg_port" -U flotilla -d "$1" -c "$2"; }

# pg_coordinator DIR DB [SED-EXPR...]: a coordinator directory whose store is the new database DB,
# with a join token created in that store (init's token is in the SQLite file it would have used).
pg_coordinator() {
  local dir=$1 db=$2 e
  shift 2
  pg_sql postgres "CREATE DATABASE $db" >/dev/null
  "$coordinator" init "$dir" --listen "tcp://127.0.0.1:$(free_port)" --http "127.0.0.1:$(free_port)" >/dev/null
  sed -i -e "s|^file = |url = \"postgresql://flotilla@127.0.0.1:$pg_port/$db\"\nfile = |" "$dir/coordinator.toml"
  for e in "$@"; do sed -i -e "$e" "$dir/coordinator.toml"; done
  local token
  token=$("$coordinator" token create --config "$dir/coordinator.toml" --ttl 24h --uses -1)
  sed -i -e "s|^token = .*|token = \"$token\"|" "$dir/join.toml"
}
# run_coordinator DIR: starts (or restarts) it, log appended to DIR.log; prints its pid.
run_coordinator() {
  "$coordinator" run --config "$1/coordinator.toml" >>"$1.log" 2>&1 &
  echo $!
}
http_of() { sed -n "s/^http = '\(.*\)'.*/\1/p; s/^http = \"\(.*\)\".*/\1/p" "$1/coordinator.toml"; }
healthz() { curl -fsS --max-time 2 "http://$(http_of "$1")/healthz" 2>/dev/null; }
# metrics_online URL N START TIMEOUT_S: polls flotilla_agents{state="online"} of /metrics every
# 0.2 s until it reaches N; prints {"reached_s", "online"} (seconds from START, a unix time, to the
# poll that saw N: at most one poll late).
metrics_online() {
  python3 - "$@" <<'PY'
import json, re, sys, time, urllib.request
url, n, start, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
pat = re.compile(r'^flotilla_agents\{state="online"\} (\d+)', re.M)
online, reached = 0, None
while time.time() < start + timeout:
    t = time.time()
    try:
        m = pat.search(urllib.request.urlopen(url, timeout=2).read().decode())
        online = int(m.group(1)) if m else 0
    except OSError:
        pass
    if online >= n:
        reached = round(t - start, 2)
        break
    time.sleep(max(0.0, 0.2 - (time.time() - t)))
print(json.dumps({"reached_s": reached, "online": online}))
PY
}
wait_health() {  # wait_health DIR PREFIX TIMEOUT_S
  local i
  for i in $(seq "$(($3 * 10))"); do
    case "$(healthz "$1")" in "$2"*) return 0 ;; esac
    sleep 0.1
  done
  echo "bench: $1 did not say '$2' within $3 s (healthz: $(healthz "$1")); see $1.log" >&2
  return 1
}

# ha_pair DIR DB: a leader DIR/a and a standby DIR/b (init --from) on database DB, lease TTL
# $ha_lease_ttl; sets ha_pid[a], ha_pid[b], ha_leader=a and FLOTILLA_CONTROL to both control sockets.
declare -A ha_pid
ha_pair() {
  local dir=$1 db=$2
  pg_coordinator "$dir/a" "$db"
  printf '\n[leadership]\nlease_ttl = "%s"\n' "$ha_lease_ttl" >>"$dir/a/coordinator.toml"
  ha_pid[a]=$(run_coordinator "$dir/a")
  pids+=("${ha_pid[a]}")
  wait_health "$dir/a" "ok: leader" 60 || exit 1
  "$coordinator" init "$dir/b" --from "$dir/a" --listen "tcp://127.0.0.1:$(free_port)" \
    --http "127.0.0.1:$(free_port)" >/dev/null
  sed -i -e "s|^token = .*|$(grep '^token = ' "$dir/a/join.toml")|" "$dir/b/join.toml"
  ha_pid[b]=$(run_coordinator "$dir/b")
  pids+=("${ha_pid[b]}")
  wait_health "$dir/b" "ok: standby" 60 || exit 1
  ha_leader=a
  export FLOTILLA_CONTROL="ipc://$dir/a/control.sock,ipc://$dir/b/control.sock"
}
other() { [ "$1" = a ] && echo b || echo a; }

# log_after FILE... : the first millisecond timestamp (unix ms) of a line matching $HA_MATCH (a
# Python regex) at or after $HA_FROM_MS, over the files; "" when none.
log_after() {
  python3 - "$@" <<'PY'
import datetime, os, re, sys
pat, start = re.compile(os.environ["HA_MATCH"]), int(os.environ["HA_FROM_MS"])
stamp = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:?\d\d) ")
best = None
for path in sys.argv[1:]:
    for line in open(path, errors="replace"):
        m = stamp.match(line)
        if not m or not pat.search(line):
            continue
        ms = round(datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)
        if ms >= start and (best is None or ms < best):
            best = ms
print("" if best is None else best)
PY
}
unix_ms() { python3 -c "import sys; print(round(float(sys.argv[1]) * 1000))" "$1"; }

ha_plan() {  # ha_plan APP HEALTHY_FOR > plan: one wave of every ha host, held in probation
  cat <<TOML
app     = "$1"
version = "1"

[artifact]
file = "fleet.tar.gz"

[target]
labels = { role = "ha" }

[waves]
sizes        = ["100%"]
max_parallel = 100
bake         = "0s"
deadline     = "5m"

[health]
interval    = "1s"
healthy_for = "$2"
deadline    = "4m"

[[health.check]]
exec = ["/bin/true"]
TOML
}
in_probation() {  # in_probation ROLLOUT: hosts of it whose phase is probation
  flotilla --json --timeout 10 status "$1" --hosts 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("rollout", d); print(sum(1 for h in d.get("hosts", []) if h.get("phase") == "probation"))' 2>/dev/null || echo 0
}

section_j() {
  say "(j) failover: the leader SIGKILLed mid-rollout -> the first order of the new leader an agent receives"
  local J="$work/j" n_agents=3 trials=${FLOTILLA_BENCH_FAILOVERS:-10}
  mkdir -p "$J"
  pg_start
  ha_pair "$J" bench_j
  local ids=() i id
  for i in $(seq "$n_agents"); do
    id="ha-$i"
    ids+=("$id")
    "$agent_bin" init "$J/agents/$id" --join "$J/b/join.toml" --id "$id" --label role=ha >/dev/null
    "$agent_bin" run --config "$J/agents/$id/agent.toml" >"$J/agent-$id.log" 2>&1 &
    pids+=($!)
  done
  grep -q "^endpoint = \[" "$J/agents/ha-1/agent.toml" || { echo "bench: agent.toml does not list both endpoints" >&2; exit 1; }
  wait_online "$n_agents" 60
  examples/make-release.sh 1 "$J/fleet.tar.gz" --rps 0 >/dev/null
  local t kill_s kill_ms order_ms taken_ms leader next rid results_j="$J/trials.tsv" load
  : >"$results_j"
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  for t in $(seq "$trials"); do
    leader=$ha_leader
    next=$(other "$leader")
    wait_online "$n_agents" 60 || break  # at the leader of this trial (after a failover they come back first)
    # Each trial deploys its own app, so no rollout waits for another; the hosts stay in
    # probation (healthy_for 40s) with the order in hand, which the new leader sends again.
    ha_plan "ha$t" 40s >"$J/ha$t.toml"
    rid=$(flotilla --json --timeout 60 rollout "$J/ha$t.toml" | field id) || true
    [ -n "$rid" ] || { echo "bench: (j) trial $t: rollout refused" >&2; break; }
    for i in $(seq 300); do [ "$(in_probation "$rid")" -ge "$n_agents" ] && break; sleep 0.1; done
    echo "(j) trial $t: $(in_probation "$rid") of $n_agents hosts in probation at the kill" >&2
    kill_s=$(now)
    kill -KILL "${ha_pid[$leader]}"
    wait "${ha_pid[$leader]}" 2>/dev/null || true
    kill_ms=$(unix_ms "$kill_s")
    # Stop: the first agent log line of an order of this rollout received again (the repeat of the
    # order in hand, "order ID again: ..."), at or after the kill. Both clocks are this machine's.
    order_ms=""
    for i in $(seq 600); do
      order_ms=$(HA_MATCH="order $rid/\\S+ again" HA_FROM_MS=$kill_ms log_after "$J"/agent-ha-*.log)
      [ -n "$order_ms" ] && break
      sleep 0.1
    done
    taken_ms=$(HA_MATCH="leadership taken at epoch" HA_FROM_MS=$kill_ms log_after "$J/$next.log")
    if [ -n "$order_ms" ]; then
      printf '%s\t%s\t%s\t%s\n' "$t" "$((order_ms - kill_ms))" "$(( ${taken_ms:-$kill_ms} - kill_ms))" "$rid" >>"$results_j"
      echo "(j) trial $t: kill -> first order $((order_ms - kill_ms)) ms (lease taken after $(( ${taken_ms:-$kill_ms} - kill_ms)) ms)" >&2
    else
      echo "bench: (j) trial $t: no agent received an order of $rid within 60 s of the kill" >&2
      printf '%s\tfailed\t\t%s\n' "$t" "$rid" >>"$results_j"
    fi
    # The killed coordinator comes back as a standby; the next trial kills the new leader.
    ha_pid[$leader]=$(run_coordinator "$J/$leader")
    pids+=("${ha_pid[$leader]}")
    wait_health "$J/$leader" "ok: standby" 60 || exit 1
    wait_health "$J/$next" "ok: leader" 30 || exit 1
    ha_leader=$next
  done
  local stats
  stats=$(python3 - "$results_j" <<'PY'
import json, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
ok = [(int(r[1]), int(r[2])) for r in rows if r[1] != "failed"]
out = {"trials": len(rows), "ok": len(ok)}
if ok:
    total = sorted(x for x, _ in ok)
    lease = sorted(y for _, y in ok)
    out.update({"median_s": statistics.median(total) / 1000, "worst_s": total[-1] / 1000,
                "best_s": total[0] / 1000, "lease_median_s": round(statistics.median(lease) / 1000, 2),
                "all_s": [x / 1000 for x in total]})
print(json.dumps(out))
PY
)
  echo "(j) $stats" >&2
  local what="leader coordinator SIGKILLed mid-rollout -> the first order of the new leader received by an agent (2 coordinators on PostgreSQL 15, lease_ttl $ha_lease_ttl, $n_agents real agents listing both endpoints; $(echo "$stats" | field ok) of $(echo "$stats" | field trials) trials; of which kill -> lease taken, median $(echo "$stats" | field lease_median_s) s; load $load)"
  local cmd="kill -KILL LEADER; agent log 'order ID again' (ms) - kill time"
  record --id j-failover-median --what "$what: median" --num "$(echo "$stats" | field median_s)" --unit " s" --fmt "{:.2f}" \
    --target "lease TTL + 5 s (issue 12)" --le "$(python3 -c "import sys; print(float(sys.argv[1].rstrip('s')) + 5)" "$ha_lease_ttl")" \
    --command "$cmd"
  record --id j-failover-worst --what "the same: worst of the trials (all, s: $(echo "$stats" | field all_s))" \
    --num "$(echo "$stats" | field worst_s)" --unit " s" --fmt "{:.2f}" \
    --target "lease TTL + 5 s (issue 12)" --le "$(python3 -c "import sys; print(float(sys.argv[1].rstrip('s')) + 5)" "$ha_lease_ttl")" \
    --command "$cmd"
  stop_pids "${ha_pid[a]}" "${ha_pid[b]}"
}

# k_failover SIGNAL: sends SIGNAL to the leader ($ha_leader) of (k)'s pair and times the swarm's
# return to the other coordinator; records row k-failover-online (KILL) or -stop (STOP).
k_failover() {
  local sig=$1 K="$work/k" n=${FLOTILLA_BENCH_HA_AGENTS:-1000}
  local from=$ha_leader to load kill_s kill_ms taken_ms s lease_s
  to=$(other "$from")
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  kill_s=$(now)
  kill "-$sig" "${ha_pid[$from]}"
  kill_ms=$(unix_ms "$kill_s")
  # The new leader's own count (a standby serves no agent gauge: 0 until it leads); the console
  # would first try the old leader's control socket.
  metrics_online "http://$(http_of "$K/$to")/metrics" "$n" "$kill_s" 120 >"$K/online-$sig.json"
  taken_ms=$(HA_MATCH="leadership taken at epoch" HA_FROM_MS=$kill_ms log_after "$K/$to.log")
  s=$(field reached_s <"$K/online-$sig.json")
  lease_s=$(python3 -c "import sys; print(round((int(sys.argv[1]) - int(sys.argv[2])) / 1000, 2) if sys.argv[1] else '?')" "${taken_ms:-}" "$kill_ms")
  echo "(k) SIG$sig: $(field online <"$K/online-$sig.json") online at the new leader; $n after ${s:-timeout} s (lease taken after $lease_s s)" >&2
  local id=k-failover-online how="SIGKILLed: the connections are reset"
  [ "$sig" = STOP ] && id=k-failover-online-stop how="SIGSTOPped: silent, noticed within the agents' link_timeout (10 s with several endpoints)"
  record --id "$id" --what "$n swarm agents back online at the new leader after the leader was $how (lease_ttl $ha_lease_ttl; lease taken after $lease_s s; $(field online <"$K/online-$sig.json") online at the end; load $load)" \
    --num "${s:-timeout}" --unit " s" --fmt "{:.2f}" \
    --command "kill -$sig LEADER; poll the new leader's /metrics flotilla_agents{state=\"online\"} every 0.2 s"
  ha_leader=$to
}

section_k() {
  local n=${FLOTILLA_BENCH_HA_AGENTS:-1000}
  say "(k) $n swarm agents listing both endpoints: the leader SIGKILLed, then the next one SIGSTOPped -> all online at the other"
  local K="$work/k"
  mkdir -p "$K"
  pg_start
  ha_pair "$K" bench_k
  local t_swarm k_pid
  t_swarm=$(now)
  "$swarm_bin" --join "$K/b/join.toml" --agents "$n" --id-prefix "ha-" --label role=swarm \
    --connect-rate 400 --connect-window 64 --progress 1 >"$K/swarm.json" 2>"$K/swarm.err" &
  k_pid=$!
  pids+=("$k_pid")
  $py online --flotilla "$flotilla_bin" --start "$t_swarm" --thresholds "$n" --timeout 120 --interval 0.5 >"$K/online-0.json"
  echo "(k) $(field online <"$K/online-0.json") online at the first leader after $(field "reached_s.$n" <"$K/online-0.json") s" >&2
  sleep 6  # a few heartbeats at rest
  k_failover KILL
  wait "${ha_pid[a]}" 2>/dev/null || true
  # The killed one comes back as a standby; then the new leader is paused.
  ha_pid[a]=$(run_coordinator "$K/a")
  pids+=("${ha_pid[a]}")
  wait_health "$K/a" "ok: standby" 60 || exit 1
  sleep 6
  k_failover STOP
  kill -CONT "${ha_pid[b]}"  # woken, it finds its lease gone and stands by
  stop_pids "$k_pid" "${ha_pid[a]}" "${ha_pid[b]}"
}

# section_p SQLITE_DISPATCH_JSON: (b)'s dispatch of one wave to every agent, again with the store in
# PostgreSQL: same swarms, same plan, same log-based timing.
section_p() {
  say "(p) dispatch of a $agents-host wave with the store in PostgreSQL (b-dispatch is SQLite, same run)"
  local P="$work/p" sqlite_json=$1
  mkdir -p "$P"
  pg_start
  pg_coordinator "$P/coord" bench_p
  "$coordinator" run --config "$P/coord/coordinator.toml" >"$P/coord.log" 2>&1 &
  local pcoord=$!
  pids+=("$pcoord")
  export FLOTILLA_CONTROL="ipc://$P/coord/control.sock"
  local i
  for i in $(seq 100); do flotilla --json --timeout 2 agents >/dev/null 2>&1 && break; sleep 0.1; done
  local p_pids=() k n per t_swarm
  per=$(((agents + swarms - 1) / swarms))
  t_swarm=$(now)
  for k in $(seq 0 $((swarms - 1))); do
    n=$per
    [ "$k" = $((swarms - 1)) ] && n=$((agents - per * (swarms - 1)))
    "$swarm_bin" --join "$P/coord/join.toml" --agents "$n" --id-prefix "pg-$k-" --label role=swarm \
      --connect-rate 150 --connect-window 32 --order-log "$P/orders-$k.log" \
      >"$P/swarm-$k.json" 2>"$P/swarm-$k.err" &
    p_pids+=($!)
    pids+=($!)
  done
  $py online --flotilla "$flotilla_bin" --start "$t_swarm" --thresholds "$agents" --timeout 300 >"$P/online.json"
  local online
  online=$(field online <"$P/online.json")
  echo "(p) $online of $agents online after $(field "reached_s.$agents" <"$P/online.json") s" >&2
  sleep 6
  local load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  examples/make-release.sh 1 "$P/fleet.tar.gz" >/dev/null
  swarm_plan d1 '["100%"]' 'role = "swarm"' >"$P/dispatch.toml"
  if [ "${FLOTILLA_BENCH_PG_STATS:-0}" = 1 ]; then
    pg_sql bench_p "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    pg_sql bench_p "SELECT pg_stat_statements_reset()" >/dev/null
  fi
  run_rollout "$P/dispatch.toml" dispatch-pg
  if [ "${FLOTILLA_BENCH_PG_STATS:-0}" = 1 ]; then
    # Which statements the rollout made, and how often (one call = one round trip).
    pg_sql bench_p "SELECT calls, round(total_exec_time)::int AS ms, regexp_replace(left(query, 90), '\s+', ' ', 'g')
                    FROM pg_stat_statements ORDER BY calls DESC LIMIT 12" >"$P/pg_statements.txt"
    echo "(p) statements during the rollout (calls|exec ms|statement):" >&2
    cat "$P/pg_statements.txt" >&2
  fi
  sleep 1
  $py dispatch --coord-log "$P/coord.log" --rollout "$rollout_id" --hosts "$online" "$P"/orders-*.log >"$P/dispatch.json"
  echo "dispatch (PostgreSQL): $(cat "$P/dispatch.json")" >&2
  local last sqlite_last
  last=$(field last_s <"$P/dispatch.json")
  sqlite_last=$(field last_s <"$sqlite_json")
  record --id p-dispatch-pg --what "the same wave with the store in PostgreSQL 15 (loopback, default durability): wave start -> all of $online hosts hold a verified order ($(field verified_hosts <"$P/dispatch.json") verified; p50 $(field p50_s <"$P/dispatch.json") s; rollout $(echo "$rollout_json" | field state) after $(echo "$rollout_json" | field wall_s) s; load $load)" \
    --num "${last:-failed}" --unit " s" --fmt "{:.2f}" \
    --command "coordinator log wave_started -> swarm --order-log 'verified' (store.url = postgresql://...)"
  record --id p-dispatch-ratio --what "PostgreSQL against SQLite, same run (p-dispatch-pg / b-dispatch: $sqlite_last s at load ${b_dispatch_load:-?})" \
    --num "$(python3 -c "import sys; print(round(float(sys.argv[1]) / float(sys.argv[2]), 2))" "${last:-x}" "${sqlite_last:-x}" 2>/dev/null || echo failed)" \
    --unit "x" --le 2 --target "within 2x (issue 12)" --command "p-dispatch-pg / b-dispatch"
  stop_pids "${p_pids[@]}" "$pcoord"
}
