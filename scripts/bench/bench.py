#!/usr/bin/env python3
"""Helpers for scripts/bench.sh (python3 stdlib only). Every loop is bounded.

  bench.py procstat --window S NAME=PID ...      CPU (% of one core) and RSS over a window, per thread too
  bench.py online --flotilla BIN --start UNIX --thresholds 1000,5000 --timeout S
                                                  seconds from START until `flotilla --json agents` counts
                                                  each threshold of online agents
  bench.py wait-rollout --flotilla BIN --id ID --start UNIX --timeout S
                                                  poll `flotilla --json status ID` until the rollout ends
  bench.py dispatch --coord-log LOG --rollout ID --hosts N ORDER_LOG...
                                                  wave_started (coordinator log, ms) -> last verified order
  bench.py phases --coord-log LOG --rollout ID AGENT_LOG...
                                                  per wave: wall time and where it goes, phase by phase
                                                  (slowest host), from millisecond log timestamps
  bench.py verdict-time --coord-log LOG --rollout ID [--db FILE]
                                                  per analysed wave: end of the bake (wave_baking + its bake)
                                                  -> analysis_verdict, from ms log timestamps; samples stored
  bench.py swarm-rate --window S LOG...           heartbeats+reports/s sent by swarms, from their progress lines
  bench.py machine                                the machine description, JSON
  bench.py plan --template T --version V --artifact A [--set k=v] [--target k=v] [--drop-exec]
  bench.py serves --ports P1,P2 --version V       how many services answer /version V and /healthz 200
  bench.py record --results F --id ID --what W (--value V | --num X [--le T|--ge T]) ...
  bench.py field PATH < JSON                      one field of a JSON document
  bench.py threads NAME < PROCSTAT_JSON           the busiest threads of one process, for people
  bench.py render --results FILE --machine FILE --notes FILE --out FILE
                                                  the table on stdout and docs/performance.md
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_times(path):
    """utime+stime and cutime+cstime (ticks) of /proc/PID[/task/TID]/stat, and comm."""
    with open(path) as f:
        data = f.read()
    comm = data[data.index("(") + 1:data.rindex(")")]
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is state (field 3); utime is field 14 -> index 11.
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return utime + stime, cutime + cstime, comm


def run_ns(pid):
    """Nanoseconds on CPU of every thread of PID (schedstat), or None. Finer than clock ticks."""
    total = 0
    found = False
    for t in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(t) as f:
                total += int(f.read().split()[0])
                found = True
        except (OSError, ValueError, IndexError):
            pass
    return total if found else None


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def threads(pid):
    out = {}
    for t in glob.glob(f"/proc/{pid}/task/*/stat"):
        try:
            own, _, comm = proc_times(t)
            out[t.split("/")[4]] = (own, comm)
        except (OSError, ValueError):
            pass
    return out


def cmd_procstat(a):
    procs = {}
    for spec in a.pids:
        name, pid = spec.split("=", 1)
        procs[name] = int(pid)
    before = {}
    t0 = time.monotonic()
    for name, pid in procs.items():
        try:
            own, children, _ = proc_times(f"/proc/{pid}/stat")
            before[name] = (own, children, threads(pid), run_ns(pid))
        except OSError:
            before[name] = None
    peak = {name: rss_kb(pid) or 0 for name, pid in procs.items()}
    end = t0 + a.window
    while time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        for name, pid in procs.items():
            peak[name] = max(peak[name], rss_kb(pid) or 0)
    elapsed = time.monotonic() - t0
    result = {}
    for name, pid in procs.items():
        if before[name] is None:
            result[name] = {"error": "no such process"}
            continue
        try:
            own, children, _ = proc_times(f"/proc/{pid}/stat")
        except OSError:
            result[name] = {"error": "process ended during the window"}
            continue
        own0, children0, th0, ns0 = before[name]
        ns1 = run_ns(pid)
        th1 = threads(pid)
        per_thread = []
        for tid, (ticks, comm) in th1.items():
            start = th0.get(tid, (0, comm))[0]
            per_thread.append({"tid": int(tid), "comm": comm,
                               "cpu_pct": round(100.0 * (ticks - start) / CLK_TCK / elapsed, 2)})
        per_thread.sort(key=lambda x: -x["cpu_pct"])
        result[name] = {
            "pid": pid,
            "window_s": round(elapsed, 2),
            # schedstat (ns) when the threads lived through the window, else clock ticks.
            "cpu_pct": round(100.0 * (ns1 - ns0) / 1e9 / elapsed, 4) if ns0 is not None and ns1 is not None and ns1 >= ns0
            else round(100.0 * (own - own0) / CLK_TCK / elapsed, 3),
            "children_cpu_pct": round(100.0 * (children - children0) / CLK_TCK / elapsed, 3),
            "cpu_seconds": round((own - own0) / CLK_TCK, 3),
            "rss_kb": rss_kb(pid),
            "peak_rss_kb": peak[name],
            "threads": per_thread,
        }
    json.dump(result, sys.stdout)
    print()


def flotilla_json(binary, *args, timeout=30):
    p = subprocess.run([binary, "--json", "--timeout", str(timeout), *args], capture_output=True, text=True,
                       timeout=timeout + 5)
    return json.loads(p.stdout) if p.stdout.strip() else {}


def cmd_online(a):
    thresholds = sorted(int(x) for x in a.thresholds.split(","))
    reached = {}
    deadline = time.time() + a.timeout
    polls = 0
    online = 0
    while time.time() < deadline and len(reached) < len(thresholds):
        t = time.time()
        try:
            doc = flotilla_json(a.flotilla, "agents")
            online = sum(1 for x in doc.get("agents", []) if x.get("state") == "online")
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            pass
        polls += 1
        # The poll took a while with 10,000 agents: credit the threshold to the
        # moment the request was sent (a lower bound of the true time would be
        # the previous poll; the error is at most one poll period).
        for th in thresholds:
            if th not in reached and online >= th:
                reached[th] = round(t - a.start, 2)
        time.sleep(max(0.0, a.interval - (time.time() - t)))
    json.dump({"reached_s": {str(k): reached.get(k) for k in thresholds}, "online": online, "polls": polls},
              sys.stdout)
    print()


TERMINAL = {"succeeded", "failed", "rolled_back", "aborted"}


def cmd_wait_rollout(a):
    deadline = time.time() + a.timeout
    doc = {}
    while time.time() < deadline:
        try:
            doc = flotilla_json(a.flotilla, "status", a.id)
            doc = doc.get("rollout", doc) or {}
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            doc = {}
        if doc.get("state") in TERMINAL:
            break
        time.sleep(a.interval)
    seen = time.time()
    duration = None
    try:
        for r in flotilla_json(a.flotilla, "history", "--limit", "20").get("rollouts", []):
            if r.get("id") == a.id:
                duration = r.get("duration")
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        pass
    waves = [{k: w.get(k) for k in ("index", "hosts", "healthy", "failed", "unreachable", "state")}
             for w in doc.get("waves", [])]
    json.dump({"id": a.id, "state": doc.get("state"), "wall_s": round(seen - a.start, 3),
               "coordinator_duration_s": duration, "waves": waves}, sys.stdout)
    print()


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:?\d\d) ")


def log_ms(line):
    m = LOG_TIME.match(line)
    if not m:
        return None
    return round(datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)


def order_latencies(coord_lines, rollout, order_lines, kinds=("verified",), from_ms=None):
    """Per-host latency of a rollout's orders: from the coordinator's wave_started log line (or
    from_ms, e.g. the submission) to each host's first order-log line (kind, unix ms, agent, order
    id) of one of kinds; counts by kind, p50, p99 and the last host, in seconds."""
    wave_ms = None
    for line in coord_lines:
        if f"[{rollout}] wave_started" in line:
            wave_ms = log_ms(line)
            break
    start_ms = from_ms if from_ms is not None else wave_ms
    seen = {}
    for line in order_lines:
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 4 and parts[0] in kinds and parts[3].startswith(rollout + "/"):
            if parts[2] not in seen or int(parts[1]) < seen[parts[2]][0]:
                seen[parts[2]] = (int(parts[1]), parts[0])
    counts = {}
    for _, kind in seen.values():
        counts[kind] = counts.get(kind, 0) + 1
    times = sorted(t for t, _ in seen.values())
    out = {"rollout": rollout, "wave_started_ms": wave_ms, "start_ms": start_ms, "verified_hosts": len(times),
           "hosts_seen": len(times), "events": counts}
    if start_ms is not None and times:
        lat = [t - start_ms for t in times]
        out.update({
            "first_s": lat[0] / 1000.0,
            "p50_s": lat[len(lat) // 2] / 1000.0,
            "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000.0,
            "last_s": lat[-1] / 1000.0,
        })
    return out


def read_lines(*paths):
    for path in paths:
        with open(path, errors="replace") as f:
            yield from f


def cmd_dispatch(a):
    """scripts/bench.sh (b) and (i): order_latencies of a rollout from the coordinator's log and the
    swarms' order logs (--events "verified" by default; "healthy,reverted,failed": the terminal report)."""
    out = order_latencies(read_lines(a.coord_log), a.rollout, read_lines(*a.order_logs),
                          tuple(a.events.split(",")), a.from_ms)
    out["hosts"] = a.hosts
    json.dump(out, sys.stdout)
    print()

