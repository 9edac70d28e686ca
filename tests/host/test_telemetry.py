"""Telemetry: NUS framing and strict RX commands on the device, and the simulated link end to
end (device in micropython, `tinyml monitor` in CPython)."""

import csv
import sys
from pathlib import Path

import numpy as np

import models
from tinyml_host import export, monitor, reference, tmdl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "device"))
from mpy import lines_with, run  # noqa: E402


def test_commands_are_parsed_strictly_and_fuzz_never_crashes():
    rng = np.random.default_rng(4)
    words = [b"rate", b"led", b"app", b"listening", b"on", b"off", b"sine", b"20", b"0", b"101", b"-3", b"x", b"\xff",
             b" "]
    cases = [b"rate 20", b"rate 0", b"rate x", b"led on", b"led blue", b"app motion", b"\xff\xfe", b"", b"rate 20 30",
             b"listening", b" listening\r", b"listening on", b"listen"]
    for _ in range(1000):
        n = int(rng.integers(0, 4))
        parts = [words[int(rng.integers(len(words)))] for _ in range(n)]
        if rng.random() < 0.3:
            parts.append(bytes(rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8)))
        cases.append(b" ".join(parts))
    script = f"""
from tinyml.telemetry import parse_command
for data in {cases!r}:
    try:
        print('V', 'OK', *parse_command(data))
    except ValueError as e:
        print('V', 'ERR', e)
"""
    verdicts = lines_with("V", run(script))
    assert len(verdicts) == len(cases)  # every input answered, none crashed the parser
    assert verdicts[:9] == ["OK rate 20", "ERR usage: rate N: frames per second, 1..100",
                            "ERR usage: rate N: frames per second, 1..100", "OK led on", "ERR usage: led on|off",
                            "OK app motion", "ERR command is not text", "ERR expected 'name argument', got ''",
                            "ERR expected 'name argument', got 'rate 20 30'"]
    # the one command without an argument (docs/telemetry.md, "Listening")
    assert verdicts[9:13] == ["OK listening None", "OK listening None", "ERR usage: listening",
                              "ERR expected 'name argument', got 'listen'"]
    ok = [v for v in verdicts if v.startswith("OK")]
    assert ok and all(v.split()[1] in ("rate", "led", "app", "listening") for v in ok)
    assert all(v == "OK listening None" for v in ok if v.split()[1] == "listening")


def test_frames_are_dropped_while_nobody_listens_and_resume_after_reconnect(tmp_path):
    script = """
import os
from tinyml import telemetry
t = telemetry.open('test')
print('S', t.send((1.5, -2.25, 3)))
open(os.getenv('TINYML_SIM_DIR') + '/ble_central', 'w').close()
print('S', t.send((1.5, -2.25, 3)))
print('S', t.send(tuple(range(12))))
os.remove(os.getenv('TINYML_SIM_DIR') + '/ble_central')
print('S', t.send((0,)))
open(os.getenv('TINYML_SIM_DIR') + '/ble_central', 'w').close()
print('S', t.send((7,)))
print('C', t.sent, t.dropped)
"""
    out = run(script, env={"TINYML_SIM_DIR": str(tmp_path)})
    assert lines_with("S", out) == ["False", "True", "True", "False", "True"]
    assert lines_with("C", out) == ["3 2"]
    chunks, _ = monitor.read_sim_tx(tmp_path / "ble_tx", 0)
    assert chunks and max(len(c) for c in chunks) <= 20  # one BLE notification at the default MTU
    frames = monitor.LineAssembler()
    for c in chunks:
        frames.feed(c)
    assert frames.rows == [[2, 1.5, -2.25, 3], [3] + list(range(12)), [5, 7]]
    assert frames.lost == 1  # seq 4 was dropped while disconnected


def test_monitor_the_virtual_board_end_to_end(tmp_path):
    model = export.convert(models.sine_tflite())
    model_path = tmp_path / "sine.tmdl"
    model_path.write_bytes(tmdl.encode(model))
    csv_path = tmp_path / "t.csv"
    frames = monitor.monitor_sim(4, "nano33_ble_sense", csv_path, commands=["rate 25", "led purple"],
                                 flash=tmp_path / "flash", model=model_path)
    assert len(frames.rows) >= 20 and frames.lost == 0 and frames.bad == 0
    assert frames.replies == ["OK rate", "ERR usage: led on|off"]
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == len(frames.rows)
    seq = np.array([int(r["seq"]) for r in rows])
    x_exact = 2 * np.pi * ((seq - 1) % 64) / 64  # the sine app's sweep: one frame per step
    np.testing.assert_allclose([float(r["x"]) for r in rows], x_exact, atol=1e-3)  # printed to 4 digits
    # the streamed y is the int8 model's answer at that x, printed with 4 significant digits
    np.testing.assert_allclose([float(r["y"]) for r in rows], reference.predict(model, x_exact).reshape(-1),
                               rtol=5e-4, atol=5e-5)
