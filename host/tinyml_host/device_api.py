"""What the device package in this checkout offers, read from its source (never imported: it is
MicroPython code). Lets host code and tests use a device feature exactly when it is there,
e.g. `tinyml.load(path, stream=True)`, which lands with the backend-seam work."""

from __future__ import annotations

import ast

from .boards import ROOT

MODEL_SOURCE = ROOT / "device" / "lib" / "tinyml" / "model.py"


def load_parameters(source=MODEL_SOURCE) -> list[str]:
    """The parameter names of the device's `tinyml.load` (defined in tinyml/model.py)."""
    tree = ast.parse(source.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "load":
            a = node.args
            return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
    raise LookupError(f"no load() in {source}")


def can_stream(source=MODEL_SOURCE) -> bool:
    """Whether `tinyml.load(path, stream=True)` exists in this device package."""
    return "stream" in load_parameters(source)


STREAM_MISSING = ("tinyml.load has no stream parameter in this checkout's device/lib/tinyml/model.py "
                  "(streamed weights, issue 11 part 4, land with the backend-seam work)")
