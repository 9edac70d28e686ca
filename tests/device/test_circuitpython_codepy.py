"""code.py's own path on CircuitPython, run in CPython with CircuitPython's module surfaces: board,
busio, digitalio, pwmio and micropython as the fakes in fakes/circuitpython.py (their names checked
against circuitpython-stubs), and `time` with exactly what CircuitPython's has. A call to
time.sleep_ms or time.ticks_ms anywhere on the path fails here as it fails on the board."""

import math
import re
import runpy
import sys
import time as host_time
import types
from pathlib import Path

import numpy as np
import pytest

import models
from mpy import DEVICE_LIB, ROOT
from tinyml_host import boards, export, reference, tmdl

FAKES = Path(__file__).parent / "fakes"
# CircuitPython's time module on its boards, all of it (shared-bindings/time; its unix port has
# MicroPython's time instead, with sleep_ms and ticks_*, so only a board shows the difference)
CIRCUITPYTHON_TIME = ("monotonic", "monotonic_ns", "sleep", "struct_time", "localtime", "mktime", "time")
ITERATIONS = 5


class Stop(BaseException):
    """Ends the app's endless loop from inside time.sleep, as Ctrl-C would on the board."""


def _stub_names(module: str) -> set[str]:
    """Top-level names of circuitpython-stubs' module (read by pattern: the stubs use Python 3.12
    syntax, def const[T](...), which this Python's ast cannot parse)."""
    stubs = Path(np.__file__).parents[1] / f"{module}-stubs" / "__init__.pyi"
    return set(re.findall(r"^(?:def |class )?([A-Za-z_][A-Za-z0-9_]*)\b", stubs.read_text(), re.MULTILINE)) - \
        {"import", "from", "if", "else", "elif", "try", "except"}


def _circuitpython_time(sleeps: list):
    module = types.ModuleType("time")
    for name in CIRCUITPYTHON_TIME:
        if name != "sleep":
            setattr(module, name, getattr(host_time, name))

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) >= ITERATIONS:
            raise Stop
        host_time.sleep(seconds)

    module.sleep = sleep
    return module


def _forget_device_modules():
    # the sim's register fakes too: they bind `time` when imported, here CircuitPython's surface
    for name in [m for m in sys.modules if m in ("main", "config", "code_py") or m == "tinyml"
                 or m.startswith(("tinyml.", "tinyml_host.virtual_board.tinyml_sim"))]:
        del sys.modules[name]


@pytest.fixture
def circuitpython(monkeypatch, tmp_path):
    """A Nano 33 BLE Sense under CircuitPython: its module surfaces, sine.tmdl on its drive."""
    monkeypatch.syspath_prepend(str(FAKES))
    import circuitpython as fakes

    facts = boards.load()["nano33_ble_sense"]
    pins = [facts["led"]["circuitpython"], "SCL1", "SDA1", "VDD_ENV", "R_PULLUP"]
    attrs = {p: f"pin:{p}" for p in pins}
    attrs["board_id"] = facts["detect"]["circuitpython_board_id"]
    modules = fakes.modules(attrs)

    duties = []

    class RecordingPWMOut(fakes.PWMOut):
        @fakes.PWMOut.duty_cycle.setter
        def duty_cycle(self, value):
            fakes.PWMOut.duty_cycle.fset(self, value)
            duties.append(value)

    modules["pwmio"] = types.SimpleNamespace(PWMOut=RecordingPWMOut)
    sleeps = []
    modules["time"] = _circuitpython_time(sleeps)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    # what a CircuitPython board reports (hal picks its backend from these)
    monkeypatch.setattr(sys, "platform", "nRF52840")
    monkeypatch.setattr(sys, "implementation", types.SimpleNamespace(
        name="circuitpython", cache_tag=None, version=sys.implementation.version,
        _multiarch=getattr(sys.implementation, "_multiarch", "")))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(DEVICE_LIB))
    monkeypatch.syspath_prepend(str(ROOT / "device"))
    model = export.convert(models.sine_tflite())
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(model))
    monkeypatch.chdir(tmp_path)
    _forget_device_modules()
    yield types.SimpleNamespace(modules=modules, duties=duties, sleeps=sleeps, model=model)
    _forget_device_modules()


def test_fakes_have_circuitpythons_module_surfaces(circuitpython):
    for name in ("busio", "digitalio", "pwmio", "micropython"):
        public = {a for a in vars(circuitpython.modules[name]) if not a.startswith("_")}
        assert public <= _stub_names(name), (name, public - _stub_names(name))
    assert "board_id" in _stub_names("board")
    assert sorted(a for a in vars(circuitpython.modules["time"]) if not a.startswith("_")) == \
        sorted(CIRCUITPYTHON_TIME)