ROLLOUT_EVENT = re.compile(r"\[([^\]]+)\] (wave_baking|analysis_verdict): (.*)$")
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
DURATION_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def duration_ms(text):
    """Milliseconds of a duration as common::formatDuration writes it ("4s", "1m30s", "500ms", "1d2h"); None if not one."""
    parts = DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return round(sum(float(n) * DURATION_MS[u] for n, u in parts))


def verdict_times(lines, rollout):
    """Per analysed wave, in order: its wave_baking line ("bake 4s, analysed") and the analysis_verdict
    that follows it. The events API has only seconds; the log lines have milliseconds."""
    waves = []
    for line in lines:
        m = ROLLOUT_EVENT.search(line.rstrip("\n"))
        if not m or m.group(1) != rollout:
            continue
        t = log_ms(line)
        if m.group(2) == "wave_baking":
            bake = m.group(3).split(",")[0]
            bake_ms = duration_ms(bake[len("bake "):]) if bake.startswith("bake ") else None
            waves.append({"baking_ms": t, "bake_ms": bake_ms, "analysed": m.group(3).endswith("analysed")})
        elif m.group(2) == "analysis_verdict" and waves and "verdict_ms" not in waves[-1]:
            w = waves[-1]
            w["verdict_ms"] = t
            w["outcome"] = m.group(3).split(":")[0]
            w["message"] = m.group(3)
            if t is not None and w["baking_ms"] is not None and w["bake_ms"] is not None:
                w["bake_end_to_verdict_ms"] = t - (w["baking_ms"] + w["bake_ms"])
    return [dict(w, wave=i) for i, w in enumerate(waves)]


