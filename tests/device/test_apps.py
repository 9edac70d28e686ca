"""The apps main.py runs: the motion app on the virtual board's IMUs (MPU-6050, both Nano
revisions) and environment sensors, and config.py's choice."""

import struct

import numpy as np
import pytest

import models
from mpy import ROOT, lines_with, micropypath, run
from tinyml_host import export, reference, tmdl, train


def test_motion_model_tells_still_from_moving():
    model = export.convert(models.motion_tflite())
    x, y = train.motion_dataset(n=1000, seed=99)  # windows the model never saw
    accuracy = (reference.predict(model, x).argmax(axis=1) == y).mean()
    assert accuracy >= 0.95, accuracy


def _env(tmp_path, board="pico"):
    return {"MICROPYPATH": micropypath(ROOT / "device"), "TINYML_BOARD": board,
            "TINYML_SIM_DIR": str(tmp_path)}


def test_motion_app_on_the_virtual_board(tmp_path):
    (tmp_path / "motion.tmdl").write_bytes(tmdl.encode(export.convert(models.motion_tflite())))
    script = """
from tinyml import hal
from tinyml.apps import motion
motion.run(inferences=6, verbose=True)             # the fake IMU rocks at 1 Hz
dev = hal.i2c().devices[0x68]
dev.frozen = True                                  # now lying still and flat: az = 1 g
dev.write(0x3B, bytes(14))
dev.put16be(0x3F, 16384)
print('STILL')
motion.run(inferences=4, verbose=True)
"""
    out = run(script, cwd=tmp_path, env=_env(tmp_path))
    moving_part, still_part = out.split("STILL")
    p_moving = [float(v) for v in lines_with("p_moving=", moving_part)]
    p_still = [float(v) for v in lines_with("p_moving=", still_part)]
    assert len(p_moving) == 6 and len(p_still) == 4
    assert np.mean(p_moving) > 0.6 and max(p_still) < 0.2
    duties = [d for _, d in struct.iter_unpack("<II", (tmp_path / "pwm.trace").read_bytes())]
    # the LED follows p(moving); the printed p has 3 decimals
    assert len(duties) == 10
    assert np.abs(np.array(duties) - 65535 * np.array(p_moving + p_still)).max() <= 65535 * 0.0005 + 1


@pytest.mark.parametrize("board, imu_address", [("nano33_ble_sense", 0x6B), ("nano33_ble_sense_rev2", 0x68)])
def test_motion_app_on_both_nano_revisions(tmp_path, board, imu_address):
    """The same model on the LSM9DS1 (Rev1) and the BMI270 (Rev2): each adapter's counts-per-unit
    turn its raw counts into the g and deg/s the model was trained on. The environment sensors
    are read once a second."""
    (tmp_path / "motion.tmdl").write_bytes(tmdl.encode(export.convert(models.motion_tflite())))
    script = f"""
from tinyml import hal
from tinyml.apps import motion
seen = []
motion.run(inferences=6, verbose=True, on_environment=lambda v: seen.append(tuple(v)))
print('HOOK', seen)
hal.i2c().devices[{imu_address}].still = (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)   # lying flat and still
print('STILL')
motion.run(inferences=4, verbose=True, environment=False)
"""
    out = run(script, cwd=tmp_path, env=_env(tmp_path, board))
    moving_part, still_part = out.split("STILL")
    p_moving = [float(v) for v in lines_with("p_moving=", moving_part)]
    p_still = [float(v) for v in lines_with("p_moving=", still_part)]
    assert len(p_moving) == 6 and len(p_still) == 4
    assert np.mean(p_moving) > 0.6 and max(p_still) < 0.2
    # 16 + 5 * 8 = 56 samples at 50 Hz: the environment read at samples 1 and 51
    assert lines_with("env ", moving_part) == ["t=23.50C rh=45.00% p=1013.25hPa"] * 2
    assert lines_with("HOOK", out) == ["[(2350, 4500, 101325), (2350, 4500, 101325)]"]
    assert "env " not in still_part


def test_motion_app_without_environment_sensors_says_so_once(tmp_path):
    (tmp_path / "motion.tmdl").write_bytes(tmdl.encode(export.convert(models.motion_tflite())))
    out = run("from tinyml.apps import motion\nmotion.run(inferences=1, verbose=True, period_ms=0)",
              cwd=tmp_path, env=_env(tmp_path, "esp32"))
    assert lines_with("no environment readings:", out) == [
        "esp32 has no environment sensor in boards.json (its sensors: MPU-6050)"]
    assert len(lines_with("p_moving=", out)) == 1


def test_main_runs_the_app_config_names(tmp_path):
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    out = run("import main\nmain.run(cycles=1, period_ms=0)\n"
              "from tinyml import apps\ntry:\n    apps.run('dance')\nexcept ValueError as e:\n    print('E', e)",
              cwd=tmp_path, env=_env(tmp_path, "esp32"))
    assert lines_with("E", out) == ["unknown app 'dance' in config.py; choose one of sine, motion, gesture, record, kws"]
    assert len((tmp_path / "pwm.trace").read_bytes()) == 64 * 8  # one sweep: 64 LED updates


def test_push_sample_keeps_the_last_window_and_allocates_nothing(tmp_path):
    out = run("""
import gc
from array import array
from tinyml import apps
ring = array('h', bytes(2 * 3 * 4))
sample = array('h', bytes(6))
head = 0
for k in range(6):                        # 6 samples into a window of 4: the last 4 stay
    sample[0], sample[1], sample[2] = k, 10 * k, -k
    head = apps.push_sample(ring, head, sample, 4)
print('RING', head, list(ring))
_ = before = 0                            # the script's own globals exist before counting
gc.collect()
before = gc.mem_alloc()
for _ in range(200):
    head = apps.push_sample(ring, head, sample, 4)
print('ALLOC', gc.mem_alloc() - before)
""", env=_env(tmp_path))
    # slots 0 and 1 were overwritten by samples 4 and 5; the oldest (sample 2) is at head 2
    assert lines_with("RING", out) == ["2 [4, 40, -4, 5, 50, -5, 2, 20, -2, 3, 30, -3]"]
    assert lines_with("ALLOC", out) == ["0"]
