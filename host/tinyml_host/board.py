"""One connection API for every board, real or virtual, over mpremote's serial transport."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import TinymlError

SIM_FLASH = Path("out/sim/flash")

# Runs on the board: facts for deploy and `tinyml info`.
_INFO = """
import sys, os, gc
gc.collect()
try:
    fs = os.statvfs('/')
    free_flash = fs[0] * fs[3]
except (AttributeError, OSError):
    free_flash = -1
try:
    import _tinyml
    native = _tinyml.variant()
    native_builtin = not hasattr(_tinyml, '__file__')
except ImportError:
    native = None
    native_builtin = False
machine = getattr(sys.implementation, '_machine', None) or os.uname().machine
try:
    from tinyml import hal
    board_id = hal.board_id()
except Exception:  # tinyml not deployed yet, or a board not in boards.json
    board_id = None
print(repr({'implementation': sys.implementation.name, 'version': sys.implementation.version[:3],
            'mpy': getattr(sys.implementation, '_mpy', 0), 'platform': sys.platform,
            'machine': machine, 'free_ram': gc.mem_free(), 'free_flash': free_flash,
            'native': native, 'native_builtin': native_builtin, 'board_id': board_id}))
"""

# Runs on the board: sha256 of each file, None when absent.
_HASHES = """
import hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    d = hashlib.sha256()
    b = bytearray(256)
    while True:
        n = f.readinto(b)
        if not n:
            break
        d.update(b if n == 256 else b[:n])
    f.close()
    return binascii.hexlify(d.digest()).decode()
print(repr({p: _h(p) for p in %r}))
"""


def autodetect_port() -> str:
    """The first USB serial port, as mpremote's auto-connect picks one."""
    from serial.tools import list_ports

    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is not None:
            return p.device
    raise TinymlError("no board found: connect one by USB, or pass --port PORT "
                      "(e.g. /dev/ttyACM0), or --port sim for the virtual board")


@contextlib.contextmanager
def connect(port: str | None, board_id: str = "nano33_ble_sense"):
    """A Board at `port`; "sim" runs the virtual board on out/sim/flash for the duration."""
    if port == "sim":
        from .sim import VirtualBoard

        with VirtualBoard(SIM_FLASH, board=board_id) as vb, Board(vb.port) as b:
            yield b
        return
    with Board(port or autodetect_port()) as b:
        yield b


def board_error(err: bytes) -> TinymlError:
    """What the board raised, as its traceback's last line ("ValueError: truncated .tmdl ...");
    the whole traceback stays in .detail for --debug."""
    text = err.decode(errors="replace").strip()
    lines = text.splitlines()
    return TinymlError(f"board error: {lines[-1] if lines else 'no message'}", detail=text)


class Board:
    """A MicroPython board at `port` (a serial device or the virtual board's pty)."""

    def __init__(self, port: str):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        self._TransportError = TransportError
        try:
            # a read timeout, so a board that stops answering cannot block a read forever
            self.transport = SerialTransport(port, baudrate=115200, timeout=1)
        except TransportError as e:
            why = ("it is in use by another program (mpremote, a serial monitor, another tinyml)"
                   if os.path.exists(port) else "no such port")
            raise TinymlError(f"cannot open board at {port}: {why} ({e})") from None
        self.port = port
        self._raw = False

    def close(self):
        if self.transport is None:
            return
        if self._raw:
            self.transport.exit_raw_repl()
            self._raw = False
        self.transport.close()
        self.transport = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _enter(self, soft_reset: bool):
        if soft_reset or not self._raw:
            if self._raw:
                self.transport.exit_raw_repl()
            self.transport.enter_raw_repl(soft_reset=soft_reset)
            self._raw = True

    def soft_reset(self):
        """Soft reset into the raw REPL: a clean heap and no state from earlier commands."""
        self._enter(True)

    def exec(self, code: str, soft_reset: bool = False, timeout: float = 60) -> str:
        """Run code on the board, return what it printed; a board exception is a TinymlError."""
        self._enter(soft_reset)
        try:
            out, err = self.transport.exec_raw(code, timeout=timeout)
        except self._TransportError as e:
            raise TinymlError(f"board at {self.port} did not answer: {e}") from None
        if err:
            raise board_error(err)
        return out.decode(errors="replace")

    def run(self, code: str, timeout: float | None = None):
        """Soft reset, then run code, streaming its output here as it comes (like mpremote run)."""
        import sys

        self._enter(True)
        self.transport.exec_raw_no_follow(code)
        def show(chunk: bytes):
            sys.stdout.write(chunk.replace(b"\x04", b"").decode(errors="replace"))  # \x04 ends the output
            sys.stdout.flush()

        out, err = self.transport.follow(timeout, show)
        if err:
            raise board_error(err)

    def eval_repr(self, code: str, timeout: float = 60):
        """Run code that prints one Python literal; return it parsed."""
        import ast

        out = self.exec(code, timeout=timeout).strip().splitlines()
        if not out:
            raise TinymlError("board printed nothing")
        return ast.literal_eval(out[-1])

    def info(self) -> dict:
        return self.eval_repr(_INFO)

    def hashes(self, paths: list[str]) -> dict:
        """sha256 hex of each board file, None for a missing one."""
        return self.eval_repr(_HASHES % (list(paths),), timeout=120)

    def write(self, remote: str, data: bytes):
        self._enter(False)
        try:
            self.transport.fs_writefile(remote, data)
        except self._TransportError as e:
            raise TinymlError(f"writing {remote} failed: {e}") from None

    def rename_all(self, pairs):
        """Rename (old, new) pairs in one command, so the switch is as short as it can be."""
        self.exec("import os\n" + "".join(f"os.rename({old!r}, {new!r})\n" for old, new in pairs))

    def remove(self, paths):
        self.exec("import os\n" + "".join(f"os.remove({p!r})\n" for p in paths))

    def mkdir(self, path: str):
        self._enter(False)
        if not self.transport.fs_exists(path):
            self.transport.fs_mkdir(path)