# "linux": CircuitPython's own unix port, which is no virtual board (no tinyml_sim on its path):
# it gets CircuitPython's backends, where a sys.platform rule would have picked the simulator
@pytest.mark.parametrize("platform", ["nRF52840", "linux"])
def test_code_py_runs_the_sine_app_with_circuitpythons_modules(circuitpython, monkeypatch, platform):
    monkeypatch.setattr(sys, "platform", platform)
    with pytest.raises(Stop):
        runpy.run_path(str(ROOT / "device" / "code.py"), run_name="__main__")
    from tinyml import hal

    assert hal.PLATFORM == "circuitpython"
    # the sensor bus powered up first (hal/_circuitpython.py waits 50 ms for the sensors to boot,
    # when the Nano's revision is told by its IMU), then an inference and a sleep until the next
    boot, app_sleeps = circuitpython.sleeps[0], circuitpython.sleeps[1:]
    assert boot == 0.05 and len(app_sleeps) == ITERATIONS - 1
    assert all(0 < s <= 0.020 for s in app_sleeps), app_sleeps
    inferences = len(app_sleeps)   # the last sleep raised Stop
    x = np.array([2 * math.pi * n / 64 for n in range(inferences)], dtype=np.float64)
    y = reference.predict(circuitpython.model, x.reshape(-1, 1)).reshape(-1)
    expected = [max(0, min(65535, int((v + 1.0) * 32767.5))) for v in y]
    assert circuitpython.duties == expected


def test_a_micropython_only_time_call_fails_on_this_path(circuitpython):
    """The check above proves something only if MicroPython's time API fails here."""
    import time

    with pytest.raises(AttributeError):
        time.sleep_ms(1)
    from tinyml import clock

    t0 = clock.ticks_ms()
    clock.sleep_ms(2)
    assert clock.ticks_diff(clock.ticks_ms(), t0) >= 1
    assert clock.ticks_diff(5, (1 << 30) - 5) == 10      # across the wrap
    assert clock.ticks_add((1 << 30) - 1, 2) == 1
    t0 = clock.ticks_us()
    clock.sleep_us(2000)
    assert clock.ticks_diff(clock.ticks_us(), t0) >= 1000


def _sensor_fakes(monkeypatch, board="nano33_ble_sense"):
    """The board's sensors (the virtual board's register fakes) on the fake busio.I2C."""
    import circuitpython as fakes
    from tinyml.boards import BOARDS
    from tinyml_host.virtual_board.tinyml_sim import devices as simdevices  # `import tinyml_sim` fails: no sim HAL

    devices = {}
    for _, part, addresses, _, _ in BOARDS[board]["sensors"]:
        for address, make in zip(addresses, simdevices.FAKES[part]):
            devices[address] = make()
    monkeypatch.setattr(fakes.I2C, "devices", devices)
    return devices


def test_tinyml_record_streams_a_sensor_with_circuitpythons_modules(circuitpython, monkeypatch):
    """`tinyml record --sensor environment`'s board side (tinyml.record.stream) on CircuitPython:
    tinyml.clock's ticks and sleeps, and sys.stdout without .buffer."""
    monkeypatch.setattr(sys.modules[__name__], "ITERATIONS", 1000)
    _sensor_fakes(monkeypatch)
    written = []
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(write=lambda b: written.append(bytes(b))))
    from tinyml import record

    record.stream(0.24, None, "environment")   # 12.5 Hz: 3 samples
    monkeypatch.undo()
    lines = b"".join(written).decode().splitlines()
    assert lines[0] == "S nano33_ble_sense environment HTS221+LPS22HB 12.5 3 3 8" and lines[-1] == "E 0"
    assert [line[:5] for line in lines[1:-1]] == ["R0000", "R0001", "R0002"]
    for line in lines[1:-1]:
        values = [int(line[5 + 8 * i:13 + 8 * i], 16) for i in range(3)]
        # the fakes' 23.5 C, 45 %RH, 1013.25 hPa in centi-C, centi-%RH and Pa, as each part quantizes
        assert values == pytest.approx([2350, 4500, 101325], abs=3)
    # the 80 ms between samples waited with time.sleep (the first sample is due at once)
    assert [s for s in circuitpython.sleeps if s != 0.05] == pytest.approx([0.08, 0.08], abs=0.02)


@pytest.fixture
def gesture_model():
    """Trained (or found in the cache) before the CircuitPython fixture replaces `time`."""
    return models.gesture_run() / "models"


def test_gesture_app_classifies_with_circuitpythons_modules(gesture_model, circuitpython, monkeypatch, capsys):
    """The gesture app on CircuitPython's module surfaces, the Nano's IMU fake acting out a wave
    (on the host's clock), with the model `tinyml train gesture` made from the virtual board's takes."""
    import shutil

    monkeypatch.setattr(sys.modules[__name__], "ITERATIONS", 100000)
    for name in ("gesture.tmdl", "gesture.classes"):
        shutil.copy(gesture_model / name, name)   # the test's cwd is the board's drive
    _sensor_fakes(monkeypatch)
    from tinyml_host.virtual_board.tinyml_sim import devices as simdevices
    from tinyml_host.virtual_board.tinyml_sim.gestures import Gesture

    start = host_time.monotonic()
    monkeypatch.setattr(simdevices.IMUFake, "gesture", Gesture("wave", 900))
    monkeypatch.setattr(simdevices.IMUFake, "clock", lambda: host_time.monotonic() - start)
    from tinyml.apps import gesture

    gesture.run(inferences=3, verbose=True)
    classes = [line.split("class=")[1].split()[0] for line in capsys.readouterr().out.splitlines() if "class=" in line]
    assert len(classes) == 3 and classes.count("wave") >= 2, classes
    assert len(circuitpython.sleeps) > 50   # it paced its 50 Hz with time.sleep
