"""The board's own RAM figure for a .tmdl: device/lib/tinyml/model.py's _needs run on the host.

`tinyml.ram_needed(path, backend)` on a board returns what load() will keep in RAM, from the
file's tables alone (reader.read, then model._needs). The host runs that same code rather than
a second formula: device/lib/tinyml's reader.py, quant.py and model.py are imported here under
CPython as a private copy of the `tinyml` package, with `micropython.const` as the identity and,
for a MicroPython board, a `uctypes` module present (MicroPython ports have it; CircuitPython
has not, which changes the pure-Python backend's copies). Two facts of the board are set
after import, where model.py reads them from the running interpreter: the machine word (4
bytes on every board in boards.json; CPython's would be 8).
"""

from __future__ import annotations

import importlib
import io
import sys
import types
from pathlib import Path

DEVICE_LIB = Path(__file__).resolve().parents[2] / "device" / "lib"
BOARD_WORD = 4    # bytes: every board in boards.json is a 32-bit MCU
_loaded: dict[bool, tuple] = {}


def _stub(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


def import_device(names: tuple[str, ...], stubs: dict) -> list[types.ModuleType]:
    """Modules of device/lib (e.g. "tinyml.model") imported under CPython as a private copy of
    the `tinyml` package: `micropython` (const as the identity) and `tinyml` (a bare package
    over device/lib/tinyml, without its __init__) are stubs, with any in `stubs` added or put in
    their place. CPython's own sys.modules entries of those names are restored afterwards, so
    each call makes a fresh copy that nothing else sees."""
    stubs = {"micropython": _stub("micropython", const=lambda v: v),
             "tinyml": _stub("tinyml", __path__=[str(DEVICE_LIB / "tinyml")]), **stubs}

    def ours(key):
        return key in stubs or key.startswith("tinyml.")

    saved = {k: v for k, v in sys.modules.items() if ours(k)}
    for k in saved:
        del sys.modules[k]
    sys.modules.update(stubs)
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        for k in [k for k in sys.modules if ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


def _device_modules(uctypes: bool):
    """(reader, model) modules of device/lib/tinyml, imported with or without a uctypes module."""
    if uctypes not in _loaded:
        # None in sys.modules: `import uctypes` raises ImportError, as on CircuitPython
        stubs = {"uctypes": _stub("uctypes", addressof=lambda buf: 0) if uctypes else None}
        _loaded[uctypes] = tuple(import_device(("tinyml.reader", "tinyml.model"), stubs))
    return _loaded[uctypes]


def default_block() -> int:
    """The block size load(path, stream=True) reads the weights in (model.DEFAULT_BLOCK)."""
    return _device_modules(True)[1].DEFAULT_BLOCK


def ram_needed(tmdl_data: bytes, backend: str, uctypes: bool = True, word: int = BOARD_WORD,
               block: int | None = None) -> dict:
    """model._needs of the file for `backend` ("native", "viper", "python"): bytes by placement
    {"filesystem", "stream", "romfs", "buffers", "peak", "stream_peak"}, as ram_needed() on a
    32-bit board says (uctypes: a MicroPython port; False: CircuitPython; word: 8 for a 64-bit
    port such as the unix one; block: load(path, stream=block)'s block size, default the
    board's DEFAULT_BLOCK)."""
    reader, model = _device_modules(uctypes)
    model._WORD = word
    f = io.BytesIO(tmdl_data)
    return model._needs(reader.read(f, None), backend, model.DEFAULT_BLOCK if block is None else block)


def stream_reads(tmdl_data: bytes, block: int | None = None) -> dict:
    """What one invoke() of load(path, stream=block) reads from the file (model.stream_reads):
    {"block_bytes", "window_bytes", "reads", "bytes"}."""
    reader, model = _device_modules(True)
    block = model.DEFAULT_BLOCK if block is None else block
    window, reads, total = model.stream_reads(reader.read(io.BytesIO(tmdl_data), None), block)
    return {"block_bytes": block, "window_bytes": window, "reads": reads, "bytes": total}
