"""The CircuitPython import path of the device package type-checks against circuitpython-stubs,
the published API of CircuitPython's board, busio, digitalio, pwmio and micropython modules."""

import re
import subprocess
import sys
from pathlib import Path

from mpy import DEVICE_LIB

STUBS = Path(__file__).parent / "stubs"

# what `import tinyml` plus the CircuitPython HAL and sensors load on a CircuitPython board
CIRCUITPYTHON_PATH = ["tinyml/__init__.py", "tinyml/model.py", "tinyml/_python.py", "tinyml/boards.py",
                      "tinyml/hal/__init__.py", "tinyml/hal/_circuitpython.py", "tinyml/sensors/__init__.py",
                      "tinyml/sensors/mpu6050.py", "tinyml/sensors/_chip.py", "tinyml/sensors/lsm9ds1.py",
                      "tinyml/sensors/bmi270.py", "tinyml/sensors/hts221.py", "tinyml/sensors/hs3003.py",
                      "tinyml/sensors/lps22hb.py", "tinyml/sensors/bmm150.py", "tinyml/apps/__init__.py", "tinyml/apps/sine.py",
                      "tinyml/apps/motion.py", "tinyml/apps/gesture.py", "tinyml/apps/record.py", "tinyml/record.py",
                      "tinyml/reader.py", "tinyml/clock.py", "tinyml/telemetry/__init__.py",
                      "tinyml/telemetry/_adafruit_ble.py", "tinyml/telemetry/_serial.py", "tinyml/info.py",
                      "tinyml/bench.py"]
# code.py runs main.py, which reads config.py: the board's own top level, beside lib/
TOP_LEVEL = ["../code.py", "../main.py", "../config.py"]


def test_circuitpython_path_type_checks_against_the_stubs(tmp_path):
    config = tmp_path / "mypy.ini"
    # _viper.py is viper code, imported in try/except: CircuitPython never compiles it;
    # the other HAL backends import MicroPython's machine and the unix port's modules;
    # _tinyml is the optional native module (not on CircuitPython, imported in try/except).
    # typeshed's `time` has no ticks_*/sleep_ms, as CircuitPython's has none: a call to one in
    # any of these modules fails here (test_time_calls_circuitpython_lacks_are_caught); function
    # bodies are checked too (check_untyped_defs: mypy skips unannotated ones by default).
    # stubs/: modules MicroPython and CircuitPython share that circuitpython-stubs leaves out (gc).
    config.write_text(f"[mypy]\nfollow_imports = silent\ncheck_untyped_defs = True\nmypy_path = {DEVICE_LIB}:{STUBS}\n"
                      "[mypy-_tinyml]\nignore_missing_imports = True\n"
                      # Adafruit's BLE library ships no type information (its calls are not checked)
                      "[mypy-adafruit_ble,adafruit_ble.*]\nignore_missing_imports = True\n"
                      "[mypy-tinyml._viper]\nignore_errors = True\n"
                      "[mypy-tinyml.hal._machine]\nignore_errors = True\n"
                      "[mypy-tinyml.telemetry._bluetooth,tinyml.telemetry._ubluepy]\n"
                      "ignore_errors = True\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(config), "--python-version", "3.11",
                           "--no-incremental", "--cache-dir=/dev/null", *CIRCUITPYTHON_PATH, *TOP_LEVEL], cwd=DEVICE_LIB,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_circuitpython_backend_calls_real_circuitpython_apis(tmp_path):
    # A deliberate misuse must be caught, or the check above proves nothing.
    bad = tmp_path / "bad.py"
    bad.write_text("import pwmio, board\npwmio.PWMOut(board.LED, duty_cycle='full')\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir=/dev/null", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "duty_cycle" in proc.stdout


def test_time_calls_circuitpython_lacks_are_caught(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import time\ntime.sleep_ms(20)\nt = time.ticks_ms()\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir=/dev/null", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "sleep_ms" in proc.stdout and "ticks_ms" in proc.stdout


def test_no_micropython_only_time_calls_on_the_circuitpython_path():
    """A second net under mypy: no module CircuitPython reaches names MicroPython's time extras
    (or utime); tinyml.clock is the one place that looks them up, by getattr."""
    pattern = re.compile(r"\b(?:time|utime)\.(?:sleep_ms|sleep_us|ticks_\w+)|\bimport utime\b|from time import (?:sleep_ms|ticks)")
    found = []
    for path in CIRCUITPYTHON_PATH + TOP_LEVEL:
        for n, line in enumerate((DEVICE_LIB / path).read_text().splitlines(), 1):
            if pattern.search(line.split("#")[0]):  # code, not comments
                found.append(f"{path}:{n}: {line.strip()}")
    assert not found, found
