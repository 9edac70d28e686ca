"""`tinyml record` and `tinyml data`: takes streamed from the virtual board acting out gestures,
sequence-checked, written atomically; a take cut short is kept and marked incomplete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tinyml_host import dataset, record
from tinyml_host.errors import TinymlError

TINYML = [sys.executable, "-m", "tinyml_host.cli"]
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "host")}


def _line(seq, values):
    return b"R" + b"".join(b"%04x" % (v & 0xFFFF) for v in (seq, *values)) + b"\n"


def test_stream_parses_lines_split_anywhere_and_counts_gaps():
    s = record.TakeStream()
    data = (b"H esp32 MPU6050 16384 131 50 5\r\n" + _line(0, [16384, 0, -16384, 131, -131, 0])
            + _line(1, [1, 2, 3, 4, 5, 6]) + _line(4, [0] * 6) + b"Traceback? not ours\n" + b"E 2\n")
    for i in range(0, len(data), 7):  # as a serial port hands it over: any chunking
        s.feed(data[i:i + 7])
    assert s.header["board"] == "esp32" and s.rate_hz == 50 and s.header["expected_samples"] == 5
    assert len(s.rows) == 3 and s.lost == 2 and s.late == 2 and s.ended
    assert s.other == ["Traceback? not ours"]
    assert s.physical()[0].tolist() == pytest.approx([1.0, 0.0, -1.0, 1.0, -1.0, 0.0])


def _run(args, cwd, **kw):
    return subprocess.run(TINYML + args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120, **kw)


def test_record_on_the_virtual_board_acts_out_the_label(tmp_path):
    proc = _run(["record", "--port", "sim", "--label", "wave", "--seconds", "1.5", "--takes", "2", "--seed", "3",
                 "--countdown", "0", "--data", "ds"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    takes = dataset.load(tmp_path / "ds")
    assert len(takes) == 2
    for take in takes:
        m = take.meta
        assert (m["label"], m["gesture"], m["board"], m["sensor"], m["rate_hz"]) == (
            "wave", "wave", "nano33_ble_sense", "LSM9DS1", 50)
        assert m["complete"] and m["lost"] == 0 and m["samples"] == m["expected_samples"] == 75
        assert m["units"] == ["g", "g", "g", "deg/s", "deg/s", "deg/s"] and m["time"]
        # the wrist turns about the board's y axis: large gy, little gx and gz; gravity ~1 g
        gyro = take.data[:, 3:]
        assert np.abs(gyro[:, 1]).max() > 100 and np.abs(gyro[:, [0, 2]]).max() < 10
        assert np.linalg.norm(take.data[:, :3], axis=1).mean() == pytest.approx(1.0, abs=0.3)
    assert takes[0].meta["seed"] == 3 and takes[1].meta["seed"] == 4
    # no temporary file left behind
    assert sorted(p.suffix for p in (tmp_path / "ds" / "wave").iterdir()) == [".json", ".json", ".npy", ".npy"]

    proc = _run(["data", "ds"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wave" in proc.stdout and "3.0" in proc.stdout  # 2 takes of 1.5 s
    assert (tmp_path / "ds" / "samples.png").stat().st_size > 1000


@pytest.mark.parametrize("link", [["--port", "sim"], ["--ble", "sim"]])
def test_ctrl_c_keeps_the_samples_of_the_take_marked_incomplete(tmp_path, link):
    proc = subprocess.Popen(TINYML + ["record", *link, "--label", "shake", "--seconds", "20",
                                      "--countdown", "1", "--data", "ds"],
                            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "starting in 1" in line
    time.sleep(3.0)  # 1 s countdown, then about 2 s of the take
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    [take] = dataset.load(tmp_path / "ds")
    assert not take.meta["complete"] and take.meta["reason"] == "interrupted (Ctrl-C)"
    assert 10 < take.meta["samples"] < 1000 and take.meta["lost"] == 0
    assert "INCOMPLETE" in out


def test_a_board_that_goes_silent_leaves_an_incomplete_take(tmp_path, monkeypatch):
    """The cable pulled: the virtual board's MicroPython killed mid-take."""
    from tinyml_host import deploy
    from tinyml_host.board import Board
    from tinyml_host.sim import VirtualBoard

    monkeypatch.setattr(record, "SILENCE_S", 1.5)
    with VirtualBoard(tmp_path / "flash") as vb, Board(vb.port) as board:
        deploy.deploy(board, deploy.DEVICE, [], progress=lambda line: None)
        killer = threading.Timer(2.0, vb._kill_child)
        killer.start()
        with pytest.raises(TinymlError, match="take cut short, kept as incomplete.*sent nothing"):
            record.record_takes(board, tmp_path / "ds", "circle", seconds=20, gesture="circle", sim=True,
                                countdown=0, live=False)
        killer.join()
    [take] = dataset.load(tmp_path / "ds")
    assert not take.meta["complete"] and 10 < take.meta["samples"] < 1000
    meta = json.loads(take.path.read_text())
    assert meta["samples"] == len(np.load(take.path.with_suffix(".npy")))


