#!/usr/bin/env python3
"""A fleet reconnecting to a new leader after a failover: a discrete-event model.

Used by docs/scaling.md. Standard library only; deterministic for a given --seed.

What it models (each constant is the code's, cited):
- The agent's libzmq reconnect policy (agent/src/agent.cpp, the same in flotilla-swarm):
  ZMQ_RECONNECT_IVL = 250 + U[0, 750) ms per agent, ZMQ_RECONNECT_IVL_MAX = 30 s. libzmq 4.3
  (stream_connecter_base.cpp) waits `current + random % reconnect_ivl` and doubles `current`
  up to the maximum after each failed attempt. A connection that was made and then dropped
  (handshake timed out) starts a new connecter: the backoff starts again from reconnect_ivl.
- The agent's session (agent/include/flotilla/agent/session.h): after the CURVE handshake it
  says hello at once, and again after kHelloBackoffMin (1 s) plus up to half of it as jitter,
  doubling to kHelloBackoffMax (30 s), until a welcome arrives. Each hello the coordinator
  reads costs it a full hello (admission, store upsert of the agent, welcome, resent orders).
- Once welcomed the agent heartbeats every `interval` from its welcome, with no jitter
  (Session::sendHeartbeat): heartbeat phases are the welcome times modulo the interval.

The coordinator side is two FIFO stages with costs in CPU seconds, which are inputs:
- CURVE handshakes on libzmq's I/O threads (`--io-threads`, the coordinator uses 2), each
  taking `--handshake-cpu-ms` of one thread. A connection whose handshake has not started
  within ZMQ_HANDSHAKE_IVL (30 s, libzmq's default; the coordinator does not set it) is
  dropped and the agent reconnects.
- The reactor (one thread): the ZAP request and the hello, `--hello-cpu-ms` each, slowed by the
  share of the reactor the heartbeats of the agents already online take (`--heartbeat-cpu-us`
  each, every `--interval` s).

The leader starts leading at t = 0; the old one failed `--gap` seconds earlier (all agents saw
their connection drop then, or spread over the ZMTP heartbeat timeout with --detect zmtp).
Attempts before t = 0 are refused without a handshake (nothing serves the agents' port yet).

Prints one JSON document: time to 50/99/100% online after the leader leads, offered and
served handshakes per second (peak one-second bucket), handshake timeouts, hellos read
(duplicates included), and the heartbeat rate in the first interval after all are online
(peak 100 ms bucket against the mean).
"""

import argparse
import heapq
import json
import random

RECONNECT_IVL_MAX = 30.0  # s, agent/src/agent.cpp
HELLO_BACKOFF_MIN = 1.0  # s, kHelloBackoffMin
HELLO_BACKOFF_MAX = 30.0  # s, kHelloBackoffMax
HANDSHAKE_IVL = 30.0  # s, libzmq default ZMQ_HANDSHAKE_IVL
ZMTP_HEARTBEAT_IVL = 10.0  # s, agent/src/agent.cpp
ZMTP_HEARTBEAT_TIMEOUT = 30.0  # s

ATTEMPT, HS_DONE, HELLO_RESEND = 0, 1, 2


class Agent:
    __slots__ = ("ivl0", "cur", "hello_backoff", "online_at", "hellos")

    def __init__(self, ivl0):
        self.ivl0 = ivl0
        self.cur = ivl0
        self.hello_backoff = HELLO_BACKOFF_MIN
        self.online_at = None
        self.hellos = 0

    def next_reconnect_wait(self, rng):
        wait = self.cur + rng.random() * self.ivl0
        self.cur = min(self.cur * 2, RECONNECT_IVL_MAX)
        return wait


