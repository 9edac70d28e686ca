"""`tinyml bench` reports the apps' duty cycle measured on the board (the virtual board here) and
the average power it means from boards.json's power facts."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import models
from tinyml_host import bench, boards, deploy, export, tmdl
from tinyml_host.board import Board
from tinyml_host.sim import VirtualBoard

ROOT = Path(__file__).resolve().parents[2]


def test_average_power_from_a_measured_duty_cycle():
    facts = boards.load()
    # ESP32 (datasheet v3.5 Table 6): 44 mA busy, 27 mA idle, 0.8 mA light sleep, at 3.3 V
    row = {"app": "motion", "board": "esp32", "awake_ms": 10, "asleep_ms": 90, "wakeups": 5, "wait": "idle"}
    out = bench.average_power(row, facts)
    assert out["asleep_fraction"] == 0.9
    assert np.isclose(out["avg_mw"], (0.1 * 44 + 0.9 * 27) * 3.3)        # 94.71 mW
    light = bench.average_power(dict(row, wait="lightsleep"), facts)
    assert np.isclose(light["avg_mw"], (0.1 * 44 + 0.9 * 0.8) * 3.3)     # 16.896 mW
    # Pico, measured at the 5 V USB input: 21.24 mA busy (cpottle9/RP2-PowerControl), 1.5 mA in a
    # timed lightsleep (MicroPython commit b004e7e397)
    pico = bench.average_power(dict(row, board="pico", wait="lightsleep"), facts)
    assert np.isclose(pico["avg_mw"], (0.1 * 21.24 + 0.9 * 1.5) * 5.0)   # 17.37 mW
    # Pico W, radio off: 20.94 mA busy, 18.35 mA in time.sleep_ms
    pico_w = bench.average_power(dict(row, board="pico_w"), facts)
    assert np.isclose(pico_w["avg_mw"], (0.1 * 20.94 + 0.9 * 18.35) * 5.0)  # 93.045 mW
    # no busy current: no average
    facts_without = json.loads(json.dumps(facts))
    facts_without["pico"]["power"]["active"]["ma"] = None
    nothing = bench.average_power(dict(row, board="pico", wait="lightsleep"), facts_without)
    assert nothing["avg_mw"] is None and "busy-CPU" in nothing["why_not"]
    # Nano: 6.3 mA busy (nRF52840 PS, LDO), 3.16 uA idle (ION_RAMON_RTC, a floor), at 3.3 V
    nano = bench.average_power(dict(row, board="nano33_ble_sense"), facts)
    assert np.isclose(nano["avg_mw"], (0.1 * 6.3 + 0.9 * 0.00316) * 3.3)  # 2.0883852 mW
    assert nano["avg_is_lower_bound"] and not out["avg_is_lower_bound"]
    # Pico 2 W: no documented wait current on the RP2350 for time.sleep_ms
    pico2 = bench.average_power(dict(row, board="pico2_w"), facts)
    assert pico2["avg_mw"] is None and "idle" in pico2["why_not"]


@pytest.fixture
def esp32_board(tmp_path):
    with VirtualBoard(tmp_path / "flash", board="esp32") as vb:
        motion = tmp_path / "motion.tmdl"
        motion.write_bytes(tmdl.encode(export.convert(models.motion_tflite())))
        with Board(vb.port) as board:
            deploy.deploy(board, deploy.DEVICE, [motion], progress=lambda s: None)
        yield vb


def _bench(port, out, *extra):
    proc = subprocess.run([sys.executable, "-m", "tinyml_host.cli", "bench", "--port", port, "--out", str(out),
                           "--model", "motion.tmdl", "--invokes", "20", *extra],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads((out / "duty.json").read_text())


def test_bench_reports_the_motion_apps_duty_cycle_on_the_virtual_board(esp32_board, tmp_path):
    stdout, rows = _bench(esp32_board.port, tmp_path / "auto")
    (motion,) = [r for r in rows if r["app"] == "motion"]    # sine.tmdl is not on the board
    # 6 inferences: 16 + 5 x 8 = 56 samples at 50 Hz, a wait after each, except after a period
    # the (shared, loaded) host overran: apps.pace then does not wait, counts it, and counts from now
    assert motion["board"] == "esp32" and motion["wakeups"] + motion["overruns"] == 56
    assert motion["wakeups"] > motion["overruns"]
    assert motion["wait"] == "idle"                           # auto: light sleep would stop the UART
    # time asleep is measured around each wait, which on the virtual board is the host OS's sleep:
    # on a loaded host a 20 ms wait takes longer, so no bound per wakeup here (a timed test)
    total = motion["awake_ms"] + motion["asleep_ms"]
    assert 0 < motion["asleep_ms"] < total and motion["awake_ms"] > 0
    assert np.isclose(motion["asleep_fraction"], motion["asleep_ms"] / total)
    expected = (motion["awake_ms"] * 44 + motion["asleep_ms"] * 27) / total * 3.3
    assert np.isclose(motion["avg_mw"], expected)
    assert "duty cycle of the apps" in stdout and "asleep" in stdout
    # every backend also streamed (load(path, stream=True)): one read per layer here (the motion
    # model's 96 x 16 and 16 x 2 weights each fit one 8 KB block), counted on the board
    inference = json.loads((tmp_path / "auto" / "board.json").read_text())
    streamed = [r for r in inference if r["way"] == "streamed"]
    assert {r["backend"] for r in streamed} >= {"viper", "python"}
    for r in streamed:
        assert (r["reads"], r["read_bytes"], r["alloc"]) == (2, 96 * 16 + 16 * 2, 0), r
        assert f"motion.tmdl {r['backend']} streamed: 2 file reads, 1,568 B read per invoke" in stdout
    _, rows = _bench(esp32_board.port, tmp_path / "light", "--sleep", "light")
    (motion,) = rows
    assert motion["wait"] == "lightsleep"
    assert motion["avg_mw"] < expected                        # 0.8 mA asleep instead of 27
