#!/usr/bin/env python3
"""bench.py dispatch (scripts/bench.sh sections b and i): each host's latency is from the
coordinator's wave_started log line, or from a given instant (the submission of a flag push or a
kill), to that host's first order-log line of the kinds asked for; other rollouts' lines and other
kinds do not count."""
import importlib.util
import os
import unittest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "bench", "bench.py")


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WAVE_MS = 1796097600000  # 2026-12-01T04:00:00.000Z
COORD = [
    "2026-12-01T04:00:00.000+00:00 flotilla-coordinator[42] info: [fleet-1] wave_started: 3 hosts\n",
    "2026-12-01T04:00:05.000+00:00 flotilla-coordinator[42] info: [flags:fleet-1] wave_started: 3 hosts\n",
]


def order(kind, ms, agent, rollout):
    return f"{kind}\t{ms}\t{agent}\t{rollout}/{agent}/7\n"


class OrderLatency(unittest.TestCase):
    def setUp(self):
        self.bench = load_bench()
        w = WAVE_MS + 5000  # flags:fleet-1's wave
        self.lines = [
            order("verified", WAVE_MS + 10, "h1", "fleet-1"),
            order("healthy", WAVE_MS + 20, "h1", "fleet-1"),
            order("verified", w + 100, "h1", "flags:fleet-1"),
            order("healthy", w + 150, "h1", "flags:fleet-1"),
            order("verified", w + 200, "h2", "flags:fleet-1"),
            order("reverted", w + 400, "h2", "flags:fleet-1"),
            order("verified", w + 300, "h3", "flags:fleet-1"),
            order("healthy", w + 900, "h3", "flags:fleet-1"),
            order("healthy", w + 950, "h3", "flags:fleet-1"),  # a repeat: the first line counts
            "garbage line\n",
        ]

    def test_verified_from_the_wave_start_by_default(self):
        out = self.bench.order_latencies(COORD, "flags:fleet-1", self.lines)
        self.assertEqual(out["wave_started_ms"], WAVE_MS + 5000)
        self.assertEqual(out["hosts_seen"], 3)
        self.assertEqual(out["events"], {"verified": 3})
        self.assertEqual((out["first_s"], out["p50_s"], out["last_s"]), (0.1, 0.2, 0.3))

    def test_terminal_reports_from_the_submission(self):
        submitted = WAVE_MS + 4900
        out = self.bench.order_latencies(COORD, "flags:fleet-1", self.lines, ("healthy", "reverted", "failed"),
                                         submitted)
        self.assertEqual(out["start_ms"], submitted)
        self.assertEqual(out["events"], {"healthy": 2, "reverted": 1})
        self.assertEqual((out["first_s"], out["p50_s"], out["p99_s"], out["last_s"]), (0.25, 0.5, 1.0, 1.0))

    def test_a_rollout_whose_id_is_a_suffix_of_another_is_kept_apart(self):
        out = self.bench.order_latencies(COORD, "fleet-1", self.lines, ("healthy",))
        self.assertEqual(out["hosts_seen"], 1)
        self.assertEqual(out["last_s"], 0.02)

    def test_no_host_reported_gives_no_figure(self):
        out = self.bench.order_latencies(COORD, "flags:fleet-2", self.lines, ("healthy",), WAVE_MS)
        self.assertEqual(out["hosts_seen"], 0)
        self.assertNotIn("last_s", out)


if __name__ == "__main__":
    unittest.main()