def test_bad_record_arguments_are_clear_errors(tmp_path):
    for args, message in (
            (["--label", "a/b"], "label 'a/b' must be 1-40 letters"),
            (["--label", "wave", "--gesture", "jump", "--port", "sim"], "knows no gesture 'jump'"),
            (["--label", "wave", "--ble", "nano", "--port", "sim"], "pick one of --ble and --port"),
            (["--label", "wave", "--sensor", "pressure"], "--sensor pressure: tinyml records imu, environment, magnetometer"),
            (["--label", "room", "--sensor", "environment", "--ble", "sim"], "the record app streams the IMU only"),
            (["--label", "room", "--sensor", "environment", "--gesture", "wave", "--port", "sim"],
             "--gesture moves the virtual board's IMU"),
            (["--label", "wave", "--seconds", "0"], "--seconds must be in (0, 600], got 0"),
            (["--label", "wave", "--gesture", "wave"], "--gesture is for the virtual board"),
    ):
        proc = _run(["record", "--data", "ds", "--countdown", "0"] + args, tmp_path)
        assert proc.returncode == 1 and "tinyml record: error: " in proc.stderr and message in proc.stderr, \
            (args, proc.stderr)


def test_stream_parses_another_sensors_lines_with_32_bit_values():
    """The S header and 8-hex-digit values (the environment's), negative ones too."""
    s = record.TakeStream()
    values = [-1250, 4500, 101325]     # -12.5 C, 45 %RH, 1013.25 hPa in the sensors API's integers
    line = b"R0000" + b"".join(b"%08x" % (v & 0xFFFFFFFF) for v in values) + b"\n"
    s.feed(b"S nano33_ble_sense environment HTS221+LPS22HB 12.5 2 3 8\n" + line + line.replace(b"R0000", b"R0002")
           + b"E 0\n")
    assert s.header["kind"] == "environment" and s.header["sensor"] == "HTS221+LPS22HB" and s.rate_hz == 12.5
    assert s.rows == [values, values] and s.lost == 1 and s.ended
    assert s.physical().reshape(-1).tolist() == pytest.approx([-12.5, 45.0, 1013.25] * 2)


