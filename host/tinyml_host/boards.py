"""boards.json, the single source of truth, and the compact module generated from it for the device."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOARDS_JSON = ROOT / "boards.json"
DEVICE_MODULE = ROOT / "device" / "lib" / "tinyml" / "boards.py"


def load(path: Path = BOARDS_JSON) -> dict:
    return json.loads(Path(path).read_text())["boards"]


def device_module(boards: dict) -> str:
    """Only the facts the board needs at run time, as tuples (cheap to import on a board)."""
    lines = ["# Generated from boards.json by `tinyml boards --write`; do not edit.",
             "# id: (name, micropython machine string, circuitpython board_id,",
             "#      LED pin on micropython, LED pin on circuitpython, LED active low, LED can PWM)",
             "BOARDS = {"]
    for board_id, b in boards.items():
        led, det = b["led"], b["detect"]
        row = (b["name"], det["micropython_machine"], det["circuitpython_board_id"],
               led["micropython"], led["circuitpython"], led["active_low"], led["pwm"])
        lines.append(f"    {board_id!r}: {row!r},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_device_module() -> Path:
    DEVICE_MODULE.write_text(device_module(load()))
    return DEVICE_MODULE
