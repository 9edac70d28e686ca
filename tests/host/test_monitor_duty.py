"""`tinyml monitor --port sim` reports how long the virtual board slept between inferences
(hal/_sim.py's sleep.trace) and what average power that means from boards.json."""

import re
import struct
import subprocess
import sys
from pathlib import Path

import models
from tinyml_host import export, tmdl
from tinyml_host.monitor.transports import read_sleep_trace


def test_sleep_trace_gives_span_time_asleep_and_waits(tmp_path):
    trace = tmp_path / "sleep.trace"
    # three waits: at 1000 ms for 15 ms, at 1020 for 18, at 1040 for 17 (idle, idle, lightsleep)
    trace.write_bytes(struct.pack("<III", 1000, 15, 0) + struct.pack("<III", 1020, 18, 0)
                      + struct.pack("<III", 1040, 17, 1) + b"\x01\x02")   # a record being written
    assert read_sleep_trace(trace) == {"span_ms": 57, "asleep_ms": 50, "awake_ms": 7, "wakeups": 3,
                                       "wait": "lightsleep"}
    # across the unix port's ticks_ms wrap (2**30)
    trace.write_bytes(struct.pack("<III", (1 << 30) - 10, 8, 0) + struct.pack("<III", 2, 8, 0))
    assert read_sleep_trace(trace)["span_ms"] == 20
    assert read_sleep_trace(tmp_path / "none") is None


def test_cli_monitor_port_sim_reports_the_duty_cycle(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sine.tmdl").write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    tinyml = Path(sys.executable).parent / "tinyml"
    proc = subprocess.run([str(tinyml), "monitor", "--port", "sim", "--board", "esp32", "--seconds", "3"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    asleep = float(re.search(r"board asleep \(measured\)\s*│\s*([\d.]+)%", proc.stdout).group(1))
    assert 50 < asleep <= 100
    # ESP32 with a (simulated) BLE link open: idle waits (light sleep drops the radio), 44/27 mA at 3.3 V
    assert "(idle)" in proc.stdout
    mw = float(re.search(r"average power \(estimated\)\s*│\s*([\d.]+) mW", proc.stdout).group(1))
    assert 27 * 3.3 <= mw <= 44 * 3.3
