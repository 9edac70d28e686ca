"""The CircuitPython import path of the device package type-checks against circuitpython-stubs,
the published API of CircuitPython's board, busio, digitalio, pwmio and micropython modules."""

import subprocess
import sys

from mpy import DEVICE_LIB

# what `import tinyml` plus the CircuitPython HAL and sensors load on a CircuitPython board
CIRCUITPYTHON_PATH = ["tinyml/__init__.py", "tinyml/model.py", "tinyml/_python.py", "tinyml/boards.py",
                      "tinyml/hal/__init__.py", "tinyml/hal/_circuitpython.py", "tinyml/sensors/__init__.py",
                      "tinyml/sensors/mpu6050.py", "tinyml/sensors/_chip.py", "tinyml/sensors/lsm9ds1.py",
                      "tinyml/sensors/bmi270.py", "tinyml/sensors/hts221.py", "tinyml/sensors/hs3003.py",
                      "tinyml/sensors/lps22hb.py", "tinyml/sensors/bmm150.py", "tinyml/apps/__init__.py", "tinyml/apps/sine.py",
                      "tinyml/apps/motion.py"]


def test_circuitpython_path_type_checks_against_the_stubs(tmp_path):
    config = tmp_path / "mypy.ini"
    # _viper.py is viper code, imported in try/except: CircuitPython never compiles it;
    # the other HAL backends import MicroPython's machine and the unix port's modules;
    # _tinyml is the optional native module (not on CircuitPython, imported in try/except).
    config.write_text("[mypy]\nfollow_imports = silent\n"
                      "[mypy-_tinyml]\nignore_missing_imports = True\n"
                      "[mypy-tinyml._viper]\nignore_errors = True\n"
                      "[mypy-tinyml.hal._machine,tinyml.hal._sim,tinyml.hal._simdevices]\nignore_errors = True\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(config), "--python-version", "3.11",
                           "--no-incremental", "--cache-dir=/dev/null", *CIRCUITPYTHON_PATH], cwd=DEVICE_LIB,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_circuitpython_backend_calls_real_circuitpython_apis(tmp_path):
    # A deliberate misuse must be caught, or the check above proves nothing.
    bad = tmp_path / "bad.py"
    bad.write_text("import pwmio, board\npwmio.PWMOut(board.LED, duty_cycle='full')\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir=/dev/null", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "duty_cycle" in proc.stdout
