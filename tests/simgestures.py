"""The virtual board's motion model (device/lib/tinyml/hal/_simgestures.py) loaded in CPython:
the file is plain Python, so host tests and the recorder use it as is."""

from __future__ import annotations

import importlib.util
from pathlib import Path

PATH = Path(__file__).resolve().parents[1] / "device" / "lib" / "tinyml" / "hal" / "_simgestures.py"


def load():
    spec = importlib.util.spec_from_file_location("_simgestures", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
