#!/usr/bin/env python3
"""One scale point for docs/scaling.md: N flotilla-swarm agents against one coordinator.

Uses the release build scripts/bench.sh makes (build/bench; `--build` for another), on
127.0.0.1, in a temporary directory. Four steps, each printed as one JSON line on stdout:

  connect   start the swarms; time until the coordinator has logged every agent online (its
            `agent X online` lines, millisecond timestamps), the coordinator's CPU per thread
            over that time, per agent, and its RSS;
  rest      CPU and RSS with N agents heartbeating every 5 s, over --rest-window seconds;
  wave      (--wave) one zero-bake wave to every agent: time to done, the rows the store
            gained per host (events by kind, from flotilla.db), the coordinator's CPU per
            thread over the wave and its peak RSS; with --fetch every agent downloads the
            artifact (padded to --artifact-kb) through the coordinator, as agents do today;
  restart   the coordinator killed with SIGKILL and started again on the same directory and
            port after --gap seconds (what agents see in a failover that keeps the address):
            time from its start until every agent is online again, its CPU per thread by then,
            and the most welcomes in one second.

The swarm's own CPU runs on the same cores: the machine's load averages are printed with
each step. Connect rate: --connect-rate per swarm (flotilla-swarm's pacing of first connects).
"""

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (proc_times, threads, rss_kb, log_ms, flotilla_json)

ONLINE = re.compile(r" agent (\S+) online \(")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_by_thread(pid):
    """CPU seconds per thread name (threads of one name summed)."""
    out = {}
    for _, (ticks, comm) in bench.threads(pid).items():
        out[comm] = out.get(comm, 0.0) + ticks / bench.CLK_TCK
    return out


def online_times(log_path, since_ms):
    """When each agent was first logged online (`agent X online`) at or after since_ms, in ms."""
    first = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            m = ONLINE.search(line)
            if m and m.group(1) not in first:
                ms = bench.log_ms(line)
                if ms is not None and ms >= since_ms:
                    first[m.group(1)] = ms
    return list(first.values())