@pytest.mark.parametrize("board, sensor, part, rate, expected", [
    # the virtual board's states (tinyml_sim/devices.py): 23.5 C, 45 %RH, 1013.25 hPa; the LSM9DS1's
    # field 0.2, 0, -0.45 gauss, the BMM150's 25, -10, 40 uT
    ("nano33_ble_sense", "environment", "HTS221+LPS22HB", 12.5, (23.5, 45.0, 1013.25)),
    ("nano33_ble_sense_rev2", "environment", "HS3003+LPS22HB", 25, (23.5, 45.0, 1013.25)),
    ("nano33_ble_sense", "magnetometer", "LSM9DS1Mag", 20, (20.0, 0.0, -45.0)),
    ("nano33_ble_sense_rev2", "magnetometer", "BMM150", 30, (25.0, -10.0, 40.0)),
])
def test_record_other_sensors_at_their_data_rate(tmp_path, board, sensor, part, rate, expected):
    proc = _run(["record", "--port", "sim", "--board", board, "--sensor", sensor, "--label", "room",
                 "--seconds", "2", "--countdown", "0", "--data", "ds"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    [take] = dataset.load(tmp_path / "ds")
    m = take.meta
    assert (m["kind"], m["sensor"], m["board"], m["rate_hz"]) == (sensor, part, board, rate)
    assert m["channels"] == list(record.SENSORS[sensor]["channels"]) and m["units"] == list(record.SENSORS[sensor]["units"])
    assert m["complete"] and m["lost"] == 0 and m["samples"] == m["expected_samples"] == int(2 * rate)
    assert take.data.mean(axis=0).tolist() == pytest.approx(expected, abs=0.3)   # quantized by each part
    proc = _run(["data", "ds"], tmp_path)
    assert proc.returncode == 0 and "room" in proc.stdout and "2.0" in proc.stdout, proc.stderr
    assert (tmp_path / "ds" / "samples.png").stat().st_size > 1000


def test_a_sensor_the_board_lacks_is_a_clear_error_and_no_take(tmp_path):
    proc = _run(["record", "--port", "sim", "--board", "esp32", "--sensor", "environment", "--label", "room",
                 "--seconds", "1", "--countdown", "0", "--data", "ds"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "tinyml record: error: the board cannot record --sensor environment: ValueError: esp32 has no " \
           "environment sensor in boards.json (its sensors: MPU-6050)" in proc.stderr
    assert not list((tmp_path / "ds").glob("*/*.json"))


def test_gesture_training_refuses_another_sensors_takes(tmp_path):
    from tinyml_host import gesture

    gesture.synthesize(tmp_path, labels=("wave", "still"), takes=2)
    path = dataset.new_take_name(tmp_path, "room")
    dataset.write_take(path, np.zeros((60, 3)), {"label": "room", "rate_hz": 25, "complete": True,
                                                  "channels": ["temperature", "humidity", "pressure"],
                                                  "units": ["degC", "%RH", "hPa"]})
    with pytest.raises(TinymlError, match="temperature, humidity, pressure, not the IMU's"):
        gesture.train_gesture(tmp_path, tmp_path / "m.tflite")


def test_a_half_written_take_is_not_a_take(tmp_path):
    path = dataset.new_take_name(tmp_path, "still")
    dataset.write_take(path, np.zeros((60, 6)), {"label": "still", "rate_hz": 50, "complete": True})
    (tmp_path / "still" / "still-x.npy").write_bytes(b"partial")   # data written, metadata never
    assert [t.path for t in dataset.load(tmp_path)] == [path]
    with pytest.raises(TinymlError, match="holds no takes"):
        dataset.load(tmp_path / "still")


def test_record_over_the_simulated_ble_link(tmp_path):
    """`--ble sim`: the record app's binary frames over the virtual board's BLE link."""
    proc = _run(["record", "--ble", "sim", "--label", "shake", "--seconds", "1", "--takes", "2", "--seed", "5",
                 "--countdown", "0", "--data", "ds"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    takes = dataset.load(tmp_path / "ds")
    assert len(takes) == 2
    for take in takes:
        m = take.meta
        assert m["complete"] and m["lost"] == 0 and m["samples"] == 50 and m["sensor"] == "LSM9DS1"
        assert "simulated BLE link" in m["link"] and m["gesture"] == "shake"
        # strokes of about a g sideways, a few per second
        assert np.ptp(take.data[:, :3], axis=0).max() > 0.8


def test_ble_recording_switches_a_running_app_to_the_record_app(tmp_path, monkeypatch):
    """A board running the sine app with telemetry: `app record` over the link, then takes."""
    import models
    from tinyml_host import export, tmdl
    from tinyml_host.monitor.transports import SimTransport

    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    transport = SimTransport("esp32", flash=tmp_path / "flash", model=tmp_path / "sine.tmdl")
    [rec] = record.record_link(transport, tmp_path / "ds", "still", seconds=1, takes=1, countdown=0, live=False)
    assert rec.complete and rec.samples == 50
    [take] = dataset.load(tmp_path / "ds")
    assert take.meta["sensor"] == "MPU6050" and take.meta["board"] == "esp32"
    # not acting anything out: the virtual board's default rocking, az ~ 1 g
    assert take.data[:, 2].mean() == pytest.approx(1.0, abs=0.05)


def test_link_stream_counts_frames_lost_inside_a_take():
    s = record.LinkStream()
    s.feed(b"H esp32 MPU6050 16384 131 50 0\n")
    frame = lambda seq: bytes([0xA6, seq & 0xFF, seq >> 8]) + bytes(12)  # noqa: E731
    s.feed(frame(65534))
    s.take = record.TakeStream(50, header=dict(s.header))
    for seq in (3, 4, 7, 8):     # 65535, 0, 1, 2 lost before the take: not its loss; 5, 6 lost in it
        s.feed(frame(seq))
    assert len(s.take.rows) == 4 and s.take.lost == 2 and s.header["sensor"] == "MPU6050"
