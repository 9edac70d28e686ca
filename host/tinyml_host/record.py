"""`tinyml record`: stream sensor samples (the IMU by default) from a board
(device/lib/tinyml/record.py, over the raw REPL on USB serial or the virtual board's pty) into a
dataset folder (dataset.py), one take at a time: a countdown, the take with a live plot and a
progress bar, the take written atomically. A take cut short (Ctrl-C, the board gone or silent)
keeps every sample that arrived and is marked incomplete. On the virtual board the IMU acts out
the gesture named by the label, when it knows one (virtual_board/tinyml_sim/gestures.py), as a
person would in front of a real board."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import dataset
from .errors import TinymlError
from .files import atomic_write

RATE_HZ = 50               # device/lib/tinyml/record.py RATE_HZ, the gesture app's rate
# what each of device/lib/tinyml/record.py's SENSORS gives, in the units of the tinyml.sensors API
# (its values are integers: centi-degrees C, centi-%RH, Pa; 0.1 uT), and the factor to the units
# a dataset stores; the IMU's factors come from its header (counts per g and per deg/s)
SENSORS = {
    "imu": {"channels": ("ax", "ay", "az", "gx", "gy", "gz"), "units": ("g", "g", "g", "deg/s", "deg/s", "deg/s")},
    "environment": {"channels": ("temperature", "humidity", "pressure"), "units": ("degC", "%RH", "hPa"),
                    "scale": (0.01, 0.01, 0.01)},
    "magnetometer": {"channels": ("mx", "my", "mz"), "units": ("uT", "uT", "uT"), "scale": (0.1, 0.1, 0.1)},
}
WINDOW = 50                # samples the gesture model sees at once (gesture.py)
SILENCE_S = 3.0            # no byte for this long during a take: the board is gone



def _progress(text: str) -> None:
    """A line of progress, folded to the terminal's width (term.py)."""
    from . import term

    term.say(text, indent="  ")


def sim_gestures() -> tuple[str, ...]:
    """The gestures the virtual board can act out (from its own motion model)."""
    from .virtual_board.tinyml_sim import gestures

    return tuple(gestures.GESTURES)


class _LineFeed:
    """Board output arriving in chunks, split into lines (CR stripped) for the stream's _line;
    an unfinished line waits in its _buf."""

    def feed(self, data: bytes):
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            self._line(line.rstrip(b"\r"))


@dataclass
class TakeStream(_LineFeed):
    """What arrived of one take: parses the board's lines, checks sequence numbers."""

    rate_hz: float = RATE_HZ
    header: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)    # raw counts: int16 x 6 (IMU), or the S line's values
    lost: int = 0
    late: int | None = None
    ended: bool = False
    other: list = field(default_factory=list)   # lines that were not ours (errors, reboot banners)
    _buf: bytes = b""

    def _line(self, line: bytes):
        values, digits = self.header.get("values", 6), self.header.get("digits", 4)
        if len(line) == 5 + values * digits and line[:1] == b"R":
            try:
                seq = int(line[1:5], 16)
                words = [int(line[5 + digits * i:5 + digits * (i + 1)], 16) for i in range(values)]
            except ValueError:
                self.other.append(line.decode(errors="replace"))
                return
            expected = len(self.rows) + self.lost
            self.lost += (seq - expected) & 0xFFFF
            sign = 1 << (4 * digits - 1)
            self.rows.append([w - 2 * sign if w & sign else w for w in words])
        elif line.startswith(b"H "):
            parts = line.decode(errors="replace").split()
            if len(parts) == 7:
                self.header = {"board": parts[1], "sensor": parts[2], "accel_lsb_per_g": float(parts[3]),
                               "gyro_lsb_per_dps": float(parts[4]), "rate_hz": int(parts[5]),
                               "expected_samples": int(parts[6])}
                self.rate_hz = self.header["rate_hz"]
        elif line.startswith(b"S "):
            parts = line.decode(errors="replace").split()
            if len(parts) == 8 and parts[2] in SENSORS and parts[7] in ("4", "8"):
                rate = float(parts[4])
                self.header = {"board": parts[1], "kind": parts[2], "sensor": parts[3],
                               "rate_hz": int(rate) if rate == int(rate) else rate,
                               "expected_samples": int(parts[5]), "values": int(parts[6]), "digits": int(parts[7])}
                self.rate_hz = self.header["rate_hz"]
            else:
                self.other.append(line.decode(errors="replace"))
        elif line.startswith(b"E "):
            self.late = int(line[2:].strip() or 0)
            self.ended = True
        elif line.strip():
            self.other.append(line.decode(errors="replace"))

    @property
    def kind(self) -> str:
        return self.header.get("kind", "imu")

    def physical(self) -> np.ndarray:
        """The samples in the dataset's units (SENSORS), float32 (samples, values)."""
        raw = np.array(self.rows, dtype=np.float64).reshape(-1, self.header.get("values", 6))
        if not self.header:
            return raw.astype(np.float32)
        if self.kind == "imu":
            scale = [1 / self.header["accel_lsb_per_g"]] * 3 + [1 / self.header["gyro_lsb_per_dps"]] * 3
        else:
            scale = SENSORS[self.kind]["scale"]
        return (raw * np.array(scale)).astype(np.float32)


