#!/usr/bin/env python3
"""bench.py reads the daemons' log timestamps (spdlog "%Y-%m-%dT%H:%M:%S.%e%z": local time with
its offset) as the instant they name, whatever the machine's time zone. Run by ctest with
TZ=America/New_York, where reading local time as UTC is five hours off."""
import datetime
import importlib.util
import os
import sys
import time
import unittest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "bench", "bench.py")


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spdlog_line(epoch_ms):
    """A log line stamped the way common/src/log.cpp does, in the local time zone."""
    local = datetime.datetime.fromtimestamp(epoch_ms / 1000).astimezone()
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}" + local.strftime("%z")
    return stamp[:-2] + ":" + stamp[-2:] + " flotilla-coordinator[42] info: [web-2] wave_started wave 0\n"


class LogMs(unittest.TestCase):
    def setUp(self):
        time.tzset()
        self.bench = load_bench()

    def test_local_timestamp_is_read_with_its_offset(self):
        epoch_ms = 1796065200123  # 2026-11-30T19:00:00.123Z
        line = spdlog_line(epoch_ms)
        self.assertEqual(self.bench.log_ms(line), epoch_ms, line)

    def test_utc_and_other_offsets(self):
        self.assertEqual(self.bench.log_ms("2026-11-30T19:00:00.123+00:00 x"), 1796065200123)
        self.assertEqual(self.bench.log_ms("2026-11-30T14:00:00.123-05:00 x"), 1796065200123)
        self.assertEqual(self.bench.log_ms("2026-12-01T04:30:00.123+09:30 x"), 1796065200123)

    def test_a_line_without_a_timestamp_is_none(self):
        self.assertIsNone(self.bench.log_ms("verified\t1\th0\tweb-2/h0"))


if __name__ == "__main__":
    if "TZ" not in os.environ:
        sys.exit("run with TZ set (ctest sets TZ=America/New_York)")
    unittest.main()