def simulate(a):
    rng = random.Random(a.seed)
    hs_cpu = a.handshake_cpu_ms / 1000.0
    hello_cpu = a.hello_cpu_ms / 1000.0
    hb_share_per_agent = a.heartbeat_cpu_us / 1e6 / a.interval  # reactor share per online agent
    agents = [Agent((250 + rng.random() * 750) / 1000.0) for _ in range(a.agents)]
    events = []  # (time, kind, agent index)
    for i, ag in enumerate(agents):
        drop = -a.gap
        if a.detect == "zmtp":  # a dead host: no RST, the ZMTP heartbeat timeout notices
            drop += ZMTP_HEARTBEAT_TIMEOUT - rng.random() * ZMTP_HEARTBEAT_IVL
        heapq.heappush(events, (drop + ag.next_reconnect_wait(rng), ATTEMPT, i))
    io_free = [0.0] * a.io_threads  # when each I/O thread is next free
    heapq.heapify(io_free)
    reactor_free = 0.0
    online = 0
    offered, served, online_buckets = {}, {}, {}
    timeouts = hellos = 0
    max_hs_wait = max_hello_wait = 0.0

    def bump(d, t):
        k = int(t)
        d[k] = d.get(k, 0) + 1

    def read_hello(i, t):
        nonlocal reactor_free, hellos, online, max_hello_wait
        ag = agents[i]
        start = max(t, reactor_free)
        share = min(online * hb_share_per_agent, 0.95)
        reactor_free = start + hello_cpu / (1.0 - share)
        max_hello_wait = max(max_hello_wait, reactor_free - t)
        hellos += 1
        ag.hellos += 1
        if ag.online_at is None:
            ag.online_at = reactor_free
            online += 1  # counted from now: the reactor is FIFO, so no earlier event sees it
            bump(online_buckets, reactor_free)

    while events:
        t, kind, i = heapq.heappop(events)
        ag = agents[i]
        if kind == ATTEMPT:
            if t < 0:
                heapq.heappush(events, (t + ag.next_reconnect_wait(rng), ATTEMPT, i))
                continue
            bump(offered, t)
            free = heapq.heappop(io_free)
            start = max(t, free)
            if start - t > HANDSHAKE_IVL:
                heapq.heappush(io_free, free)
                timeouts += 1
                ag.cur = ag.ivl0  # a new connecter after a dropped connection
                heapq.heappush(events, (t + HANDSHAKE_IVL + ag.next_reconnect_wait(rng), ATTEMPT, i))
                continue
            done = start + hs_cpu
            heapq.heappush(io_free, done)
            max_hs_wait = max(max_hs_wait, start - t)
            bump(served, done)
            heapq.heappush(events, (done, HS_DONE, i))
        elif kind == HS_DONE:
            read_hello(i, t)
            wait = ag.hello_backoff + rng.random() * ag.hello_backoff / 2
            ag.hello_backoff = min(ag.hello_backoff * 2, HELLO_BACKOFF_MAX)
            heapq.heappush(events, (t + wait, HELLO_RESEND, i))
        elif kind == HELLO_RESEND:
            if ag.online_at is not None and ag.online_at <= t:
                continue
            read_hello(i, t)
            wait = ag.hello_backoff + rng.random() * ag.hello_backoff / 2
            ag.hello_backoff = min(ag.hello_backoff * 2, HELLO_BACKOFF_MAX)
            heapq.heappush(events, (t + wait, HELLO_RESEND, i))

    times = sorted(ag.online_at for ag in agents)

    def at(q):
        return round(times[min(len(times) - 1, int(q * len(times)))], 2)

    # Heartbeats in one interval after everyone is online: each agent's phase is its welcome.
    buckets = [0] * int(a.interval * 10)
    for ag in agents:
        buckets[int((ag.online_at % a.interval) * 10) % len(buckets)] += 1
    mean = a.agents / len(buckets)
    return {
        "inputs": {
            "agents": a.agents, "gap_s": a.gap, "detect": a.detect, "io_threads": a.io_threads,
            "handshake_cpu_ms": a.handshake_cpu_ms, "hello_cpu_ms": a.hello_cpu_ms,
            "heartbeat_cpu_us": a.heartbeat_cpu_us, "interval_s": a.interval, "seed": a.seed,
        },
        "capacity_per_s": {
            "handshakes": round(a.io_threads / hs_cpu) if hs_cpu > 0 else None,
            "hellos": round(1 / hello_cpu) if hello_cpu > 0 else None,
        },
        "online_s": {"p50": at(0.5), "p99": at(0.99), "all": round(times[-1], 2)},
        "handshakes_offered_peak_per_s": max(offered.values()),
        "handshakes_served_peak_per_s": max(served.values()),
        "welcomes_peak_per_s": max(online_buckets.values()),
        "handshake_timeouts": timeouts,
        "max_handshake_wait_s": round(max_hs_wait, 2),
        "max_hello_wait_s": round(max_hello_wait, 2),
        "hellos_read": hellos,
        "duplicate_hellos": hellos - a.agents,
        "heartbeats_after": {
            "mean_per_s": round(a.agents / a.interval),
            "peak_100ms_bucket_per_s": max(buckets) * 10,
            "peak_over_mean": round(max(buckets) / mean, 2),
        },
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agents", type=int, default=100_000)
    p.add_argument("--gap", type=float, default=10.0, help="s from the old leader's failure to the new one leading")
    p.add_argument("--detect", choices=["reset", "zmtp"], default="reset",
                   help="reset: connections drop at the failure (process killed); zmtp: a dead host")
    p.add_argument("--io-threads", type=int, default=2)
    p.add_argument("--handshake-cpu-ms", type=float, required=True, help="I/O-thread CPU per CURVE handshake")
    p.add_argument("--hello-cpu-ms", type=float, required=True, help="reactor CPU per ZAP request + hello")
    p.add_argument("--heartbeat-cpu-us", type=float, default=0.0, help="reactor CPU per heartbeat")
    p.add_argument("--interval", type=float, default=5.0, help="heartbeat interval, s")
    p.add_argument("--seed", type=int, default=1)
    print(json.dumps(simulate(p.parse_args()), indent=1))


if __name__ == "__main__":
    main()
