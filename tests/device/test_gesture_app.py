"""The gesture app on the virtual board: its features equal the host's training features, and
the model `tinyml train gesture` made classifies the gestures the IMU fakes act out."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import models
from mpy import lines_with, run
from tinyml_host import gesture


def test_device_features_equal_the_training_features():
    rng = np.random.default_rng(4)
    window = rng.integers(-20000, 20000, size=(gesture.WINDOW, 6)).astype(np.int16)
    window[:, 2] = 16384 + rng.integers(-8, 8, size=gesture.WINDOW)  # a still axis: tiny variance on a big mean
    head = 17  # the ring's oldest sample
    ring = np.roll(window, head, axis=0)
    scale = [1 / 16384] * 3 + [1 / (131 * 100)] * 3
    script = f"""
from array import array
from tinyml.apps import gesture
ring = array('h', {ring.reshape(-1).tolist()!r})
out = array('f', bytes(4 * 30))
gesture.features(ring, {head}, {tuple(scale)!r}, out)
print('F', ' '.join(repr(v) for v in out))
"""
    got = np.array([float(v) for v in lines_with("F", run(script))[0].split()])
    physical = window.astype(np.float64) * np.array([1 / 16384] * 3 + [1 / 131] * 3)
    expected = gesture.features(physical)
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)


# the ESP32's MPU-6050 (its own ranges, gyro clipped at 250 deg/s) with a model trained on the
# Nano's LSM9DS1 takes; the Nano itself runs the app in tests/host/test_gesture_loop.py
@pytest.mark.parametrize("board", ["esp32"])
def test_gesture_app_classifies_what_the_board_acts_out(tmp_path, board):
    trained = models.gesture_run() / "models"
    for name in ("gesture.tmdl", "gesture.classes"):
        shutil.copy(trained / name, tmp_path / name)
    script = """
from tinyml_sim import devices as simdevices
from tinyml.apps import gesture
for seed, name in enumerate(('still', 'wave', 'circle', 'shake')):
    simdevices.perform(name, 900 + seed)
    print('ACT', name)
    gesture.run(inferences=3, verbose=True)
"""
    out = run(script, cwd=tmp_path, env={"TINYML_BOARD": board})
    acted = out.split("ACT ")[1:]
    assert len(acted) == 4
    for part in acted:
        name = part.split()[0]
        classes = [c.split()[0] for c in lines_with("class=", part)]
        assert len(classes) == 3 and classes.count(name) >= 2, (name, classes)
