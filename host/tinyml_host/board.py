"""One connection API for every board, real or virtual, over mpremote's serial transport."""

from __future__ import annotations

from pathlib import Path

from .errors import TinymlError


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
            raise TinymlError(f"cannot open board at {port}: {e}") from None
        self.port = port
        self._raw = False

    def close(self):
        if self._raw:
            self.transport.exit_raw_repl()
            self._raw = False
        self.transport.close()

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

    def exec(self, code: str, soft_reset: bool = False, timeout: float = 60) -> str:
        """Run code on the board, return what it printed; a board exception is a TinymlError."""
        self._enter(soft_reset)
        out, err = self.transport.exec_raw(code, timeout=timeout)
        if err:
            raise TinymlError(f"board error: {err.decode(errors='replace').strip()}")
        return out.decode(errors="replace")

    def mkdir(self, path: str):
        self._enter(False)
        if not self.transport.fs_exists(path):
            self.transport.fs_mkdir(path)

    def put(self, local: Path | bytes, remote: str):
        """Write a file atomically: a temporary name first, then rename over the old one."""
        data = local if isinstance(local, bytes) else Path(local).read_bytes()
        self._enter(False)
        tmp = remote + ".part"
        try:
            self.transport.fs_writefile(tmp, data)
        except self._TransportError as e:
            raise TinymlError(f"writing {remote} failed: {e}") from None
        self.exec(f"import os\nos.rename({tmp!r}, {remote!r})")

    def put_tree(self, local_dir: Path, remote_dir: str = ""):
        """Copy a directory tree (device/ -> board root), creating folders as needed."""
        local_dir = Path(local_dir)
        for path in sorted(local_dir.rglob("*")):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(local_dir).as_posix()
            remote = f"{remote_dir}/{rel}" if remote_dir else rel
            if path.is_dir():
                self.mkdir(remote)
            else:
                self.put(path, remote)