# --- the microphone: prompted one-second clips, written as 16 kHz mono int16 WAV ---------------

CLIP_SECONDS = 1.0
CLIP_FORMAT = "tinyml-clip/1"


@dataclass
class ClipStream(_LineFeed):
    """What arrived of one clip (device/lib/tinyml/record.py record_clip): A header, R lines, E."""

    header: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)
    seq_gaps: int = 0
    lost: int | None = None
    ended: bool = False
    other: list = field(default_factory=list)
    _buf: bytes = b""

    def _line(self, line: bytes):
        per = self.header.get("per_line", 0)
        if per and line[:1] == b"R" and len(line) == 5 + 4 * per:
            try:
                seq = int(line[1:5], 16)
                words = [int(line[5 + 4 * i:9 + 4 * i], 16) for i in range(per)]
            except ValueError:
                self.other.append(line.decode(errors="replace"))
                return
            self.seq_gaps += (seq - len(self.samples) // per) & 0xFFFF
            self.samples.extend(w - 0x10000 if w & 0x8000 else w for w in words)
        elif line.startswith(b"A "):
            parts = line.decode(errors="replace").split()
            if len(parts) == 6:
                self.header = {"board": parts[1], "sensor": parts[2], "rate_hz": int(parts[3]),
                               "expected_samples": int(parts[4]), "per_line": int(parts[5])}
        elif line.startswith(b"E ") and self.header:
            self.lost = int(line[2:].strip() or 0)
            self.ended = True
        elif line.strip():
            self.other.append(line.decode(errors="replace"))

    def audio(self) -> np.ndarray:
        return np.array(self.samples[:self.header.get("expected_samples", len(self.samples))], dtype=np.int16)


def _clip_code(cue: int | None) -> str:
    code = ""
    if cue is not None:  # the virtual board only: the room plays file `cue` from now, as a person speaks
        code += f"from tinyml_sim import mic as simmic\nsimmic.cue({cue})\n"
    return code + f"from tinyml import record\nrecord.record_clip({CLIP_SECONDS!r})\n"


def record_clips(board, data_dir, label: str, count: int = 1, sim_files: int = 0, countdown: int = 3,
                 progress=_progress) -> list[Recorded]:
    """`tinyml record --sensor mic`: `count` prompted one-second clips from the board's microphone
    into data_dir/label as 16 kHz mono int16 WAV, each with its .json (dataset.py's layout, format
    tinyml-clip/1). sim_files: on the virtual board, how many --mic files it holds; clip k plays
    file k modulo that many at its prompt (0: the room stays as it is)."""
    dataset.check_label(label)
    if count < 1:
        raise TinymlError(f"--count must be at least 1, got {count}")
    written = []
    for k in range(count):
        path = dataset.new_take_name(data_dir, label)
        title = f"{label} clip {k + 1}/{count}"
        for left in range(countdown, 0, -1):
            progress(f"{title}: say {label!r} in {left} ...")
            time.sleep(1)
        progress(f"{title}: say {label!r} now")
        started = time.time()
        board.launch(_clip_code(k % sim_files if sim_files else None))
        stream = ClipStream()
        interrupted = None
        try:
            reason = _read_take(board, stream, lambda s: None, CLIP_SECONDS)
        except KeyboardInterrupt as e:
            interrupted, reason = e, "interrupted (Ctrl-C)"
            with contextlib.suppress(Exception):
                board.interrupt()
        if not stream.header and reason and reason.startswith("board error"):
            raise TinymlError(f"the board cannot record --sensor mic: {reason[len('board error: '):]}")
        clip = stream.audio()
        expected = stream.header.get("expected_samples", int(CLIP_SECONDS * 16000))
        lost = stream.lost if stream.lost is not None else 0
        meta = {"format": CLIP_FORMAT, "label": label, "kind": "mic", **{key: v for key, v in stream.header.items()
                                                                     if key not in ("per_line",)},
                "rate_hz": stream.header.get("rate_hz", 16000), "channels": 1, "sample_format": "int16",
                "samples": int(len(clip)), "file": path.with_suffix(".wav").name,
                "complete": reason is None and lost == 0 and stream.seq_gaps == 0 and len(clip) == expected,
                "reason": reason, "lost_blocks": lost, "lost_lines": stream.seq_gaps,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                "sim_cue": k % sim_files if sim_files else None}
        if not meta["complete"] and reason is None:
            meta["reason"] = (f"{lost} blocks lost by the capture" if lost else
                              f"{stream.seq_gaps} lines lost on the link" if stream.seq_gaps else "fewer samples than asked for")
        from .audio import write_wav

        write_wav(path.with_suffix(".wav"), clip, meta["rate_hz"])   # data first: a clip exists once its .json does
        atomic_write(path, json.dumps(meta, indent=1) + "\n")
        rec = Recorded(path.with_suffix(".wav"), len(clip), meta["complete"], lost, meta["reason"])
        written.append(rec)
        state = "complete" if rec.complete else f"INCOMPLETE ({rec.reason})"
        progress(f"{rec.path}: {rec.samples} samples at {meta['rate_hz']} Hz, {lost} blocks lost, {state}")
        if interrupted is not None:
            raise interrupted
        if not rec.complete:
            raise TinymlError(f"clip cut short, kept as incomplete in {rec.path}: {rec.reason}")
    return written


def _board_code(seconds: float, rate_hz: int | None, gesture: str | None, seed: int, sensor: str = "imu") -> str:
    code = ""
    if gesture:  # the virtual board only: its IMU fakes act the gesture out
        code += f"from tinyml_sim import devices as simdevices\nsimdevices.perform({gesture!r}, {seed})\n"
    return code + f"from tinyml import record\nrecord.stream({seconds!r}, {rate_hz!r}, {sensor!r})\n"


class Display:
    """Countdown, progress bar and live plot on a terminal; one line per take otherwise."""

    def __init__(self, live: bool):
        self.live = live
        self._live = None

    def countdown(self, text: str, seconds: int):
        for s in range(seconds, 0, -1):
            print(f"{text}: starting in {s} ...", flush=True)
            time.sleep(1)

    @contextlib.contextmanager
    def take(self, title: str, expected: int):
        if not self.live:
            yield lambda stream: None
            return
        from rich.live import Live

        self._title, self._expected = title, expected
        from . import term

        with Live(self._render(TakeStream()), console=term.console(), refresh_per_second=8, transient=True) as live:
            yield lambda stream: live.update(self._render(stream))

    def _render(self, stream: TakeStream):
        import plotext
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.text import Text

        n = len(stream.rows)
        data = stream.physical()[-int(2 * stream.rate_hz):]
        fig = plotext.figure
        fig.clear()
        fig.theme("dark")
        fig.plot_size(80, 14)
        if len(data) >= 2:
            x = list(range(len(data)))
            facts = SENSORS[stream.kind]
            for c, (name, unit) in enumerate(zip(facts["channels"], facts["units"])):
                if unit == "deg/s":  # beside accelerations of about 1 g
                    fig.draw(fig.signal(x, (data[:, c] / 100).tolist()).label(name + " 100 deg/s"))
                else:
                    fig.draw(fig.signal(x, data[:, c].tolist()).label(f"{name} {unit}"))
        seconds = n / stream.rate_hz
        expected = stream.header.get("expected_samples", self._expected)
        head = Text(f"{self._title}  {seconds:.1f} / {expected / stream.rate_hz:.1f} s  "
                    f"{n} samples, {stream.lost} lost", style="bold")
        return Group(head, ProgressBar(total=max(1, expected), completed=n, width=60),
                     Text.from_ansi(fig.build().string()))


def _read_take(board, stream: TakeStream, update, seconds: float) -> str | None:
    """Read the take's output until it ends; the reason it was cut short, or None."""
    last_byte = time.monotonic()
    shown = 0.0
    deadline = time.monotonic() + seconds + 30
    try:
        for data in board.output(poll_seconds=1.0):
            now = time.monotonic()
            if data:
                last_byte = now
                stream.feed(data)
            elif now - last_byte > SILENCE_S:
                return f"the board sent nothing for {SILENCE_S:g} s"
            if now > deadline:
                return "the take did not end in time"
            if now - shown > 0.12:
                update(stream)
                shown = now
    except TinymlError as e:  # the port failed: a board unplugged
        return f"board disconnected: {e}"
    if board.program_error:
        return "board error: " + board.program_error.splitlines()[-1]
    return None if stream.ended else "the board ended the take early"


def check_options(label: str, seconds: float, takes: int, gesture: str | None, sim: bool, sensor: str = "imu"):
    dataset.check_label(label)
    if sensor not in SENSORS:
        raise TinymlError(f"--sensor {sensor}: tinyml records {', '.join(SENSORS)}")
    if gesture and sensor != "imu":
        raise TinymlError(f"--gesture moves the virtual board's IMU; --sensor {sensor} records something else")
    if not 0 < seconds <= 600:
        raise TinymlError(f"--seconds must be in (0, 600], got {seconds:g}")
    if takes < 1:
        raise TinymlError(f"--takes must be at least 1, got {takes}")
    if gesture and not sim:
        raise TinymlError("--gesture is for the virtual board (--port sim): a real board records what you do")
    if gesture and gesture not in sim_gestures():
        raise TinymlError(f"the virtual board knows no gesture {gesture!r}; it knows {', '.join(sim_gestures())}")


@dataclass
class Recorded:
    path: Path
    samples: int
    complete: bool
    lost: int
    reason: str | None


def record_takes(board, data_dir, label: str, seconds: float = 2.0, takes: int = 1, gesture: str | None = None,
                 seed: int | None = None, sim: bool = False, countdown: int = 3, live: bool | None = None,
                 rate_hz: float | None = None, sensor: str = "imu", progress=_progress) -> list[Recorded]:
    """Record `takes` takes of `seconds` each of `sensor` (SENSORS) from `board` (board.Board)
    into data_dir/label, at rate_hz (None: RATE_HZ for the IMU, the sensor's own data rate for the
    others). gesture: what the virtual board acts out (sim=True only). Returns what was written; a
    take cut short is written too, then recording stops (KeyboardInterrupt re-raised, or a
    TinymlError). A board that cannot read the sensor at all is a TinymlError saying why, with
    nothing written."""
    check_options(label, seconds, takes, gesture, sim, sensor)
    if rate_hz is None and sensor == "imu":
        rate_hz = RATE_HZ
    display = Display(sys.stdout.isatty() if live is None else live)
    written = []
    for k in range(takes):
        path = dataset.new_take_name(data_dir, label)
        take_seed = seed + k if seed is not None else int(time.time() * 1000) % 1000003
        if countdown:
            display.countdown(f"{label} take {k + 1}/{takes}", countdown)
        board.launch(_board_code(seconds, rate_hz, gesture, take_seed, sensor))
        stream = TakeStream(rate_hz or RATE_HZ)
        started = time.time()
        interrupted = None
        expected = int(seconds * rate_hz) if rate_hz else 0   # else the board's header says
        try:
            with display.take(f"{label} take {k + 1}/{takes}", expected) as update:
                reason = _read_take(board, stream, update, seconds)
        except KeyboardInterrupt as e:
            interrupted = e
            reason = "interrupted (Ctrl-C)"
            with contextlib.suppress(Exception):
                board.interrupt()
        if not stream.header and not stream.rows and reason and reason.startswith("board error"):
            raise TinymlError(f"the board cannot record --sensor {sensor}: {reason[len('board error: '):]}")
        expected = stream.header.get("expected_samples", expected)
        facts = SENSORS[stream.kind]
        meta = {"label": label, "kind": stream.kind, "channels": list(facts["channels"]), "units": list(facts["units"]),
                **{k2: v for k2, v in stream.header.items() if k2 not in ("expected_samples", "values", "digits", "kind")},
                "rate_hz": stream.rate_hz, "window": WINDOW, "expected_samples": expected,
                "complete": reason is None and stream.lost == 0 and len(stream.rows) == expected,
                "reason": reason, "lost": stream.lost, "late": stream.late,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                "gesture": gesture, "seed": take_seed if gesture else None}
        if not meta["complete"] and reason is None:
            meta["reason"] = f"{stream.lost} samples lost" if stream.lost else "fewer samples than asked for"
        dataset.write_take(path, stream.physical(), meta)
        rec = Recorded(path, len(stream.rows), meta["complete"], stream.lost, meta["reason"])
        written.append(rec)
        state = "complete" if rec.complete else f"INCOMPLETE ({rec.reason})"
        progress(f"{path}: {rec.samples} samples at {stream.rate_hz} Hz, {rec.lost} lost, {state}")
        if interrupted is not None:
            raise interrupted
        if not rec.complete:
            raise TinymlError(f"take cut short, kept as incomplete in {path}: {rec.reason}")
    return written


# --- over a notification link: BLE, or the virtual board's simulated BLE link --------------

IMU_MARK = 0xA6       # device/lib/tinyml/record.py: a 15-byte binary IMU frame
IMU_FRAME = 15


class LinkStream:
    """Notifications from the record app: binary IMU frames (seq-checked, seq unwrapped) and
    its header text line; samples go to the take being recorded (`take`), if any."""

    def __init__(self):
        self.header: dict = {}
        self.take: TakeStream | None = None
        self.frames = 0
        self.last_seq: int | None = None
        self.last_time = time.monotonic()
        self._text = TakeStream()

    def feed(self, chunk: bytes):
        chunk = bytes(chunk)
        self.last_time = time.monotonic()
        if len(chunk) == IMU_FRAME and chunk[0] == IMU_MARK:
            seq = chunk[1] | chunk[2] << 8
            values = [int(v) for v in np.frombuffer(chunk[3:], "<i2")]
            gap = 0 if self.last_seq is None else (seq - self.last_seq - 1) & 0xFFFF
            self.last_seq = seq
            self.frames += 1
            if self.take is not None:
                if self.take.rows:  # a gap before the take's first frame is not the take's loss
                    self.take.lost += gap
                self.take.rows.append(values)
            return
        self._text.feed(chunk)   # the header line, replies: text
        if self._text.header:
            self.header = dict(self._text.header)
            if self.take is not None and not self.take.header:
                self.take.header = self.header
                self.take.rate_hz = self.header["rate_hz"]


def record_link(transport, data_dir, label: str, seconds: float = 2.0, takes: int = 1, countdown: int = 3,
                live: bool | None = None, switch: bool = True, gesture: str | None = None, seed: int | None = None,
                progress=_progress) -> list[Recorded]:
    """Record takes from the record app over `transport` (monitor.transports: BleTransport, or a
    SimTransport running the record app). switch: send `app record` first (a real board runs
    another app with telemetry). A BLE link may drop frames: they are counted as lost."""
    import asyncio

    check_options(label, seconds, takes, None, False)
    display = Display(sys.stdout.isatty() if live is None else live)
    link = LinkStream()
    written: list[Recorded] = []
    expected = int(seconds * RATE_HZ)

    def write(take: TakeStream, started: float, reason: str | None):
        meta = {"label": label, **{k: v for k, v in take.header.items() if k != "expected_samples"},
                "rate_hz": take.rate_hz, "window": WINDOW, "expected_samples": expected, "link": transport.label,
                "complete": reason is None and take.lost == 0 and len(take.rows) == expected,
                "reason": reason, "lost": take.lost, "late": None,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                "gesture": gesture, "seed": seed if gesture else None}
        if not meta["complete"] and reason is None:
            meta["reason"] = f"{take.lost} samples lost on the link"
        path = dataset.new_take_name(data_dir, label)
        dataset.write_take(path, take.physical(), meta)
        rec = Recorded(path, len(take.rows), meta["complete"], take.lost, meta["reason"])
        written.append(rec)
        state = "complete" if rec.complete else f"INCOMPLETE ({rec.reason})"
        progress(f"{path}: {rec.samples} samples at {take.rate_hz} Hz, {rec.lost} lost, {state}")
        return rec

    async def session(current):
        await transport.start(link.feed)
        try:
            if switch:
                await transport.send("app record")
            deadline = time.monotonic() + 10
            while not link.header:
                if transport.finished or time.monotonic() > deadline:
                    raise TinymlError(f"no IMU frames from {transport.label}: is the board running a tinyml "
                                      "app with telemetry (`app record` switches it to recording)?")
                await asyncio.sleep(0.05)
            for k in range(takes):
                title = f"{label} take {k + 1}/{takes}"
                for left in range(countdown, 0, -1):
                    print(f"{title}: starting in {left} ...", flush=True)
                    await asyncio.sleep(1)
                take = TakeStream(link.header["rate_hz"], header=dict(link.header))
                current["take"], current["started"] = take, time.time()
                link.take = take
                reason = None
                with display.take(title, expected) as update:
                    while len(take.rows) < expected:
                        await asyncio.sleep(0.05)
                        update(take)
                        if transport.finished:
                            reason = transport.error or "the link ended"
                            break
                        if time.monotonic() - link.last_time > SILENCE_S:
                            reason = f"the board sent nothing for {SILENCE_S:g} s"
                            break
                link.take = None
                del take.rows[expected:]
                current["take"] = None
                rec = write(take, current["started"], reason)
                if not rec.complete and reason:
                    raise TinymlError(f"take cut short, kept as incomplete in {rec.path}: {reason}")
        finally:
            await transport.stop()

    current = {"take": None, "started": 0.0}
    try:
        asyncio.run(session(current))
    except KeyboardInterrupt:
        if current["take"] is not None:
            write(current["take"], current["started"], "interrupted (Ctrl-C)")
        raise
    return written


def record_ble(target: str, data_dir, label: str, board_id: str = "nano33_ble_sense", gesture: str | None = None,
               seed: int | None = None, **options) -> list[Recorded]:
    """`tinyml record --ble NAME`; `--ble sim` is the virtual board's simulated BLE link, which
    acts out `gesture` (default: the label's) for all takes (seed: the first take's variation)."""
    from .monitor.transports import BleTransport, SimTransport

    if target == "sim":
        if gesture is None and label in sim_gestures():
            gesture = label
        check_options(label, options.get("seconds", 2.0), options.get("takes", 1), gesture, True)
        seed = 0 if seed is None else seed
        prelude = f"from tinyml_sim import devices as simdevices\nsimdevices.perform({gesture!r}, {seed})" if gesture else ""
        transport = SimTransport(board_id, app="record", prelude=prelude)
        return record_link(transport, data_dir, label, switch=False, gesture=gesture, seed=seed, **options)
    if gesture:
        raise TinymlError("--gesture is for the virtual board (--port sim or --ble sim)")
    return record_link(BleTransport(target), data_dir, label, **options)


def record(port: str | None, data_dir, label: str, board_id: str = "nano33_ble_sense", gesture: str | None = None,
           sensor: str = "imu", mic=None, count: int | None = None, **options) -> list[Recorded]:
    """`tinyml record`: connect (the virtual board gets tinyml deployed first), then record_takes.
    With --port sim the virtual board acts out `gesture`, else the gesture named by the label."""
    from .board import connect

    sim = port == "sim"
    if sensor == "mic":
        return _record_mic(port, data_dir, label, board_id, gesture, mic, count, options)
    if mic is not None or count is not None:
        raise TinymlError("--mic and --count are for --sensor mic")
    if sim and sensor == "imu" and gesture is None and label in sim_gestures():
        gesture = label
    check_options(label, options.get("seconds", 2.0), options.get("takes", 1), gesture, sim, sensor)
    with connect(port, board_id) as board:
        if sim:
            from . import deploy

            deploy.deploy(board, deploy.DEVICE, [], progress=lambda line: None)
        else:
            found = board.exec("try:\n import tinyml.record\n print('yes')\nexcept ImportError:\n print('no')\n")
            if "yes" not in found:
                raise TinymlError(f"the board at {board.port} has no tinyml.record: "
                                  f"copy tinyml with `tinyml deploy --port {board.port}`")
        if sim and gesture is None and sensor == "imu":
            print(f"the virtual board knows no gesture {label!r} (it knows {', '.join(sim_gestures())}): "
                  "it shows its default rocking; --gesture NAME picks one", file=sys.stderr)
        return record_takes(board, data_dir, label, gesture=gesture, sim=sim, sensor=sensor, **options)


def _record_mic(port, data_dir, label, board_id, gesture, mic, count, options) -> list[Recorded]:
    from .audio import mic_files
    from .board import connect

    dataset.check_label(label)
    if gesture:
        raise TinymlError("--gesture moves the virtual board's IMU; --sensor mic records sound")
    if mic is not None and port != "sim":
        raise TinymlError("--mic feeds the virtual board's microphone: use it with --port sim")
    takes = options.get("takes", 1)
    if count is not None and takes not in (1, count):
        raise TinymlError("give --count or --takes, not both")
    if options.get("seconds", 2.0) not in (2.0, CLIP_SECONDS):
        raise TinymlError(f"--sensor mic records clips of {CLIP_SECONDS:g} s; leave out --seconds")
    count = count if count is not None else takes
    with connect(port, board_id, mic=mic) as board:
        if port == "sim":
            from . import deploy

            deploy.deploy(board, deploy.DEVICE, [], progress=lambda line: None)
        else:
            found = board.exec("try:\n import tinyml.record\n print('yes')\nexcept ImportError:\n print('no')\n")
            if "yes" not in found:
                raise TinymlError(f"the board at {board.port} has no tinyml.record: "
                                  f"copy tinyml with `tinyml deploy --port {board.port}`")
        sim_files = len(mic_files(mic)) if port == "sim" and mic else 0
        return record_clips(board, data_dir, label, count=count, sim_files=sim_files,
                            countdown=options.get("countdown", 3))