def cmd_verdict_time(a):
    with open(a.coord_log, errors="replace") as f:
        waves = verdict_times(f, a.rollout)
    if a.db:
        import sqlite3
        db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
        for w in waves:
            rows = db.execute("SELECT role, count(*), count(DISTINCT agent_id) FROM analysis_samples "
                              "WHERE rollout_id = ? AND wave = ? GROUP BY role", (a.rollout, w["wave"])).fetchall()
            w["samples"] = {role: n for role, n, _ in rows}
            w["sampling_hosts"] = {role: hosts for role, _, hosts in rows}
        db.close()
    json.dump({"rollout": a.rollout, "waves": waves}, sys.stdout)
    print()


def last_progress(path, before=None):
    """The last JSON progress line of a swarm's stderr (at or before unix ms `before`)."""
    last = None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "progress" not in doc:
                continue
            if before is not None and doc.get("unix_ms", 0) > before:
                break
            last = doc
    return last


def cmd_swarm_rate(a):
    start_ms = int(time.time() * 1000)
    first = {p: last_progress(p) for p in a.logs}
    time.sleep(a.window)
    total = 0.0
    dropped = 0
    for p in a.logs:
        b = first[p]
        e = last_progress(p)
        if not b or not e or e is b:
            continue
        dt = (e["unix_ms"] - b["unix_ms"]) / 1000.0
        if dt <= 0:
            continue
        total += ((e["heartbeats"] + e["reports"]) - (b["heartbeats"] + b["reports"])) / dt
        dropped += e["send_dropped"] - b["send_dropped"]
    online = sum((last_progress(p) or {}).get("online", 0) for p in a.logs)
    json.dump({"msgs_per_s": round(total), "send_dropped": dropped, "online": online, "started_ms": start_ms},
              sys.stdout)
    print()


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def cmd_machine(_):
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])

    def pkg(name):
        return sh("dpkg-query", "-W", "-f=${Version}", name)

    json.dump({
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": model,
        "kernel": platform.release(),
        "os": sh("sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""),
        "libzmq": sh("pkg-config", "--modversion", "libzmq") or pkg("libzmq5"),
        "libsodium": sh("pkg-config", "--modversion", "libsodium") or pkg("libsodium23"),
        "ansible_core": pkg("ansible-core"),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }, sys.stdout)
    print()


def cmd_render(a):
    rows = []
    with open(a.results) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    machine = json.load(open(a.machine))
    notes = open(a.notes).read() if a.notes and os.path.exists(a.notes) else ""

    def cell(s):
        return str(s).replace("|", "\\|").replace("\n", " ")

    table = ["| # | measure | figure | target (DESIGN.md §6) | verdict | command |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        table.append("| {} | {} | **{}** | {} | {} | `{}` |".format(
            cell(r.get("id", "")), cell(r["what"]), cell(r["value"]), cell(r.get("target", "")),
            cell(r.get("verdict", "")), cell(r.get("command", ""))))
    table_text = "\n".join(table)
    print(table_text)
    m = machine
    doc = f"""# Performance

Measured by `scripts/bench.sh` (release build in `build/bench`, everything on 127.0.0.1), which
rewrites this file on every run. Targets are DESIGN.md section 6. `flotilla-swarm` (agent/swarm/)
simulates agents with real sockets, real CURVE and real Ed25519 order verification.
[scaling.md](scaling.md) takes these figures to 100,000 hosts: where each limit breaks first and
what removes it.

## Machine

| | |
|---|---|
| date | {m.get('date')} |
| CPUs (nproc) | {m.get('nproc')} |
| CPU model | {m.get('cpu')} |
| memory | {m.get('memory_gib')} GiB |
| kernel | {m.get('kernel')} |
| OS | {m.get('os')} |
| libzmq | {m.get('libzmq')} |
| libsodium | {m.get('libsodium')} |
| ansible-core | {m.get('ansible_core')} |
| load average (1, 5, 15 min) at start | {' '.join(m.get('loadavg', []))} |
| load average during the 10,000-agent run | {m.get('loadavg_10k', 'n/a')} |

The machine is shared: other builds and tests may run during the benchmark, which the load
averages above show. CPU figures are CPU time of the named process over a wall-clock window
(100% = one core busy), so they are robust to sharing; wall-clock figures are not.

## Figures

{table_text}

## How each figure is taken

- **(a) real agents**: a coordinator and 20 `flotilla-agent` processes on loopback, each with the
  example service on its own port. Release 1 is installed first (not timed); then release 2
  (`examples/make-release.sh 2 OUT --pad 200 --rps 0`, ~200 KB, no traffic of its own) rolls out with waves
  `[1, "10%", "50%", "100%"]`, `max_parallel = 20`, `bake = "0s"`, `before_switch` migrate check,
  restart `./bin/restart ${{PORT}}` (stops the old service, starts the new one and waits for it to
  say it listens), then probation with `healthy_for = "0s"`: one passing round of the http + tcp
  checks, the first round as soon as the restart returns, retried every 50 ms until it passes.
  Timed from just before `flotilla rollout PLAN --watch` to its exit (the clock is read before
  anything else starts); the notes give each wave's
  time phase by phase (`bench.py phases`, from the agents' millisecond log timestamps). Ansible
  does the same work with `scripts/bench/rolling-update.yml`, with the PATH the agent gives its
  hooks: 20 inventory hosts with
  `ansible_connection=local`, one root directory each, `serial: [1, "10%", "50%", "100%"]`,
  forks 20, pipelining on, no fact gathering; per host unarchive (copy + extract), the migrate
  check, switch of the `current` symlink, the same `bin/restart`, `wait_for` the port and one
  passing `uri` check of `/healthz` (the same http + tcp checks).
- **(b) swarm**: a fresh coordinator (`heartbeat_interval = "5s"`) and several `flotilla-swarm`
  processes; online times are from starting the swarms to `flotilla --json agents` counting
  that many online agents (polled about every second, so ±1 poll). Dispatch is from the
  coordinator's `wave_started` log line (millisecond timestamps; the events API has only
  seconds) to the last `verified` line in the swarms' order logs. Rollout times are from just
  before `flotilla --json rollout PLAN` to the poll of `flotilla --json status` that sees it end
  (polled every 100 ms).
- **(c)** CPU (`/proc/PID/task/*/schedstat`, per thread too) and RSS (`/proc/PID/status`) of the
  coordinator over a 30 s window with 10,000 agents online and nobody polling it. Memory per agent is
  (RSS with 10,000 agents - RSS before any agent connected) / 10,000.
- **(d)** an idle `flotilla-agent` (no order in hand) over 60 s: one with no app, and one running
  the example service with the template plan's health checks (http, tcp and an exec check, every
  250 ms during probation, then every max(interval, 5 s) once live). The agent's own CPU is
  reported; CPU of the check processes it spawns is given apart.
- **(e)** a coordinator with `heartbeat_interval = "50ms"` and 1,000 swarm agents heartbeating at
  that rate (~20,000/s, a rate it keeps up with: no send drops). The load generator shares the two
  cores, so the coordinator cannot be driven to 100% here; instead the messages/s the swarms sent
  and the coordinator's CPU over the same 20 s window give the rate at 100% of one core:
  rate / reactor-thread CPU share (e2), and rate / whole-process CPU share, CURVE decryption in
  libzmq's I/O thread included (e3).
- **(g)** `flotilla-judge-bench` (tests/bench/judge_bench.cpp): the judge alone on seeded synthetic
  samples, each rate over 500 runs; the setups are described at the top of that file.
- **(h)** a coordinator and 2,000 swarm agents (two `flotilla-swarm` processes, `--report-probation`,
  synthetic samples with `--sample-level 0.05 --sample-spread 0.1`, canary equal to baseline). The
  plan's waves are `[1000, "100%"]` with no bake of their own and `[analysis]` interval 1 s,
  `min_samples = 3` (so each wave bakes the 4 s window) and three scrape metrics: an error ratio
  (rate with per, critical), a gauge and a histogram p90. The first wave's 1,000 canaries sample
  from their probation report, its 100 baseline hosts (of the second wave) from the wave's start.
  The end of the bake is the coordinator's `wave_baking` log line plus the bake it announces, the
  verdict its `analysis_verdict` line (millisecond timestamps; `bench.py verdict-time`); samples
  are counted in the coordinator's store after the run; CPU and RSS are over the bake.
- **(i) feature flags**: a coordinator and N swarm agents (`--agents`, in `--swarms` processes);
  the app `fleet` is deployed once (a host takes an app's flag set only once it runs the app) and
  a first flag set shipped dark (not timed). Then `flotilla flags push fleet flags-on.json --waves
  100%` (a flag change in one wave) and `flotilla flags kill fleet new-checkout`. Each host's time
  runs from the submission (the script's clock just before the command) to its terminal report
  (`healthy`, `reverted` or `failed`) in the swarms' order logs (`bench.py dispatch --events
  healthy,reverted,failed --from-ms`); the row says how many hosts reported and how many the
  coordinator then sees running the new set in their heartbeats (`flotilla flags show`).
- **(p) PostgreSQL store**: right after (b), with the same number of swarm agents in the same
  `--swarms` processes, a coordinator whose `store.url` is a database of a PostgreSQL 15 that the
  bench starts itself (`initdb` in a temporary directory, loopback, a port chosen at run time, as
  the `postgres` user when run as root; durability settings left at their defaults, so every
  commit waits for its WAL flush) dispatches the same one-wave plan, timed as b-dispatch (the
  coordinator's `wave_started` log line -> the last `verified` line in the swarms' order logs).
  The ratio is against b-dispatch of the same run. `FLOTILLA_BENCH_PG_STATS=1` loads
  `pg_stat_statements` and lists the statements the rollout made (one call = one round trip).
- **(j) failover**: two coordinators (`init --from`) on one database of that PostgreSQL,
  `lease_ttl` `FLOTILLA_BENCH_LEASE_TTL` (default 5s), and 3 real agents whose `agent.toml` lists
  both endpoints. Each trial rolls out a new app to them with an exec health check and
  `healthy_for = "40s"`, so each host holds its order in probation; when `flotilla status --hosts`
  shows all three in probation, the bench reads the clock (`date`, ms) and SIGKILLs the leader. The
  figure runs to the first agent log line `order ID again: ...` (millisecond timestamps, same
  clock): the new leader resumed the rollout and re-sent the order in hand. The killed coordinator
  is restarted (it stands by) and the next trial kills the other; median and worst of 10
  (`FLOTILLA_BENCH_FAILOVERS`). The row also gives kill -> `leadership taken` in the new leader's log.
- **(k) swarm failover**: the same pair and 1,000 swarm agents (`FLOTILLA_BENCH_HA_AGENTS`) whose
  join.toml lists both endpoints, all online at the leader; the leader SIGKILLed (the agents see
  their connections reset); the figure runs to the first 0.2 s poll of the new leader's `/metrics`
  showing `flotilla_agents{{state="online"}} 1000` (a gauge refreshed once a second: up to ~1.2 s
  late). Then the killed coordinator is restarted as a standby and the new leader SIGSTOPped (its
  connections stay open and silent: the agents notice when ZMTP heartbeats, every 10 s, go 30 s
  unanswered), timed the same way (k-failover-online-stop).

## flotilla-swarm

`build/bench/agent/swarm/flotilla-swarm --join DIR/join.toml --agents N [--id-prefix P] [--label k=v ...]
[--apply-ms MS] [--fail-rate F] [--fetch] [--duration S]` simulates N agents in one process: each has its
own CURVE key pair and DEALER socket, says hello with the join token and labels, heartbeats at the
interval from the welcome, verifies every order with `protocol::OrderVerifier` against the plan key
in join.toml (following signed plan key rotations), optionally fetches the artifact with the agent's
credit-based flow control and checks its digest (`--fetch`), waits `--apply-ms` on a timer, and
reports accepted then healthy (or reverted with probability `--fail-rate`), keeping live_version and
health. One reactor thread polls every socket's ZMQ_FD with epoll and wakes for the earliest deadline
of a timer heap; libzmq adds one I/O thread (`--io-threads`). Connects are staggered
(`--connect-rate`, default 400/s, and `--connect-window`, default 64 agents connected but not yet
welcomed). Each agent costs two file descriptors; the swarm raises RLIMIT_NOFILE to the hard limit
(20,000 here, so about 9,900 agents per process) and ZMQ_MAX_SOCKETS, and refuses more: run several
processes with distinct `--id-prefix`. When join.toml lists several coordinators, each agent also
watches its connection with a socket monitor, as the agent does, and moves to another endpoint when
its leader is gone (reset connection, or a silent one for the agent's `link_timeout`, 10 s) or answers `not_leader`:
four descriptors per agent then (docs/ha.md). Other flags: `--heartbeat-ms` (override the welcome's
interval), `--link-timeout-ms` (ZMTP heartbeats as the agent sets them; default the agent's), `--order-log FILE` (one line per
order event: kind, unix ms, agent, order id), `--progress S` (a JSON line of counters on stderr every
S seconds), `--seed`. On exit (`--duration`, SIGTERM or SIGINT) it prints one JSON line on stdout:
`agents`, `connected`, `online`, `pending`, `elapsed_s`, `all_connected_s`, `all_online_s`, message
counters (`hellos`, `heartbeats`, `reports`, `fetches`, `messages_in`, `send_dropped`, ...),
`orders` {{received, verified, refused, healthy, reverted, failed}}, `first_receipt_ms`,
`last_verified_ms`, `receipt_to_verified` and `receipt_to_done` (n, p50/p90/p99/max in ms),
`fd_limit` and `rss_kb`.

## Notes

{notes}
"""
    with open(a.out, "w") as f:
        f.write(doc)


