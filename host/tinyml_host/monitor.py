"""`tinyml monitor`: watch a board's telemetry, frames received and lost, optionally to CSV.

Transports: `--port sim` (the virtual board's simulated BLE link). BLE through bleak and
USB serial are issue 6.
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

from .errors import TinymlError


class LineAssembler:
    """NUS notifications (<= 20 bytes each) back into lines; counts frames and gaps in seq."""

    def __init__(self):
        self.pending = b""
        self.rows: list[list[float]] = []
        self.replies: list[str] = []
        self.lost = 0
        self.bad = 0
        self._last_seq = None

    def feed(self, chunk: bytes):
        self.pending += chunk
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            self._line(line.decode(errors="replace").strip())

    def _line(self, text: str):
        if text.startswith(("OK ", "ERR ")):
            self.replies.append(text)
            return
        try:
            seq, *values = text.split(",")
            seq_no, row = int(seq), [float(v) for v in values]
        except ValueError:
            self.bad += 1
            return
        if self._last_seq is not None and seq_no > self._last_seq + 1:
            self.lost += seq_no - self._last_seq - 1
        self._last_seq = seq_no
        self.rows.append([seq_no] + row)


def read_sim_tx(path: Path, offset: int) -> tuple[list[bytes], int]:
    """Notification records (length byte + payload) appended to the sim's ble_tx since offset."""
    if not path.exists():
        return [], offset
    data = path.read_bytes()[offset:]
    chunks, i = [], 0
    while i < len(data) and i + 1 + data[i] <= len(data):
        chunks.append(data[i + 1:i + 1 + data[i]])
        i += 1 + data[i]
    return chunks, offset + i


def monitor_sim(seconds: float, board_id: str, csv_path: Path | None, commands: list[str] = (),
                flash: Path = Path("out/sim/flash"), model: Path = Path("models/sine.tmdl")) -> LineAssembler:
    """Run the sine app with telemetry on the virtual board and listen as a BLE central;
    `commands` are written to the board's RX halfway through."""
    from . import deploy
    from .board import Board
    from .sim import VirtualBoard

    model = Path(model)
    if not model.exists():
        raise TinymlError(f"{model} not found: run `make demo` or `tinyml export` first")
    frames = LineAssembler()
    with VirtualBoard(flash, board=board_id) as vb:
        sim = Path(vb.sim_dir)
        for name in ("ble_tx", "ble_rx", "ble_central"):
            (sim / name).unlink(missing_ok=True)
        with Board(vb.port) as board:
            deploy.deploy(board, deploy.DEVICE, [model], progress=lambda line: None)
            (sim / "ble_central").touch()  # a central connects
            board.soft_reset()
            # the sine app itself, whatever config.APP says: only it streams telemetry
            board.transport.exec_raw_no_follow("from tinyml.apps import sine\nsine.run(telemetry=True)")
            offset = 0
            start = time.monotonic()
            pending_commands = list(commands)
            while time.monotonic() - start < seconds:
                time.sleep(0.05)
                if pending_commands and time.monotonic() - start > seconds / 2:
                    with open(sim / "ble_rx", "ab") as rx:
                        rx.write(pending_commands.pop(0).encode() + b"\n")
                chunks, offset = read_sim_tx(sim / "ble_tx", offset)
                for c in chunks:
                    frames.feed(c)
            (sim / "ble_central").unlink()  # disconnect, then stop the app
            board.transport.serial.write(b"\x03")
            board.transport.follow(10)
    if csv_path:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["seq", "x", "y", "duty"])
            w.writerows(frames.rows)
    return frames


def report(frames: LineAssembler, seconds: float):
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"telemetry, {seconds:g} s")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("frames received", str(len(frames.rows)))
    t.add_row("frames lost (gaps in seq)", str(frames.lost))
    t.add_row("unparsable lines", str(frames.bad))
    if frames.rows:
        last = frames.rows[-1]
        t.add_row("last frame (seq, x, y, duty)", ", ".join(f"{v:g}" for v in last))
    for reply in frames.replies:
        t.add_row("board replied", reply)
    Console().print(t)
