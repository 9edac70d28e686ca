"""Run device code in the real `micropython` binary (unix port), as a board would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVICE_LIB = ROOT / "device" / "lib"
VIRTUAL_BOARD = ROOT / "host" / "tinyml_host" / "virtual_board"  # holds tinyml_sim, the simulated board


def micropypath(*folders, virtual_board: bool = True) -> str:
    """MICROPYPATH for the unix port: frozen modules, `folders`, device/lib, and tinyml_sim when the
    run is on the virtual board (without it the HAL takes the port for a board it does not know)."""
    extra = os.environ.get("TINYML_MPY_PATH")  # e.g. a folder holding a built _tinyml.mpy
    parts = [".frozen", *map(str, folders), str(DEVICE_LIB)]
    parts += [str(VIRTUAL_BOARD)] if virtual_board else []
    return ":".join(parts + ([extra] if extra else []))


def deployed_lib(folder: Path) -> Path:
    """device/lib as `tinyml deploy` puts it on a MicroPython board: compiled to .mpy (viper
    modules stay source). Code loaded from .mpy leaves no parse garbage between its objects,
    so a heap measured with it is the heap a board has; from .py, the compiler's garbage
    fragments it. Returns the folder to put on MICROPYPATH in place of device/lib."""
    from tinyml_host import deploy

    for f in deploy.plan(ROOT / "device", [], compile_to_mpy=True):
        if f.remote.startswith("lib/"):
            target = Path(folder) / f.remote[len("lib/"):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.data)
    return Path(folder)


def require_native() -> bool:
    return os.environ.get("TINYML_REQUIRE_NATIVE") == "1"


def native_or_skip():
    """For a test of _tinyml itself: skip where the firmware has none, fail instead under
    TINYML_REQUIRE_NATIVE=1 (a firmware that lost its module must not pass)."""
    import pytest

    have = "import tinyml\nprint('N', 'native' in tinyml.available_backends())"
    if lines_with("N", run(have)) != ["True"]:
        if require_native():
            pytest.fail("TINYML_REQUIRE_NATIVE=1 but _tinyml is not available")
        pytest.skip("no _tinyml here: build native/micropython (docs/firmware.md) and set TINYML_MPY_PATH to its folder")


def run(script: str, cwd: Path | str | None = None, timeout: float = 300, env: dict | None = None,
        args: tuple[str, ...] = (), virtual_board: bool = True) -> str:
    """Run `script` with device/lib (and the virtual board's tinyml_sim, unless virtual_board=False)
    on the path; return stdout, fail with stderr on error.
    args: options for the micropython binary, e.g. ("-X", "heapsize=256k")."""
    from tinyml_host.sim import find_micropython

    full_env = {**os.environ, "MICROPYPATH": micropypath(virtual_board=virtual_board), **(env or {})}
    proc = subprocess.run([find_micropython(), *args, "-c", script], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"micropython exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
                             f"\n--- stderr\n{proc.stderr[-3000:]}")
    return proc.stdout


def lines_with(prefix: str, out: str) -> list[str]:
    return [l[len(prefix):].strip() for l in out.splitlines() if l.startswith(prefix)]


# Device-side: the int8 inputs in inputs.txt fed through a model row by row, outputs collected.
OUTPUTS = """
def outputs(m, x):
    n = len(m.input)
    out = []
    for k in range(len(x) // n):
        for i in range(n):
            m.input[i] = x[k * n + i]
        m.invoke()
        out.extend(m.output)
    return out
"""

# Device-side: bytes the heap grew by over `times` calls of invoke (after one call, which may
# size buffers once); in a function, so the loop's names live on the stack, not in globals.
ALLOCATED = """
import gc
def allocated(invoke, times):
    invoke()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(times):
        invoke()
    return gc.mem_alloc() - before
"""


ALLOCATIONS = ALLOCATED + """
import gc, tinyml
from tinyml import {module}
for name in open('models.txt').read().split():
    m = tinyml.load(name, '{backend}')
    assert all(run is {module}.fc for run, _, _, _ in m._steps)
    print('ALLOC', name, allocated(m.invoke, 200))
"""


def allocations_per_model(tmp_path: Path, backend: str, module: str) -> dict[str, str]:
    """Bytes allocated by 200 invoke() of the sine model and a small MLP, both roundings, on
    `backend`, whose layers must go through `tinyml.<module>.requantize`: {file: bytes}."""
    import models
    from tinyml_host import export, tmdl

    names = []
    for rounding in ("tflm", "litert"):
        for label, data in (("sine", models.sine_tflite()), ("mlp", models.random_mlp_tflite(2))):
            name = f"{label}_{rounding}.tmdl"
            (Path(tmp_path) / name).write_bytes(tmdl.encode(export.convert(data, rounding)))
            names.append(name)
    (Path(tmp_path) / "models.txt").write_text(" ".join(names))
    out = run(ALLOCATIONS.format(backend=backend, module=module), cwd=tmp_path)
    allocs = dict(line.split() for line in lines_with("ALLOC", out))
    assert sorted(allocs) == sorted(names), out
    return allocs