AGENT_PHASE = re.compile(r"order ([^/]+)/([^/]+)/\S+: \S+ \S+ ([a-z_]+)")
WAVE_EVENT = re.compile(r"\[([^\]]+)\] (wave_started|wave_succeeded|rollout_started|rollout_succeeded)")
PHASES = ["accepted", "fetching", "staging", "before_switch", "switching", "restarting", "probation", "healthy"]


def cmd_phases(a):
    """Where a real-agent rollout's time goes: for each wave, wave start -> first phase report
    (dispatch), each phase's length on the slowest host, last healthy -> next wave start."""
    waves = []  # [start_ms, end_ms]
    with open(a.coord_log, errors="replace") as f:
        for line in f:
            m = WAVE_EVENT.search(line)
            if not m or m.group(1) != a.rollout:
                continue
            t = log_ms(line)
            if m.group(2) == "wave_started":
                waves.append([t, None])
            elif m.group(2) == "wave_succeeded" and waves:
                waves[-1][1] = t
    hosts = {}  # host -> {phase: ms}
    for path in a.agent_logs:
        with open(path, errors="replace") as f:
            for line in f:
                m = AGENT_PHASE.search(line)
                if not m or m.group(1) != a.rollout or m.group(3) not in PHASES:
                    continue
                hosts.setdefault(m.group(2), {}).setdefault(m.group(3), log_ms(line))
    out = []
    for i, (start, end) in enumerate(waves):
        members = {h: p for h, p in hosts.items() if "accepted" in p and p["accepted"] >= start - 1 and
                   (end is None or p["accepted"] <= end)}
        steps = {}
        prev = "wave_start"
        for ph in PHASES:
            spans = []
            for p in members.values():
                if ph not in p:
                    continue
                before = [p[q] for q in PHASES[:PHASES.index(ph)] if q in p]
                spans.append(p[ph] - (max(before) if before else start))
            if spans:
                steps[f"{prev}->{ph}"] = round(max(spans))
                prev = ph
        out.append({"wave": i, "hosts": len(members), "wall_ms": round(end - start) if end else None,
                    "slowest_host_ms": steps})
    json.dump({"rollout": a.rollout, "waves": out}, sys.stdout)
    print()


