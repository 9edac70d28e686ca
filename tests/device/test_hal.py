"""The HAL against fakes of each platform's exact API, and the sine app on the simulated board."""

import importlib
import math
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import models
from mpy import DEVICE_LIB, ROOT, lines_with, micropypath, run
from tinyml_host import boards, export, reference, tmdl

FAKES = Path(__file__).parent / "fakes"
BOARD_IDS = sorted(boards.load())
# os.uname().machine as MicroPython builds it on each board: MICROPY_HW_BOARD_NAME " with "
# MICROPY_HW_MCU_NAME from the ports' mpconfigboard.h. Rev1 and Rev2 of the Nano 33 BLE Sense
# run the same firmware: the same string, so it detects as Rev1 until the sensors say otherwise.
UNAME = {
    "Arduino Nano 33 BLE Sense with NRF52840": "nano33_ble_sense",
    "Generic ESP32 module with ESP32": "esp32",
    "Generic ESP32S3 module with ESP32-S3": "esp32s3",
    "Raspberry Pi Pico with RP2040": "pico",
    "Raspberry Pi Pico W with RP2040": "pico_w",
    "Raspberry Pi Pico 2 W with RP2350": "pico2_w",
}


def test_machine_backend_drives_pwm_on_every_board():
    script = f"""
import sys
sys.path.insert(0, {str(FAKES)!r})
import machine
from tinyml.boards import BOARDS
from tinyml.hal import _machine, longest_match
for board in {BOARD_IDS!r}:
    machine.log.clear()
    led = _machine.led(BOARDS[board]['led'])
    led.duty_u16(12345)
    print('LOG', board, machine.log, led.duty_u16())
for text in {sorted(UNAME)!r}:
    print('DET', longest_match(text, BOARDS, 'machine'))
try:
    longest_match('Some Other Board with STM32', BOARDS, 'machine')
except ValueError as e:
    print('ERR', e)
"""
    out = run(script)
    facts = boards.load()
    for line in lines_with("LOG", out):
        board, rest = line.split(" ", 1)
        pin = facts[board]["led"]["micropython"]
        duty = 65535 - 12345 if facts[board]["led"]["active_low"] else 12345
        assert f"('PWM', {pin}, 1000)" in rest and f"('duty_u16', {pin}, {duty})" in rest
        assert rest.endswith(" 12345")
    assert len(lines_with("LOG", out)) == len(BOARD_IDS)
    assert lines_with("DET", out) == [UNAME[t] for t in sorted(UNAME)]
    assert "unsupported board 'Some Other Board with STM32'" in lines_with("ERR", out)[0]


@pytest.mark.parametrize("board", BOARD_IDS)
def test_circuitpython_backend_with_fakes(board, monkeypatch):
    """LED through pwmio, sensor bus through busio with power and pull-ups switched on first."""
    monkeypatch.syspath_prepend(str(FAKES))
    import circuitpython as cp

    facts = boards.load()[board]
    names = [facts["led"]["circuitpython"], facts["i2c"]["circuitpython"]["scl"],
             facts["i2c"]["circuitpython"]["sda"]] + [facts[k]["circuitpython"] for k in ("sensor_power", "i2c_pullup")
                                                      if facts[k]]
    attrs = {n: f"pin:{n}" for n in names}
    attrs["board_id"] = facts["detect"]["circuitpython_board_id"]
    for name, module in cp.modules(attrs).items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.syspath_prepend(str(DEVICE_LIB))
    from tinyml.boards import BOARDS
    # the sensor fakes, from the host package: `import tinyml_sim` must keep failing in CPython
    from tinyml_host.virtual_board.tinyml_sim import devices as simdevices

    _circuitpython = importlib.reload(importlib.import_module("tinyml.hal._circuitpython"))
    detected = _circuitpython.board_id(BOARDS)
    # Rev1 and Rev2 share a CircuitPython board_id; the first listed wins
    assert BOARDS[detected]["cp_id"] == facts["detect"]["circuitpython_board_id"]

    led = _circuitpython.led(BOARDS[board]["led"])
    led.duty_u16(40000)
    out = cp.PWMOut.made[-1]
    assert out.pin == f"pin:{facts['led']['circuitpython']}" and out.frequency == 1000
    assert out.duty_cycle == (65535 - 40000 if facts["led"]["active_low"] else 40000)
    assert led.duty_u16() == 40000

    cp.DigitalInOut.made.clear()
    mpu = simdevices.MPU6050()
    mpu.frozen = True
    monkeypatch.setattr(cp.I2C, "devices", {0x68: mpu})
    f = BOARDS[board]
    bus = _circuitpython.i2c(f["i2c"], f["power"], f["pullup"], f["sensors"])
    switched = {d.pin for d in cp.DigitalInOut.made if d.direction == "output" and d.value}
    assert switched == {f"pin:{facts[k]['circuitpython']}" for k in ("sensor_power", "i2c_pullup") if facts[k]}
    assert (bus.bus.scl, bus.bus.sda, bus.bus.frequency) == (
        f"pin:{facts['i2c']['circuitpython']['scl']}", f"pin:{facts['i2c']['circuitpython']['sda']}", 400000)
    assert bus.scan() == [0x68]
    assert bus.readfrom_mem(0x68, 0x75, 1) == b"\x68"
    bus.writeto_mem(0x68, 0x6B, b"\x01")
    assert mpu.regs[0x6B] == 1


