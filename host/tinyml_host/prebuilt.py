"""The prebuilt `_tinyml.mpy` files in native/prebuilt/, one per architecture, and which one a
board can load. native/tools/natmods.py builds them (`make natmods MPY_DIR=...`)."""

from __future__ import annotations

import json
from pathlib import Path

from .boards import ROOT

PREBUILT = ROOT / "native" / "prebuilt"
MANIFEST = PREBUILT / "manifest.json"
# MicroPython's .mpy architecture codes (py/persistentcode.h), index = code
MPY_ARCHS = ["", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc", "rv64imc"]


def arch_name(code: int) -> str:
    return MPY_ARCHS[code] if code < len(MPY_ARCHS) else "?"


def mpy_header(data: bytes) -> dict:
    """Architecture and version from a .mpy file's first bytes."""
    if len(data) < 4 or data[:1] != b"M":
        raise ValueError("not a .mpy file")
    return {"mpy_version": data[1], "mpy_sub_version": data[2] & 3, "arch": arch_name(data[2] >> 2)}


def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def for_board(mpy: int) -> Path | None:
    """The shipped _tinyml.mpy a board with this sys.implementation._mpy loads, if there is one:
    its architecture, its .mpy version, a sub-version no newer than the board's."""
    if not MANIFEST.exists():
        return None
    entry = manifest()["modules"].get(arch_name(mpy >> 10))
    if entry is None or entry["mpy_version"] != mpy & 0xFF or entry["mpy_sub_version"] > (mpy >> 8) & 3:
        return None
    return PREBUILT / entry["arch"] / "_tinyml.mpy"


def why_none(mpy: int) -> str:
    """Why for_board(mpy) found nothing, in a line a user can act on."""
    arch = arch_name(mpy >> 10)
    if not mpy or not arch:
        return "this firmware runs no native code (no .mpy architecture)"
    if not MANIFEST.exists():
        return "no prebuilt modules in native/prebuilt (`make natmods MPY_DIR=...` builds them)"
    m = manifest()
    if arch in m.get("not_buildable", {}):
        return f"no prebuilt module for {arch}: {m['not_buildable'][arch]}; build firmware with it (docs/firmware.md)"
    if arch not in m["modules"]:
        return f"no prebuilt module for {arch}"
    e = m["modules"][arch]
    return (f"the prebuilt {arch} module is .mpy v{e['mpy_version']}.{e['mpy_sub_version']}, this firmware "
            f"loads v{mpy & 0xFF}.{(mpy >> 8) & 3}: a MicroPython release of that .mpy version is needed")