def cmd_threads(a):
    """"comm 12.3%, comm 4.5%" for the busiest threads of one process in a procstat document on stdin."""
    doc = json.loads(sys.stdin.read() or "{}").get(a.name, {})
    print(", ".join(f"{t['comm']} {t['cpu_pct']:.1f}%" for t in doc.get("threads", [])[:a.top] if t["cpu_pct"] > 0))


def cmd_plan(a):
    """A plan from examples/plans/web.toml.in (or any template) with keys replaced."""
    with open(a.template) as f:
        lines = f.read().replace("@VERSION@", a.version).replace("@ARTIFACT@", a.artifact).split("\n")
    sets = dict(kv.split("=", 1) for kv in a.set)
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if a.drop_exec and line.strip() == "[[health.check]]" and i + 1 < len(lines) and \
                lines[i + 1].startswith("exec"):
            i += 2
            continue
        key = re.match(r"^([a-z_]+)\s*=", line)
        if key and key.group(1) in sets:
            line = f"{key.group(1)} = {sets[key.group(1)]}"
        out.append(line)
        i += 1
    text = "\n".join(out).rstrip() + "\n"
    if a.target:
        labels = ", ".join('{} = "{}"'.format(*kv.split("=", 1)) for kv in a.target)
        text += f"\n[target]\nlabels = {{ {labels} }}\n"
    sys.stdout.write(text)


