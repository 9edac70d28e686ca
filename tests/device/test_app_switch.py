"""Switching apps over telemetry (`app NAME`) on the virtual board's BLE link: the sine app
hands its link to the motion app and back, with no reset; commands an app refuses get ERR."""

import sys
from pathlib import Path

import models
from tinyml_host import export, monitor, tmdl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mpy import ROOT, lines_with, micropypath, run  # noqa: E402

SCRIPT = """
import os, sys
from tinyml import apps
base = os.getenv('TINYML_SIM_DIR')
open(base + '/ble_central', 'w').close()
script = [(5, b'led off\\n'), (10, b'app motion\\n'), (14, b'rate 20\\n'), (16, b'app sine\\n')]
from tinyml import telemetry
link = telemetry.start('tinyml-sine')
sent = [0]
send = link.send
def counting_send(values):
    sent[0] += 1
    if script and sent[0] == script[0][0]:
        with open(base + '/ble_rx', 'ab') as rx:
            rx.write(script.pop(0)[1])
    if sent[0] >= 22:
        raise KeyboardInterrupt
    return send(values)
link.send = counting_send
try:
    apps.run('sine', telemetry=link, period_ms=0)
except KeyboardInterrupt:
    print('STOPPED', sent[0])
"""


def test_app_command_switches_apps_on_the_same_link(tmp_path):
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    (tmp_path / "motion.tmdl").write_bytes(tmdl.encode(export.convert(models.motion_tflite())))
    env = {"MICROPYPATH": micropypath(), "TINYML_SIM_DIR": str(tmp_path), "TINYML_BOARD": "pico"}
    out = run(SCRIPT, cwd=tmp_path, env=env)
    assert lines_with("STOPPED", out) == ["22"]
    chunks, _ = monitor.read_sim_tx(tmp_path / "ble_tx", 0)
    frames = monitor.LineAssembler()
    for c in chunks:
        frames.feed(c)
    assert frames.replies == ["OK led", "OK app", "ERR the motion app streams one frame per inference, 6 per second",
                              "OK app"]
    widths = [len(r) for r in frames.rows]
    # sine frames are seq,x,y,duty; motion frames seq,p_moving,duty; then sine again
    assert widths[0] == 4 and 3 in widths and widths[-1] == 4
    first_motion = widths.index(3)
    assert all(w == 4 for w in widths[:first_motion])
    motion = [r for r in frames.rows if len(r) == 3]
    assert motion and all(0.0 <= p <= 1.0 for _, p, _ in motion)
    # each app starts with the LED lit: duty follows p(moving) (text frames keep 4 digits)
    assert all(abs(duty - int(p * 65535)) <= 0.001 * 65535 + 1 for _, p, duty in motion)
    sine_before = [r for r in frames.rows[:first_motion]]
    assert sine_before[-1][3] == 0                       # after `led off` the sine app's LED is dark
    seqs = [r[0] for r in frames.rows]
    assert seqs == sorted(seqs) and frames.lost == 0     # one link, one sequence across apps


def test_switching_to_an_app_whose_model_is_missing_is_refused(tmp_path):
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    script = SCRIPT.replace("(10, b'app motion\\n'), (14, b'rate 20\\n'), (16, b'app sine\\n')",
                            "(10, b'app motion\\n')")
    env = {"MICROPYPATH": micropypath(), "TINYML_SIM_DIR": str(tmp_path), "TINYML_BOARD": "pico"}
    out = run(script, cwd=tmp_path, env=env)
    assert lines_with("STOPPED", out) == ["22"]          # the sine app kept running
    chunks, _ = monitor.read_sim_tx(tmp_path / "ble_tx", 0)
    frames = monitor.LineAssembler()
    for c in chunks:
        frames.feed(c)
    assert frames.replies == ["OK led", "ERR no motion.tmdl on the board: deploy it to run the motion app"]
    assert all(len(r) == 4 for r in frames.rows) and frames.lost == 0
