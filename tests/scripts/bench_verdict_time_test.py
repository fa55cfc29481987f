#!/usr/bin/env python3
"""bench.py verdict-time (scripts/bench.sh section h): the end of an analysed wave's bake is its
wave_baking log line plus the bake that line announces; the verdict is the analysis_verdict line
that follows, for the same rollout. Log lines carry milliseconds, the events API only seconds."""
import importlib.util
import os
import unittest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "bench", "bench.py")


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def line(stamp, text):
    return f"2026-11-30T19:00:{stamp}+00:00 flotilla-coordinator[42] info: {text}\n"


class VerdictTime(unittest.TestCase):
    def setUp(self):
        self.bench = load_bench()

    def test_durations_as_the_coordinator_writes_them(self):
        self.assertEqual(self.bench.duration_ms("4s"), 4000)
        self.assertEqual(self.bench.duration_ms("500ms"), 500)
        self.assertEqual(self.bench.duration_ms("1m30s"), 90000)
        self.assertEqual(self.bench.duration_ms("1d2h"), 93600000)
        self.assertIsNone(self.bench.duration_ms("4 s"))
        self.assertIsNone(self.bench.duration_ms("soon"))

    def test_each_wave_pairs_its_bake_with_the_verdict_that_follows(self):
        log = [
            line("00.000", "[fleet-1] wave_started"),
            line("01.250", "[fleet-1] wave_baking: bake 4s, analysed"),
            line("02.000", "[fleet-2] wave_baking: bake 1s, analysed"),
            line("03.000", "[fleet-2] analysis_verdict: fail: score 0 (pass 95, marginal 75)"),
            line("05.262", "[fleet-1] analysis_verdict: pass: score 100 (pass 95, marginal 75)"),
            line("05.300", "[fleet-1] wave_succeeded"),
            line("06.000", "[fleet-1] wave_baking: bake 4s, analysed"),
            line("10.004", "[fleet-1] analysis_verdict: pass: score 100 (pass 95, marginal 75); no host is left"),
        ]
        waves = self.bench.verdict_times(log, "fleet-1")
        self.assertEqual(len(waves), 2)
        self.assertEqual(waves[0]["wave"], 0)
        self.assertEqual(waves[0]["bake_ms"], 4000)
        self.assertTrue(waves[0]["analysed"])
        self.assertEqual(waves[0]["bake_end_to_verdict_ms"], 12)
        self.assertEqual(waves[0]["outcome"], "pass")
        self.assertEqual(waves[1]["bake_end_to_verdict_ms"], 4)

    def test_a_wave_with_no_verdict_yet_has_no_figure(self):
        waves = self.bench.verdict_times([line("01.000", "[fleet-1] wave_baking: bake 4s, analysed")], "fleet-1")
        self.assertEqual(len(waves), 1)
        self.assertNotIn("bake_end_to_verdict_ms", waves[0])


if __name__ == "__main__":
    unittest.main()
