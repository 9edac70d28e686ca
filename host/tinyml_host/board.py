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


# Runs on the board: its ROMFS partition 0 as mpremote finds it (mpremote/commands.py,
# _do_romfs_query_partition), and whether /rom is mounted. size None: no vfs.rom_ioctl
# (firmware built without ROMFS); 0: ROMFS support but no partition.
_ROMFS = """
import os
try:
    import vfs
except ImportError:
    vfs = None
size = None
if hasattr(vfs, 'rom_ioctl'):
    size = 0
    if vfs.rom_ioctl(1) > 0:
        dev = vfs.rom_ioctl(2, 0)
        if isinstance(dev, int):
            size = 0
        elif hasattr(dev, 'ioctl'):
            size = dev.ioctl(4, 0) * dev.ioctl(5, 0)
        else:
            size = len(dev)
try:
    os.stat('/rom')
    mounted = True
except OSError:
    mounted = False
print(repr({'size': size, 'mounted': mounted}))
"""

# Runs on the board: sha256 of the first n bytes of ROMFS partition 0, read in place.
_ROMFS_HASH = """
import vfs, hashlib, binascii
dev = vfs.rom_ioctl(2, 0)
print(repr(binascii.hexlify(hashlib.sha256(memoryview(dev)[:%d]).digest()).decode()))
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
def connect(port: str | None, board_id: str = "nano33_ble_sense", romfs_size: int | None = None):
    """A Board at `port`; "sim" runs the virtual board on out/sim/flash for the duration
    (romfs_size: its ROMFS partition, default the board's stock one)."""
    if port == "sim":
        from .sim import VirtualBoard

        with VirtualBoard(SIM_FLASH, board=board_id, romfs_size=romfs_size) as vb, Board(vb.port) as b:
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


BOARD_READ_TIMEOUT = 10  # seconds one serial read may wait for the board


class Board:
    """A MicroPython board at `port` (a serial device or the virtual board's pty)."""

    def __init__(self, port: str):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        self._TransportError = TransportError
        try:
            # a read timeout, so a board that stops answering cannot block a read forever; 10 s,
            # not 1: a read returns as soon as bytes come, and a virtual board on a loaded machine
            # took over a second to answer mpremote's raw-paste handshake after a soft reset
            self.transport = SerialTransport(port, baudrate=115200, timeout=BOARD_READ_TIMEOUT)
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

    @contextlib.contextmanager
    def polling(self, seconds: float = 1.0):
        """Serial reads that return after `seconds` with what came, for loops that read a
        stream and check a stop flag or a silence between reads (commands wait longer)."""
        serial = self.transport.serial
        serial.timeout = seconds
        try:
            yield serial
        finally:
            serial.timeout = BOARD_READ_TIMEOUT

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

    def romfs(self) -> dict:
        """{"size": partition 0 bytes (None: no ROMFS in this firmware, 0: no partition), "mounted": bool}"""
        return self.eval_repr(_ROMFS)

    def romfs_sha256(self, n: int) -> str:
        """sha256 hex of the first n bytes of ROMFS partition 0, as the board reads them."""
        return self.eval_repr(_ROMFS_HASH % n, timeout=120)

    def romfs_write(self, image: bytes, progress=print):
        """Write a ROMFS image to partition 0 with mpremote's own `romfs deploy` code; /rom is
        unmounted while it writes and comes back at the next soft reset. mpremote does not
        check the board's write results: verify with romfs_sha256."""
        import contextlib
        import io
        import tempfile
        from argparse import Namespace

        from mpremote.commands import CommandError, _do_romfs_deploy
        from mpremote.main import State

        state = State()
        state.transport = self.transport
        out = io.StringIO()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tinyml.romfs"  # mpremote deploys a file named *.romfs as an image
            path.write_bytes(image)
            try:
                with contextlib.redirect_stdout(out):
                    _do_romfs_deploy(state, Namespace(path=str(path), partition=0, mpy=False))
            except CommandError as e:
                raise TinymlError(f"ROMFS deploy failed: {e}") from None
            except self._TransportError as e:
                raise TinymlError(f"ROMFS deploy failed on the board: {e}") from None
            except SystemExit:  # mpremote exits on an invalid or oversized image
                raise TinymlError("ROMFS deploy refused by mpremote: "
                                  + " / ".join(out.getvalue().split("\n")[-3:]).strip()) from None
            finally:
                self._raw = self.transport.in_raw_repl
        for line in out.getvalue().split("\n"):
            line = line.split("\r")[-1].strip()  # mpremote redraws its progress line with \r
            if line:
                progress(f"  {line}")

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