def cmd_serves(a):
    """How many of the ports answer /version with VERSION and /healthz with 200."""
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    ok = 0
    ports = [p for p in a.ports.split(",") if p]
    for port in ports:
        try:
            v = opener.open(f"http://127.0.0.1:{port}/version", timeout=2).read().decode().strip()
            h = opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2).status
            ok += v == a.version and h == 200
        except Exception:  # refused, timeout, 500: not serving
            pass
    print(ok)


def cmd_record(a):
    """Appends one row of the table to the results file."""
    value = a.value
    verdict = a.verdict or ""
    if a.num is not None:
        try:
            x = float(a.num)
            value = (a.fmt or "{:g}").format(x) + (a.unit or "")
            if a.le is not None:
                verdict = "met" if x <= a.le else "missed"
            elif a.ge is not None:
                verdict = "met" if x >= a.ge else "missed"
        except ValueError:
            value = f"{a.num} (no figure)"
            verdict = "failed"
    with open(a.results, "a") as f:
        f.write(json.dumps({"id": a.id, "what": a.what, "value": value, "target": a.target or "",
                            "verdict": verdict, "command": a.command or ""}) + "\n")


def cmd_field(a):
    """Prints one field of a JSON document on stdin, by a dotted path ("x.y.0.z"); "" when absent."""
    try:
        doc = json.loads(sys.stdin.read() or "null")
    except json.JSONDecodeError:
        print("")
        return
    for part in a.path.split("."):
        if isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        elif isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            print("")
            return
    print("" if doc is None else (json.dumps(doc) if isinstance(doc, (dict, list)) else doc))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("procstat")
    p.add_argument("--window", type=float, required=True)
    p.add_argument("pids", nargs="+")
    p.set_defaults(func=cmd_procstat)
    p = sub.add_parser("online")
    p.add_argument("--flotilla", required=True)
    p.add_argument("--start", type=float, required=True)
    p.add_argument("--thresholds", required=True)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--interval", type=float, default=1.0)
    p.set_defaults(func=cmd_online)
    p = sub.add_parser("wait-rollout")
    p.add_argument("--flotilla", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--start", type=float, required=True)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--interval", type=float, default=0.1)
    p.set_defaults(func=cmd_wait_rollout)
    p = sub.add_parser("dispatch")
    p.add_argument("--coord-log", required=True)
    p.add_argument("--rollout", required=True)
    p.add_argument("--hosts", type=int, required=True)
    p.add_argument("--events", default="verified", help="order-log kinds that count, comma-separated")
    p.add_argument("--from-ms", type=int, help="unix ms to measure from (default: the wave_started log line)")
    p.add_argument("order_logs", nargs="+")
    p.set_defaults(func=cmd_dispatch)
    p = sub.add_parser("verdict-time")
    p.add_argument("--coord-log", required=True)
    p.add_argument("--rollout", required=True)
    p.add_argument("--db", help="the coordinator's store: count the samples stored per wave and role")
    p.set_defaults(func=cmd_verdict_time)
    p = sub.add_parser("swarm-rate")
    p.add_argument("--window", type=float, required=True)
    p.add_argument("logs", nargs="+")
    p.set_defaults(func=cmd_swarm_rate)
    p = sub.add_parser("phases")
    p.add_argument("--coord-log", required=True)
    p.add_argument("--rollout", required=True)
    p.add_argument("agent_logs", nargs="+")
    p.set_defaults(func=cmd_phases)
    p = sub.add_parser("machine")
    p.set_defaults(func=cmd_machine)
    p = sub.add_parser("render")
    p.add_argument("--results", required=True)
    p.add_argument("--machine", required=True)
    p.add_argument("--notes")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("threads")
    p.add_argument("name")
    p.add_argument("--top", type=int, default=3)
    p.set_defaults(func=cmd_threads)
    p = sub.add_parser("plan")
    p.add_argument("--template", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--artifact", required=True)
    p.add_argument("--set", action="append", default=[], help="KEY=TOML_VALUE for a top-level line `KEY = ...`")
    p.add_argument("--target", action="append", default=[], help="label k=v for [target]")
    p.add_argument("--drop-exec", action="store_true", help="remove the exec health check")
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser("serves")
    p.add_argument("--ports", required=True)
    p.add_argument("--version", required=True)
    p.set_defaults(func=cmd_serves)
    p = sub.add_parser("record")
    p.add_argument("--results", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--what", required=True)
    p.add_argument("--value", default="")
    p.add_argument("--num")
    p.add_argument("--unit")
    p.add_argument("--fmt")
    p.add_argument("--le", type=float)
    p.add_argument("--ge", type=float)
    p.add_argument("--target")
    p.add_argument("--verdict")
    p.add_argument("--command")
    p.set_defaults(func=cmd_record)
    p = sub.add_parser("field")
    p.add_argument("path")
    p.set_defaults(func=cmd_field)
    a = ap.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
