"""`tinyml monitor`: watch a board's telemetry (docs/telemetry.md) live, count frames received
and lost, optionally write them to CSV.

- frames.py: notifications -> rows (text and binary frames), lost and bad counts, CSV
- transports.py: the virtual board (`--port sim`), BLE (`--ble NAME`), USB serial (`--port PATH`)
- view.py: the live table and plot, the final report
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from .frames import FrameDecoder, LineAssembler, csv_header, write_csv  # noqa: F401
from .transports import (BleTransport, SerialTransport, SimTransport, Transport,  # noqa: F401
                         check_command, open_transport, read_sim_tx)
from .view import column_names, report  # noqa: F401

TICK = 0.05         # seconds between reads of what arrived
REDRAW = 0.25       # seconds between live redraws: plotting costs more than reading
RATE_WINDOW = 2.0   # seconds over which the live frames/s is measured


@dataclass
class Session:
    transport: Transport
    seconds: float                      # 0: until Ctrl-C
    frames: FrameDecoder = None
    started: float = 0.0                # time.monotonic() when streaming began
    elapsed: float = 0.0
    sent: list[str] = field(default_factory=list)
    interrupted: bool = False
    _counts: collections.deque = field(default_factory=collections.deque)

    def __post_init__(self):
        if self.frames is None:
            self.frames = FrameDecoder(stream=self.transport.stream)

    def tick(self, now: float):
        self.elapsed = now - self.started
        self._counts.append((now, self.frames.frames))
        while self._counts and now - self._counts[0][0] > RATE_WINDOW:
            self._counts.popleft()

    def rate(self) -> float:
        """Frames per second over the last RATE_WINDOW seconds."""
        if len(self._counts) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._counts[0], self._counts[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0


async def _watch(session: Session, commands: list[str], console, live: bool):
    transport = session.transport
    arrived = collections.deque()  # filled by the transport, from its thread or the loop
    if live:
        with console.status(f"connecting: {transport.label} ..."):
            await transport.start(arrived.append)
    else:
        await transport.start(arrived.append)
    session.started = time.monotonic()
    pending = list(commands)
    display = contextlib.nullcontext()
    if live:
        from rich.live import Live

        from .view import live as live_view

        def screen():
            return live_view(session, console.size.width, console.size.height)

        display = Live(screen(), console=console, auto_refresh=False, transient=True)
    try:
        with display:
            drawn = 0.0
            while True:
                await asyncio.sleep(TICK)
                while arrived:
                    session.frames.feed(arrived.popleft())
                now = time.monotonic()
                session.tick(now)
                # commands go once the board streams (it is listening), or halfway at the latest
                if pending and (session.frames.frames or session.elapsed > session.seconds / 2):
                    for command in pending:
                        await transport.send(command)
                        session.sent.append(command)
                    pending = []
                if live and now - drawn >= REDRAW:
                    display.update(screen(), refresh=True)
                    drawn = now
                if transport.finished or (session.seconds and session.elapsed >= session.seconds):
                    break
    finally:
        await transport.stop()
        while arrived:
            session.frames.feed(arrived.popleft())


def watch(transport: Transport, seconds: float, commands=(), csv_path: Path | None = None,
          live: bool | None = None, console=None) -> Session:
    """Stream from `transport` for `seconds` (0: until Ctrl-C), send `commands` once frames
    come, show the live view if `live` (default: when the console is a terminal), write CSV."""
    from .. import term

    commands = [check_command(c) for c in commands]
    console = console or term.console()
    if live is None:
        live = console.is_terminal
    session = Session(transport, seconds)
    try:
        asyncio.run(_watch(session, commands, console, live))
    except KeyboardInterrupt:
        session.interrupted = True
    if csv_path:
        write_csv(csv_path, session.frames.rows, column_names(session))
    return session


def monitor_sim(seconds: float, board_id: str, csv_path: Path | None, commands=(),
                flash: Path = Path("out/sim/flash"), model: Path = Path("models/sine.tmdl")) -> FrameDecoder:
    """Run the sine app with telemetry on the virtual board and listen as a BLE central;
    `commands` are written to the board's RX once frames come."""
    session = watch(SimTransport(board_id, flash=flash, model=model), seconds, commands, csv_path, live=False)
    return session.frames
