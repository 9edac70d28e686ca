"""Telemetry's radio settings (advertising interval, connection interval, frame rate): checked,
used by the backends, applied from config.py, and the sine app's frames kept to the frame rate."""

from pathlib import Path

import pytest

import models
from mpy import ROOT, lines_with, micropypath, run
from tinyml_host import export, tmdl

FAKES = Path(__file__).parent / "fakes"


@pytest.mark.parametrize("setting, message", [
    ("adv_interval_ms=5", "adv_interval_ms=5: an integer 20..10240"),
    ("conn_interval_ms=5000", "conn_interval_ms=5000: an integer 8..4000"),
    ("frame_rate_hz=0", "frame_rate_hz=0: an integer 1..100"),
    ("frame_rate_hz=2.5", "frame_rate_hz=2.5: an integer 1..100"),
    ("tx_power=4", "unknown telemetry setting 'tx_power'"),
])
def test_settings_are_checked(setting, message):
    out = run(f"from tinyml import telemetry\ntry:\n    telemetry.configure({setting})\n"
              "except ValueError as e:\n    print('ERR', e)\nprint('KEPT', telemetry.SETTINGS['frame_rate_hz'])")
    assert lines_with("ERR", out)[0].startswith(message) and lines_with("KEPT", out) == ["10"]


def test_bluetooth_backend_advertises_at_the_setting():
    out = run(f"""
import sys
sys.path.insert(0, {str(FAKES)!r})
import bluetooth as fake
from tinyml import telemetry
from tinyml.telemetry import _bluetooth
_bluetooth.Link('a')
telemetry.configure(adv_interval_ms=2500)
_bluetooth.Link('b')
print('INTERVALS', [e[1] for e in fake.log if e[0] == 'advertise' and e[1] is not None])
""")
    # the default (1 advertising event per second), then the setting, in microseconds
    assert lines_with("INTERVALS", out) == ["[1000000, 2500000]"]


def test_main_applies_config_telemetry_and_a_bad_one_is_named(tmp_path):
    (tmp_path / "config.py").write_text('APP = "nothing"\nTELEMETRY = {"frame_rate_hz": 500}\n')
    env = {"MICROPYPATH": micropypath(tmp_path, ROOT / "device"), "TINYML_BOARD": "pico",
           "TINYML_SIM_DIR": str(tmp_path)}
    out = run("import main\ntry:\n    main.run()\nexcept ValueError as e:\n    print('ERR', e)", env=env)
    assert lines_with("ERR", out) == ["frame_rate_hz=500: an integer 1..100"]


def test_sine_app_streams_at_most_the_frame_rate(tmp_path):
    """With telemetry, the sweep steps at frame_rate_hz (one frame per inference): 64 frames at
    20 per second take at least 63 x 50 ms; without telemetry the app keeps its 20 ms."""
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    (tmp_path / "ble_central").touch()          # a central is connected to the simulated link
    env = {"MICROPYPATH": micropypath(ROOT / "device"), "TINYML_BOARD": "nano33_ble_sense",
           "TINYML_SIM_DIR": str(tmp_path)}
    out = run("""
from tinyml import clock, telemetry
from tinyml.apps import sine
telemetry.configure(frame_rate_hz=20)
t0 = clock.ticks_ms()
sine.run(cycles=1, telemetry=True)
print('WITH', clock.ticks_diff(clock.ticks_ms(), t0))
t0 = clock.ticks_ms()
sine.run(cycles=1)
print('WITHOUT', clock.ticks_diff(clock.ticks_ms(), t0))
""", cwd=tmp_path, env=env)
    with_link, without = int(lines_with("WITH", out)[0]), int(lines_with("WITHOUT", out)[0])
    assert with_link >= 63 * 50 and 63 * 20 <= without < 63 * 50
    data, i = (tmp_path / "ble_tx").read_bytes(), 0
    text = b""
    while i < len(data):
        text += data[i + 1:i + 1 + data[i]]
        i += 1 + data[i]
    assert len(text.decode().splitlines()) == 64   # one frame per inference of the sweep
