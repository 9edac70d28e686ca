"""One connection API for every board, real or virtual, over mpremote's serial transport."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .boards import ROOT
from .errors import TinymlError

SIM_FLASH = Path("out/sim/flash")

# Device modules whose functions the host calls on a board (Board.call): their source runs
# from here, so a board answers the same way whatever tinyml it holds, or none yet.
DEVICE_LIB = ROOT / "device" / "lib"


def autodetect_port() -> str:
    """The first USB serial port, as mpremote's auto-connect picks one."""
    from serial.tools import list_ports

    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is not None:
            return p.device
    raise TinymlError("no board found: connect one by USB, or pass --port PORT "
                      "(e.g. /dev/ttyACM0), or --port sim for the virtual board")


@contextlib.contextmanager
def connect(port: str | None, board_id: str = "nano33_ble_sense", romfs_size: int | None = None, mic=None):
    """A Board at `port`; "sim" runs the virtual board on out/sim/flash for the duration
    (romfs_size: its ROMFS partition, default the board's stock one; mic: what its microphone
    hears, a WAV file or a folder of them)."""
    if mic is not None and port != "sim":
        raise TinymlError("--mic feeds the virtual board's microphone: use it with --port sim")
    if port == "sim":
        from .sim import VirtualBoard

        with VirtualBoard(SIM_FLASH, board=board_id, romfs_size=romfs_size, mic=mic) as vb, Board(vb.port) as b:
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
        # a launched program may still run, or its end was read in chunks with the prompt that
        # follows: the next command enters the raw REPL afresh (Ctrl-C first)
        self._resync = False
        self.program_error: str | None = None  # how the last launched program ended

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
        if soft_reset or not self._raw or self._resync:
            if self._raw:
                self.transport.exit_raw_repl()
            self.transport.enter_raw_repl(soft_reset=soft_reset)
            self._raw = True
            self._resync = False

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

    # --- a program that runs while the host reads what it prints (apps, recording) ----------

    def launch(self, code: str):
        """Soft reset, then start code on the board without waiting for it to end: read what it
        prints with output(), write to its stdin with send_input(), stop it with interrupt()
        or stop_program()."""
        self.program_error = None
        try:
            self._enter(True)
            self.transport.exec_raw_no_follow(code)
        except self._TransportError as e:
            raise TinymlError(f"board at {self.port} did not start the program: {e}") from None
        self._resync = True

    def output(self, poll_seconds: float = 1.0):
        """What the launched program prints, in chunks of bytes as they come; b"" when nothing
        came for poll_seconds, so the caller can check a stop flag, a deadline or a silence
        (and stop iterating whenever it likes). The iteration ends when the program does; then
        `program_error` is its traceback ("" when it ended without one). A port that fails
        (a board unplugged) raises TinymlError."""
        serial = self.transport.serial
        serial.timeout = poll_seconds
        part, error = 0, b""  # the raw REPL sends: output, \x04, the error's traceback, \x04
        try:
            while part < 2:
                try:
                    data = serial.read(serial.in_waiting or 1)
                except Exception as e:  # noqa: BLE001 - pyserial raises several types: unplugged, closed
                    raise TinymlError(f"board at {self.port}: serial port failed: {e}") from None
                out = b""
                for i, piece in enumerate(data.split(b"\x04")):
                    part += 1 if i else 0
                    if part == 0:
                        out += piece
                    elif part == 1:
                        error += piece
                yield out
        finally:
            if serial.is_open:
                serial.timeout = BOARD_READ_TIMEOUT
        self.program_error = error.decode(errors="replace").strip()

    def send_input(self, data: bytes):
        """Bytes to the running program's stdin (a command line for the app's telemetry)."""
        self.transport.serial.write(data)

    def interrupt(self):
        """Ctrl-C: a KeyboardInterrupt in the running program; output() then sees it end."""
        self.transport.serial.write(b"\x03")

    def stop_program(self, timeout: float = 10):
        """Interrupt the launched program and wait up to `timeout` seconds of silence for its
        end; what it printed since is dropped."""
        self.interrupt()
        try:
            self.transport.follow(timeout)
        except self._TransportError as e:
            raise TinymlError(f"board at {self.port} did not stop the program: {e}") from None

    def eval_repr(self, code: str, timeout: float = 60):
        """Run code that prints one Python literal; return it parsed."""
        import ast

        out = self.exec(code, timeout=timeout).strip().splitlines()
        if not out:
            raise TinymlError("board printed nothing")
        return ast.literal_eval(out[-1])

    def call(self, module: str, expression: str, timeout: float = 60):
        """The value of `expression` (a Python literal) evaluated on the board among the names
        of device module `module` ("tinyml.info"): the module's source from this checkout's
        device/lib runs first, so the board needs no copy of it, and an older one it holds
        does not answer instead."""
        path = DEVICE_LIB.joinpath(*module.split(".")).with_suffix(".py")
        return self.eval_repr(path.read_text() + f"\nprint(repr({expression}))\n", timeout=timeout)

    def info(self) -> dict:
        """The board, its firmware and _tinyml: tinyml.info.board()."""
        return self.call("tinyml.info", "board()")

    def hashes(self, paths: list[str]) -> dict:
        """sha256 hex of each board file, None for a missing one."""
        return self.call("tinyml.info", f"file_hashes({list(paths)!r})", timeout=120)

    def romfs(self) -> dict:
        """{"size": partition 0 bytes (None: no ROMFS in this firmware, 0: no partition), "mounted": bool}"""
        return self.call("tinyml.info", "romfs()")

    def romfs_sha256(self, n: int) -> str:
        """sha256 hex of the first n bytes of ROMFS partition 0, as the board reads them."""
        return self.call("tinyml.info", f"romfs_sha256({int(n)})", timeout=120)

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
