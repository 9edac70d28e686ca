"""The host's readers of files a user hands it: each returns checked contents or raises a
TinymlError that starts with the file's name and says what is wrong and where.

.tflite files have their own checked reader (export.py); this module holds the rest:
.tmdl models, JSON files (boards.json, kernel measurements) and text.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from . import tmdl
from .errors import TinymlError


def read_text(path, what: str = "a text file") -> str:
    """OSError (missing, unreadable) is left to the CLI, which names the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TinymlError(f"{path}: not {what}: byte 0x{e.object[e.start]:02x} at offset {e.start} "
                          "is not UTF-8 text") from e


def read_tmdl(path) -> tmdl.TmdlModel:
    """A .tmdl model, fully validated by the format's reader (CRC, sizes, ranges)."""
    path = Path(path)
    if not path.exists():
        raise TinymlError(f"model {path} not found: run `tinyml export` (or `make demo`) first")
    try:
        return tmdl.read(path)
    except ValueError as e:  # the format's reader names every problem with a ValueError
        raise TinymlError(f"{path}: {e}") from e


def read_json(path, what: str):
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise TinymlError(f"{path}: not valid JSON ({what}): {e.msg} at line {e.lineno} column {e.colno}") from e


def check_schema(data, schema: dict, path, describe_location) -> None:
    """Validate against a JSON Schema; the first problem (in document order) is the message.
    describe_location(list of keys) says where, in the file's own terms."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        # "is not valid under any of the given schemas" (a oneOf) says little: best_match goes
        # into the alternatives and picks the problem inside the one that came closest
        first = jsonschema.exceptions.best_match([errors[0]])
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise TinymlError(f"{path}: {describe_location(list(first.absolute_path))}: {first.message}{more}")


_SHAPE = re.compile(r"^(\d+)x(\d+)$")


def read_kernel_costs(path) -> list[dict]:
    """`make bench`'s kernel measurements (out/bench/kernels.json): a list of rows with
    cpu, kernel, shape "INxOUT" and cycles_per_mac; none when the file is absent."""
    path = Path(path)
    if not path.exists():
        return []
    rows = read_json(path, "kernel measurements from `make bench`")
    if not isinstance(rows, list):
        raise TinymlError(f"{path}: expected a list of measurements, found {type(rows).__name__}")
    for i, r in enumerate(rows):
        where = f"{path}: measurement {i}"
        if not isinstance(r, dict):
            raise TinymlError(f"{where} is {type(r).__name__}, expected an object")
        for key in ("cpu", "kernel", "shape"):
            if not isinstance(r.get(key), str):
                raise TinymlError(f"{where}: field {key!r} is {r.get(key)!r}, expected a string")
        m = _SHAPE.match(r["shape"])
        if not m or int(m[1]) == 0 or int(m[2]) == 0:
            raise TinymlError(f"{where}: shape {r['shape']!r}, expected INxOUT (e.g. '16x16')")
        cpm = r.get("cycles_per_mac")
        if isinstance(cpm, bool) or not isinstance(cpm, (int, float)) or not (math.isfinite(cpm) and cpm > 0):
            raise TinymlError(f"{where}: cycles_per_mac is {cpm!r}, expected a positive number")
    return rows


VIPER_COST_FIELDS = ("per_invoke", "per_layer", "per_output", "per_mac", "loop_instructions_per_mac",
                     "loop_cycles_per_mac")


def read_viper_costs(path) -> dict[str, dict]:
    """The viper cost table (data/viper_costs.json, native/tools/viper_bench.py): per boards.json cpu
    either the instruction fit and MAC-loop figures or a "why_not"; {} when the file is absent."""
    path = Path(path)
    if not path.exists():
        return {}
    data = read_json(path, "viper costs from native/tools/viper_bench.py")
    cpus = data.get("cpus") if isinstance(data, dict) else None
    if not isinstance(cpus, dict):
        raise TinymlError(f"{path}: expected an object with a 'cpus' object")
    for cpu, row in cpus.items():
        where = f"{path}: cpu {cpu!r}"
        if not isinstance(row, dict):
            raise TinymlError(f"{where} is {type(row).__name__}, expected an object")
        if "why_not" in row:
            if not isinstance(row["why_not"], str):
                raise TinymlError(f"{where}: why_not is {row['why_not']!r}, expected a string")
            continue
        for key in VIPER_COST_FIELDS:
            v = row.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
                raise TinymlError(f"{where}: field {key!r} is {v!r}, expected a number >= 0")
    return cpus
