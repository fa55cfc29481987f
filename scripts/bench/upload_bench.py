#!/usr/bin/env python3
"""Uploads a large artifact to a fresh coordinator and reports the peak memory of both ends.

  upload_bench.py --bin BUILD_DIR [--size BYTES] [--work DIR]

Creates a coordinator in a temporary directory, writes a SIZE-byte artifact (sparse, with a
random first MiB), and runs `flotilla --json rollout PLAN` against it. Nothing matches the
plan's target, so the rollout itself is refused; the upload before it is what is measured.
Prints one JSON document: seconds, the console's peak RSS (ru_maxrss of the waited child),
the coordinator's peak RSS (VmHWM from /proc/PID/status) and whether the artifact was stored.
python3 stdlib only; every wait is bounded.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def wait_for(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="build directory (holds coordinator/flotilla*)")
    ap.add_argument("--size", type=int, default=2 * 1000**3)
    ap.add_argument("--work", help="directory to work in (default: a new temporary one, removed after)")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    coordinator = os.path.join(a.bin, "coordinator", "flotilla-coordinator")
    console = os.path.join(a.bin, "coordinator", "flotilla")
    work = a.work or tempfile.mkdtemp(prefix="flotilla-upload-bench.")
    coord = None
    try:
        cdir = os.path.join(work, "coord")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        subprocess.run([coordinator, "init", cdir, "--listen", f"tcp://127.0.0.1:{port}"], check=True,
                       stdout=subprocess.DEVNULL)
        log = open(os.path.join(work, "coordinator.log"), "w")
        coord = subprocess.Popen([coordinator, "run", "--config", os.path.join(cdir, "coordinator.toml")],
                                 stdout=log, stderr=subprocess.STDOUT)
        sock = os.path.join(cdir, "control.sock")
        endpoint = "ipc://" + sock
        if not wait_for(lambda: subprocess.run([console, "--control", endpoint, "--json", "agents"],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0,
                        30):
            sys.exit("upload_bench: the coordinator did not start; see " + log.name)
        artifact = os.path.join(work, "big.tar")
        with open(artifact, "wb") as f:
            f.write(os.urandom(1 << 20))
            f.truncate(a.size)
        plan = os.path.join(work, "plan.toml")
        with open(plan, "w") as f:
            f.write('app = "big"\nversion = "1"\n\n[artifact]\nfile = "big.tar"\n\n'
                    '[target]\nlabels = { role = "nobody" }\n\n[waves]\nsizes = ["100%"]\n\n'
                    '[deploy]\nrestart = ["true"]\n\n[health]\ninterval = "1s"\nhealthy_for = "1s"\n'
                    'deadline = "10s"\n\n[[health.check]]\nexec = ["true"]\n')
        start = time.monotonic()
        proc = subprocess.Popen([console, "--control", endpoint, "--json", "--timeout", "60", "rollout", plan],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # wait4, not Popen.poll: only wait4 gives the child's ru_maxrss.
        deadline = time.monotonic() + a.timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out = proc.stdout.read().decode(errors="replace")
        stored = [n for n in os.listdir(os.path.join(cdir, "artifacts")) if not n.startswith(".")]
        stored_ok = len(stored) == 1 and os.path.getsize(os.path.join(cdir, "artifacts", stored[0])) == a.size
        print(json.dumps({
            "size_bytes": a.size,
            "seconds": round(seconds, 2),
            "mb_per_s": round(a.size / 1e6 / seconds, 1),
            "console_peak_rss_kb": usage.ru_maxrss,
            "coordinator_peak_rss_kb": vm_hwm_kb(coord.pid),
            "stored": stored_ok,
            "console_exit": os.waitstatus_to_exitcode(status),
            "console_output": out.strip()[:300],
        }))
    finally:
        if coord and coord.poll() is None:
            coord.terminate()
            try:
                coord.wait(20)
            except subprocess.TimeoutExpired:
                coord.kill()
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
