"""The virtual board is told apart from other ports by something only it has (the tinyml_sim
package on its path), never by sys.platform; and the package a board gets holds no simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mpy import DEVICE_LIB, ROOT, lines_with, run

FAKES = Path(__file__).parent / "fakes"

# What a script sees of the HAL and telemetry; `extra` puts fake modules first on the path.
PROBE = """
import sys
sys.path.insert(0, {extra!r})
print('PLAT', sys.platform)
from tinyml import hal
print('HAL', hal.PLATFORM)
try:
    print('BOARD', hal.board_id())
except ValueError as e:
    print('BOARD ValueError:', e)
import tinyml.telemetry as telemetry
try:
    t = telemetry.start('probe')
    print('LINK', 'started')
except ValueError as e:
    print('LINK ValueError:', e)
"""


def _probe(virtual_board: bool, extra: Path | str = "/nonexistent") -> dict[str, str]:
    out = run(PROBE.format(extra=str(extra)), virtual_board=virtual_board)
    return {key: (lines_with(key, out) or [""])[0] for key in ("PLAT", "HAL", "BOARD", "LINK")}


def test_the_unix_port_without_tinyml_sim_is_not_the_virtual_board():
    got = _probe(virtual_board=False)
    assert got["PLAT"] == "linux"                      # the old rule would have said "sim"
    assert got["HAL"] == "micropython"
    assert got["BOARD"].startswith("ValueError: unsupported board 'linux")
    # no board facts and no BLE module in this build: a clear error, not the simulated link
    assert got["LINK"].startswith("ValueError: no BLE: unsupported board 'linux")
    assert "has no BLE module" in got["LINK"]


def _nimble_build(tmp_path) -> Path:
    """A folder whose `bluetooth` is the fake of that module (its exact API), as the unix port
    built with NimBLE has it, and nothing else of the fakes (no ubluepy there)."""
    (tmp_path / "bluetooth.py").write_text((FAKES / "bluetooth.py").read_text())
    return tmp_path


def test_a_unix_port_with_a_real_bluetooth_module_uses_it(tmp_path):
    got = _probe(virtual_board=False, extra=_nimble_build(tmp_path))
    assert (got["HAL"], got["LINK"]) == ("micropython", "started")
    out = run(f"""
import sys
sys.path.insert(0, {str(tmp_path)!r})
import tinyml.telemetry as telemetry
from tinyml.telemetry import _bluetooth
t = telemetry.start('probe')
print('IS', type(t.link) is _bluetooth.Link)
""", virtual_board=False)
    assert lines_with("IS", out) == ["True"]


def test_the_virtual_board_is_chosen_by_tinyml_sim_even_where_a_ble_module_exists(tmp_path):
    out = run(f"""
import sys
sys.path.insert(0, {str(_nimble_build(tmp_path))!r})
import bluetooth  # present, as on a NimBLE build: the virtual board still uses its own link
from tinyml import hal
import tinyml.telemetry as telemetry
from tinyml_sim import telemetry as sim
t = telemetry.start('probe')
print('HAL', hal.PLATFORM, hal.board_id())
print('IS', type(t.link) is sim.Link)
""", env={"TINYML_SIM_DIR": str(tmp_path), "TINYML_BOARD": "esp32"})
    assert lines_with("HAL", out) == ["sim esp32"]
    assert lines_with("IS", out) == ["True"]


def test_the_device_package_ships_no_simulator():
    shipped = [dest for dest, _ in json.loads((ROOT / "device" / "package.json").read_text())["urls"]]
    assert not [f for f in shipped if "sim" in Path(f).name]
    on_disk = sorted(p.relative_to(DEVICE_LIB).as_posix() for p in DEVICE_LIB.rglob("*.py"))
    assert sorted(shipped) == on_disk  # and package.json ships what is there (test_packaging)
    # only the two selection points name the simulator, each behind an import that fails on a board
    naming = sorted(p.relative_to(DEVICE_LIB).as_posix() for p in DEVICE_LIB.rglob("*.py")
                    if "tinyml_sim" in p.read_text())
    assert naming == ["tinyml/hal/__init__.py", "tinyml/telemetry/__init__.py"]


def test_the_virtual_board_adds_tinyml_sim_to_a_flash_holding_only_the_package(tmp_path):
    import shutil

    from tinyml_host.sim import VirtualBoard

    flash = tmp_path / "flash"
    shutil.copytree(DEVICE_LIB, flash / "lib")  # what deploy puts on a board: no simulator in it
    with VirtualBoard(flash, board="pico_w") as vb:
        out = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, "exec",
                              "import sys\nfrom tinyml import hal\n"
                              "print('HAL', hal.PLATFORM, hal.board_id(), '/virtual_board' in sys.path)"],
                             capture_output=True, text=True, timeout=60)
    assert lines_with("HAL", out.stdout) == ["sim pico_w True"], out.stdout + out.stderr
