"""Telemetry frames back from notifications (docs/telemetry.md): text lines `seq,v1,...\\n`
split over notifications, binary frames (0xA5, seq uint16 LE, n, n float32 LE) one per
notification, `OK name` / `ERR reason` replies (those to `listening` kept apart), and the
gesture app's `CLASSES name0 name1 ...` line (its class names, by index). Frames lost are
counted from gaps in seq."""

from __future__ import annotations

import csv
import io
import struct
from pathlib import Path

from ..files import atomic_write

BINARY_MARK = 0xA5
MAX_VALUES = 4        # a binary frame is at most 20 bytes: 4 + 4 * 4
SEQ_WRAP = 1 << 16    # binary seq is a uint16


def is_listening_reply(text: str) -> bool:
    """The board's answer to the `listening` a BLE central sends at each connect: `OK listening`,
    or from a board older than the command, its parser's refusal, which quotes the line."""
    return text == "OK listening" or (text.startswith("ERR ") and "'listening'" in text)


class FrameDecoder:
    """Notifications in, rows `[seq, v1, ...]` out, with counts of frames lost and bad.

    `stream=True` is for a byte stream without notification boundaries (USB serial): text
    frames only. For binary frames the row's seq is unwrapped (65535 is followed by 65536, not
    0), so rows stay in order in a CSV."""

    def __init__(self, stream: bool = False):
        self.stream = stream
        self.pending = b""
        self.rows: list[list[float]] = []
        self.replies: list[str] = []             # the board's answers to our commands
        self.listening_replies: list[str] = []   # ...to the `listening` the transport sends
        self.class_names: tuple[str, ...] = ()   # from the board's last CLASSES line
        self.lost = 0
        self.bad = 0
        self._last_seq: int | None = None

    @property
    def frames(self) -> int:
        return len(self.rows)

    def feed(self, chunk: bytes):
        """One notification (or, with stream=True, any piece of the byte stream)."""
        chunk = bytes(chunk)
        if not self.stream and chunk[:1] == bytes([BINARY_MARK]):
            self._binary(chunk)  # no text line ever starts with 0xA5, nor continues with it
            return
        self.pending += chunk
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            self._line(line.decode(errors="replace").strip())

    def _line(self, text: str):
        if not text:
            return
        if text.startswith(("OK ", "ERR ")):
            if is_listening_reply(text):
                self.listening_replies.append(text)
            else:
                self.replies.append(text)
            return
        if text.startswith("CLASSES "):
            self.class_names = tuple(text.split()[1:])
            return
        try:
            seq, *values = text.split(",")
            seq_no, row = int(seq), [float(v) for v in values]
        except ValueError:
            self.bad += 1
            return
        if self._last_seq is not None and seq_no > self._last_seq + 1:
            self.lost += seq_no - self._last_seq - 1
        self._last_seq = seq_no  # a smaller seq: the board restarted, count from there
        self.rows.append([seq_no] + row)

    def _binary(self, data: bytes):
        n = data[3] if len(data) >= 4 else 0
        if not 1 <= n <= MAX_VALUES or len(data) != 4 + 4 * n:
            self.bad += 1
            return
        wire_seq = struct.unpack_from("<H", data, 1)[0]
        values = struct.unpack_from("<%df" % n, data, 4)
        if self._last_seq is None:
            seq = wire_seq
        else:
            step = (wire_seq - self._last_seq) % SEQ_WRAP
            if 0 < step < SEQ_WRAP // 2:
                self.lost += step - 1
                seq = self._last_seq + step
            else:
                seq = wire_seq  # a repeat or a jump back: the board restarted, count from there
        self._last_seq = seq
        self.rows.append([seq] + [float(v) for v in values])


# The name the first monitor used; rows, replies, lost and bad are the same.
LineAssembler = FrameDecoder


def csv_header(rows: list[list[float]], names: tuple[str, ...] = ()) -> list[str]:
    """`seq` and one column per value: `names` when the widest row has that many, else v1..vn."""
    width = max((len(r) - 1 for r in rows), default=len(names))
    if len(names) == width:
        return ["seq", *names]
    return ["seq"] + [f"v{i}" for i in range(1, width + 1)]


def write_csv(path: Path, rows: list[list[float]], names: tuple[str, ...] = ()) -> Path:
    """All rows to `path`, written to a temporary file beside it and renamed over it, so a
    reader never sees half a file; 9 significant digits keep a float32 exact."""
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(csv_header(rows, names))
    for row in rows:
        w.writerow([int(row[0])] + [f"{v:.9g}" for v in row[1:]])
    return atomic_write(path, text.getvalue())
