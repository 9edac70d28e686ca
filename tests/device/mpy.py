"""Run device code in the real `micropython` binary (unix port), as a board would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVICE_LIB = ROOT / "device" / "lib"


def require_native() -> bool:
    return os.environ.get("TINYML_REQUIRE_NATIVE") == "1"


def run(script: str, cwd: Path | str | None = None, timeout: float = 300, env: dict | None = None) -> str:
    """Run `script` with device/lib on the path; return stdout, fail with stderr on error."""
    from tinyml_host.sim import find_micropython

    # TINYML_MPY_PATH: extra folders for the board's path, e.g. one holding a built _tinyml.mpy
    extra = os.environ.get("TINYML_MPY_PATH")
    path = f".frozen:{DEVICE_LIB}" + (f":{extra}" if extra else "")
    full_env = {**os.environ, "MICROPYPATH": path, **(env or {})}
    proc = subprocess.run([find_micropython(), "-c", script], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"micropython exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
                             f"\n--- stderr\n{proc.stderr[-3000:]}")
    return proc.stdout


def lines_with(prefix: str, out: str) -> list[str]:
    return [l[len(prefix):].strip() for l in out.splitlines() if l.startswith(prefix)]
