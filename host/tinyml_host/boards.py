"""boards.json, the single source of truth, and the compact module generated from it for the device."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOARDS_JSON = ROOT / "boards.json"
SCHEMA = ROOT / "docs" / "boards.schema.json"
DEVICE_MODULE = ROOT / "device" / "lib" / "tinyml" / "boards.py"


def _location(keys: list) -> str:
    """Where in boards.json, as a person editing it would say it."""
    if len(keys) >= 2 and keys[0] == "boards":
        field = ".".join(str(k) for k in keys[2:])
        return f"board {keys[1]!r}" + (f", field {field}" if field else "")
    return "top level" if not keys else "at " + ".".join(str(k) for k in keys)


def load(path: Path | None = None) -> dict:
    """The boards (of boards.json unless `path`), checked against docs/boards.schema.json:
    code that reads a field can rely on it, and a mistake is one message naming the board
    and the field."""
    from .inputs import check_schema, read_json

    path = path or BOARDS_JSON
    data = read_json(path, "the boards file")
    check_schema(data, json.loads(SCHEMA.read_text()), path, _location)
    return data["boards"]


def _pair(switch):
    return None if switch is None else (switch["micropython"], switch["circuitpython"])


def _sleep(modes):
    # null (not documented) counts as no: the device then keeps to the idle wait
    return (modes["lightsleep_timed"], bool(modes["lightsleep_keeps_ble"]), bool(modes["lightsleep_keeps_usb"]))


def _mic(mp, cp):
    """(micropython, circuitpython): ("i2s", id, sck, ws, sd) or ("pdm", clock, data, power) or None
    for MicroPython; ("pdm", clock, data, power) or None for CircuitPython."""
    if mp is None:
        m = None
    elif mp["interface"] == "i2s":
        m = ("i2s", mp["id"], mp["sck"], mp["ws"], mp["sd"])
    else:
        m = ("pdm", mp["clock"], mp["data"], mp["power"])
    return (m, None if cp is None else ("pdm", cp["clock"], cp["data"], cp["power"]))


def device_module(boards: dict) -> str:
    """Only the facts the board needs at run time (cheap to import on a board)."""
    lines = ["# Generated from boards.json by `tinyml boards --write`; do not edit.",
             "# led: (micropython pin, circuitpython pin, active low, can PWM)",
             "# i2c: (micropython id, scl, sda, circuitpython scl, sda, frequency)",
             "# power, pullup: (micropython pin, circuitpython pin) to drive high, or None",
             "# sensors: (kind, part, addresses, micropython driver, circuitpython driver)",
             "# mic: (micropython: ('i2s', id, sck, ws, sd) | ('pdm', clock, data, power) | None,",
             "#       circuitpython: ('pdm', clock, data, power) | None)",
             "# sleep: (machine.lightsleep(ms) is a timed sleep, it keeps a BLE link, it keeps USB serial)",
             "BOARDS = {"]
    for board_id, b in boards.items():
        led, i2c = b["led"], b["i2c"]
        facts = {
            "name": b["name"],
            "machine": b["detect"]["micropython_machine"],
            "cp_id": b["detect"]["circuitpython_board_id"],
            "led": (led["micropython"], led["circuitpython"], led["active_low"], led["pwm"]),
            "i2c": (i2c["micropython"]["id"], i2c["micropython"]["scl"], i2c["micropython"]["sda"],
                    i2c["circuitpython"]["scl"], i2c["circuitpython"]["sda"], i2c["freq"]),
            "power": _pair(b["sensor_power"]),
            "pullup": _pair(b["i2c_pullup"]),
            "sensors": tuple((s["kind"], s["part"], tuple(s["addresses"]), s["driver"]["micropython"],
                              s["driver"]["circuitpython"]) for s in b["sensors"]),
            "mic": _mic(b["microphone"]["micropython"], b["microphone"]["circuitpython"]),
            "ble": (b["ble"]["micropython"], b["ble"]["circuitpython"]),
            "sleep": _sleep(b["power"]["sleep_modes"]),
        }
        lines.append(f"    {board_id!r}: {{")
        lines.extend(f"        {k!r}: {v!r}," for k, v in facts.items())
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_device_module() -> Path:
    DEVICE_MODULE.write_text(device_module(load()))
    return DEVICE_MODULE