class Coordinator:
    def __init__(self, build, work):
        self.bin = os.path.join(build, "coordinator", "flotilla-coordinator")
        self.console = os.path.join(build, "coordinator", "flotilla")
        self.dir = os.path.join(work, "coord")
        subprocess.run([self.bin, "init", self.dir, "--listen", f"tcp://127.0.0.1:{free_port()}"], check=True,
                       stdout=subprocess.DEVNULL)
        os.environ["FLOTILLA_CONTROL"] = f"ipc://{self.dir}/control.sock"
        self.proc = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.log = f"{self.dir}.{self.runs}.log"
        self.started_ms = round(time.time() * 1000)
        self.proc = subprocess.Popen([self.bin, "run", "--config", os.path.join(self.dir, "coordinator.toml")],
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        for _ in range(300):
            if subprocess.run([self.console, "--json", "--timeout", "2", "agents"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit(f"coordinator did not answer; see {self.log}")

    def wait_online(self, n, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            times = online_times(self.log, self.started_ms)
            if len(times) >= n:
                return times
            time.sleep(0.5)
        return online_times(self.log, self.started_ms)


def summary(times, t0_ms, n):
    times = sorted(times)
    per_s = {}
    for t in times:
        per_s[(t - t0_ms) // 1000] = per_s.get((t - t0_ms) // 1000, 0) + 1
    at = lambda q: round((times[min(len(times) - 1, int(q * len(times)))] - t0_ms) / 1000, 2) if times else None
    return {"online": len(times), "of": n, "p50_s": at(0.5), "p99_s": at(0.99),
            "all_s": round((times[-1] - t0_ms) / 1000, 2) if len(times) >= n else None,
            "peak_welcomes_per_s": max(per_s.values()) if per_s else 0}


def cpu_step(before, after, n):
    names = sorted(set(before) | set(after))
    delta = {k: round(after.get(k, 0) - before.get(k, 0), 2) for k in names}
    reactor = sum(v for k, v in delta.items() if k.startswith("flotilla"))
    io = sum(v for k, v in delta.items() if k.startswith("ZMQbg/IO"))
    return {"cpu_s_by_thread": delta, "reactor_ms_per_agent": round(1000 * reactor / n, 3),
            "io_threads_ms_per_agent": round(1000 * io / n, 3),
            "process_ms_per_agent": round(1000 * sum(delta.values()) / n, 3)}


def emit(step, doc):
    doc = {"step": step, "load": load(), **doc}
    print(json.dumps(doc), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build/bench")
    p.add_argument("--agents", type=int, default=20000)
    p.add_argument("--swarms", type=int, default=3)
    p.add_argument("--connect-rate", type=int, default=400, help="first connects per second, per swarm")
    p.add_argument("--rest-window", type=float, default=20)
    p.add_argument("--wave", action="store_true")
    p.add_argument("--fetch", action="store_true", help="swarm agents download the artifact")
    p.add_argument("--artifact-kb", type=int, default=0, help="padding of the wave's artifact, KB")
    p.add_argument("--gap", type=float, default=6, help="s between the kill and the restart")
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the processes started are stopped
    work = tempfile.mkdtemp(prefix="flotilla-scale.")
    coord = Coordinator(a.build, work)
    swarm_bin = os.path.join(a.build, "agent", "swarm", "flotilla-swarm")
    swarms = []
    try:
        coord.start()
        time.sleep(1)
        rss0 = bench.rss_kb(coord.proc.pid)
        cpu0 = cpu_by_thread(coord.proc.pid)
        t0_ms = round(time.time() * 1000)
        per = a.agents // a.swarms
        for k in range(a.swarms):
            n = per if k < a.swarms - 1 else a.agents - per * (a.swarms - 1)
            swarms.append(subprocess.Popen(
                [swarm_bin, "--join", os.path.join(coord.dir, "join.toml"), "--agents", str(n), "--id-prefix",
                 f"s{k}-", "--label", "role=swarm", "--connect-rate", str(a.connect_rate), "--connect-window", "64"] + (["--fetch"] if a.fetch else []),
                stdout=open(os.path.join(work, f"swarm-{k}.json"), "w"),
                stderr=open(os.path.join(work, f"swarm-{k}.err"), "w")))
        times = coord.wait_online(a.agents, a.timeout)
        cpu1 = cpu_by_thread(coord.proc.pid)
        rss1 = bench.rss_kb(coord.proc.pid)
        emit("connect", {"agents": a.agents, "swarms": a.swarms, "connect_rate_per_swarm": a.connect_rate,
                         **summary(times, t0_ms, a.agents), **cpu_step(cpu0, cpu1, len(times) or 1),
                         "rss_mb_before": round(rss0 / 1024, 1), "rss_mb": round(rss1 / 1024, 1),
                         "kb_per_agent": round((rss1 - rss0) / max(1, len(times)), 1)})
        time.sleep(6)
        stat = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "bench.py"), "procstat",
                               "--window", str(a.rest_window), f"coord={coord.proc.pid}"],
                              capture_output=True, text=True).stdout
        c = json.loads(stat)["coord"]
        listing = []  # the inventory is built on the reactor: what one `flotilla agents` costs it
        for _ in range(3):
            t = time.time()
            out = subprocess.run([coord.console, "--json", "--timeout", "60", "agents"], capture_output=True).stdout
            listing.append(round(1000 * (time.time() - t)))
        emit("rest", {"agents": a.agents, "heartbeat_interval_s": 5, "cpu_pct_of_a_core": c.get("cpu_pct"),
                      "threads": {t["comm"]: t["cpu_pct"] for t in c.get("threads", [])[:4]},
                      "rss_mb": round((c.get("rss_kb") or 0) / 1024, 1),
                      "kb_per_agent": round(((c.get("rss_kb") or 0) - rss0) / a.agents, 1),
                      "agents_listing_ms": listing, "agents_listing_bytes": len(out)})
        if a.wave:
            wave(a, coord, work)
        coord.proc.send_signal(signal.SIGKILL)
        coord.proc.wait()
        time.sleep(a.gap)
        coord.start()
        times = coord.wait_online(a.agents, a.timeout)
        emit("restart", {"agents": a.agents, "gap_s": a.gap, **summary(times, coord.started_ms, a.agents),
                         **cpu_step({}, cpu_by_thread(coord.proc.pid), len(times) or 1),
                         "rss_mb": round(bench.rss_kb(coord.proc.pid) / 1024, 1)})
    finally:
        for s in swarms:
            s.send_signal(signal.SIGTERM)
        if coord.proc:
            coord.proc.send_signal(signal.SIGTERM)
        for s in swarms:
            s.wait()
        if coord.proc:
            coord.proc.wait()
        print(f"# work directory: {work}", file=sys.stderr)


def wave(a, coord, work):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    artifact = os.path.join(work, "fleet.tar.gz")
    subprocess.run([os.path.join(root, "examples", "make-release.sh"), "1", artifact, "--pad", str(a.artifact_kb)],
                   check=True, stdout=subprocess.DEVNULL)
    plan = os.path.join(work, "wave.toml")
    with open(plan, "w") as f:
        f.write('app = "fleet"\nversion = "1"\n\n[artifact]\nfile = "fleet.tar.gz"\n\n[target]\n'
                'labels = { role = "swarm" }\n\n[waves]\nsizes = ["100%"]\nmax_parallel = 1000000\n'
                'max_failed = 0\nmax_unreachable = 0\nbake = "0s"\non_failure = "halt"\ndeadline = "5m"\n\n'
                '[health]\ninterval = "1s"\nhealthy_for = "0s"\ndeadline = "10s"\n')
    t0 = time.time()
    cpu0 = cpu_by_thread(coord.proc.pid)
    peak = bench.rss_kb(coord.proc.pid)
    rid = bench.flotilla_json(coord.console, "rollout", plan, timeout=120).get("id")
    state = None
    while time.time() < t0 + a.timeout and rid:
        doc = bench.flotilla_json(coord.console, "status", rid)
        state = (doc.get("rollout", doc) or {}).get("state")
        peak = max(peak, bench.rss_kb(coord.proc.pid) or 0)
        if state in bench.TERMINAL:
            break
        time.sleep(0.5)
    wall = round(time.time() - t0, 2)
    cpu = cpu_step(cpu0, cpu_by_thread(coord.proc.pid), a.agents)
    marks = {}  # the coordinator's own times: wave started -> wave ended
    with open(coord.log, errors="replace") as f:
        for line in f:
            for kind in ("wave_started", "wave_succeeded", "wave_failed"):
                if f"[{rid}] {kind}:" in line:
                    marks.setdefault(kind, bench.log_ms(line))
    end = marks.get("wave_succeeded") or marks.get("wave_failed")
    wave_s = round((end - marks["wave_started"]) / 1000, 3) if end and "wave_started" in marks else None
    db = sqlite3.connect(f"file:{os.path.join(coord.dir, 'flotilla.db')}?mode=ro", uri=True)
    kinds = dict(db.execute("SELECT kind, count(*) FROM events WHERE rollout_id = ? GROUP BY kind", (rid,)))
    hosts = db.execute("SELECT count(*) FROM rollout_hosts WHERE rollout_id = ?", (rid,)).fetchone()[0]
    db.close()
    emit("wave", {"agents": a.agents, "rollout": rid, "state": state, "submission_to_done_s": wall, "wave_start_to_end_s": wave_s,
                  "events_by_kind": kinds, "events_per_host": round(sum(kinds.values()) / max(1, a.agents), 2),
                  "host_rows": hosts, "artifact_bytes": os.path.getsize(artifact), "fetched": a.fetch,
                  "served_mb": round(os.path.getsize(artifact) * a.agents / 1e6, 1) if a.fetch else 0,
                  **cpu, "peak_rss_mb": round(peak / 1024, 1)})


if __name__ == "__main__":
    main()
