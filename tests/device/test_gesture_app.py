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
out = array('f', bytes(4 * {gesture.FEATURES}))
gesture.features(ring, {head}, {tuple(scale)!r}, out)
print('F', ' '.join(repr(v) for v in out))
"""
    got = np.array([float(v) for v in lines_with("F", run(script))[0].split()])
    physical = window.astype(np.float64) * np.array([1 / 16384] * 3 + [1 / 131] * 3)
    expected = gesture.features(physical)
    assert len(got) == gesture.FEATURES == 32
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_device_features_of_a_still_board_quantize_as_the_hosts(tmp_path):
    """A still board (a few counts of noise) and a gentle motion: the int8 inputs the board's
    app computes are the ones training quantized, byte for byte, through a trained model's
    input scale."""
    from tinyml_host import reference, tmdl

    m = tmdl.read(models.gesture_run() / "models" / "gesture.tmdl")
    rng = np.random.default_rng(9)
    t = np.arange(gesture.WINDOW)[:, None]
    still = np.array([0, 0, 16384, 0, 0, 0]) + rng.integers(-3, 4, size=(gesture.WINDOW, 6))
    gentle = still + (np.array([3000, 0, 2000, 0, 0, 3000]) * np.sin(2 * np.pi * t / 40)).astype(int)
    windows = np.stack([still, gentle]).astype(np.int16)
    scale = [1 / 16384] * 3 + [1 / (131 * 100)] * 3
    script = f"""
from array import array
from tinyml.apps import gesture
out = array('f', bytes(4 * gesture.FEATURES))
for w in {[w.reshape(-1).tolist() for w in windows]!r}:
    gesture.features(array('h', w), 0, {tuple(scale)!r}, out)
    print('F', ' '.join(repr(v) for v in out))
"""
    got = np.array([[float(v) for v in line.split()] for line in lines_with("F", run(script))])
    physical = windows.astype(np.float64) * np.array([1 / 16384] * 3 + [1 / 131] * 3)
    expected = gesture.features(physical)
    assert got[0, 6:12] == pytest.approx(np.log(physical[0].std(axis=0) * [1, 1, 1, .01, .01, .01] + gesture.FLOOR),
                                         rel=1e-6)
    assert (reference.quantize(got, m.input_scale, m.input_zp)
            == reference.quantize(expected, m.input_scale, m.input_zp)).all()


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