def _brightness(y):
    return min(65535, max(0, int((y + 1.0) * 65535 / 2)))


def test_sine_app_sets_led_from_model_on_sim(tmp_path):
    model = export.convert(models.sine_tflite())
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(model))
    sim_dir = tmp_path / "sim"
    sim_dir.mkdir()
    out = run("import main\nmain.run(cycles=1, verbose=True, period_ms=0)", cwd=tmp_path,
              env={"MICROPYPATH": micropypath(ROOT / "device"), "TINYML_SIM_DIR": str(sim_dir)})
    assert "sine demo on Arduino Nano 33 BLE Sense (Rev1)" in out
    data = (sim_dir / "pwm.trace").read_bytes()
    duties = [d for _, d in struct.iter_unpack("<II", data)]
    xs = 2 * math.pi * np.arange(64) / 64
    expected = [_brightness(float(y)) for y in reference.predict(model, xs).reshape(-1)]
    assert duties == expected
    assert min(duties) < 10000 and max(duties) > 55000  # the LED really sweeps


def test_led_on_a_pin_without_pwm_is_a_clear_error():
    out = run("""
from tinyml import hal
from tinyml.boards import BOARDS
BOARDS['nano33_ble_sense']['led'] = ('WL_GPIO0', 'LED', False, False)  # as if wired to the radio chip
try:
    hal.led()
except ValueError as e:
    print('ERR', e)
""")
    assert lines_with("ERR", out) == ["LED pin 'WL_GPIO0' of nano33_ble_sense cannot do PWM; wire an LED to a PWM pin"]


def test_package_runs_without_viper_as_on_circuitpython(tmp_path, monkeypatch):
    # CircuitPython has no viper: the package must import and fall back to pure Python.
    # CPython with a const-only `micropython` module stands in for it (board tests above
    # cover the CircuitPython HAL); the pure-Python kernel must still be bit-exact.
    monkeypatch.setitem(sys.modules, "micropython", types.SimpleNamespace(const=lambda v: v))
    monkeypatch.syspath_prepend(str(DEVICE_LIB))
    for name in [m for m in sys.modules if m == "tinyml" or m.startswith("tinyml.")]:
        monkeypatch.delitem(sys.modules, name)
    import tinyml

    assert tinyml.available_backends() == ("python",)
    model = export.convert(models.sine_tflite())
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(model))
    m = tinyml.load(str(tmp_path / "sine.tmdl"))
    assert m.backend == "python"
    got = []
    for v in range(-128, 128):
        m.input[0] = v
        m.invoke()
        got.append(m.output[0])
    assert got == list(reference.run(model, np.arange(-128, 128).reshape(-1, 1)).reshape(-1))
    for name in [m for m in sys.modules if m == "tinyml" or m.startswith("tinyml.")]:
        del sys.modules[name]
