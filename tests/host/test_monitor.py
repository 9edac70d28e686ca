"""`tinyml monitor`: the frame decoder (text and binary frames, lost counted from seq), the BLE
transport against a fake of bleak's API, USB serial end to end against the virtual board
(device code in micropython, monitor in CPython), the real CLI on `--port sim`, the live view."""

import asyncio
import csv
import math
import os
import re
import struct
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import models
from tinyml_host import deploy, export, monitor, reference, tmdl
from tinyml_host.board import Board
from tinyml_host.errors import TinymlError
from tinyml_host.monitor import frames, transports, view
from tinyml_host.sim import VirtualBoard

ROOT = Path(__file__).resolve().parents[2]
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"


def text_frame(seq, values):
    return ("%d," % seq + ",".join("%.4g" % v for v in values) + "\n").encode()


def notifications(data, size=20):
    return [data[i:i + size] for i in range(0, len(data), size)]


def binary_frame(seq, values):
    return struct.pack("<BHB%df" % len(values), 0xA5, seq & 0xFFFF, len(values), *values)


def lost_between_kept(kept):
    """Frames missing between consecutive received seqs: what a receiver can know is lost."""
    return sum(b - a - 1 for a, b in zip(kept, kept[1:]))


# --- the decoder ---------------------------------------------------------------------------

def test_text_frames_split_over_notifications_with_lost_counted_from_seq_gaps():
    rng = np.random.default_rng(6)
    sent = list(range(1, 301))
    kept = [s for s in sent if rng.random() > 0.1]  # the board dropped about 10%
    stream = b""
    for s in kept:
        stream += text_frame(s, (s / 7, -s, 3))
        if s == 100:
            stream += b"OK rate\n"
        if s == 200:
            stream += b"ERR usage: led on|off\n" + b"not,a,frame\n"
    d = monitor.FrameDecoder()
    for n in notifications(stream):
        d.feed(n)
    assert [int(r[0]) for r in d.rows] == kept
    assert d.lost == lost_between_kept(kept) > 0
    assert d.replies == ["OK rate", "ERR usage: led on|off"]
    assert d.bad == 1
    np.testing.assert_allclose([r[1] for r in d.rows], [float("%.4g" % (s / 7)) for s in kept])
    assert monitor.LineAssembler is monitor.FrameDecoder  # the old name still works


def test_binary_frames_one_per_notification_with_seq_wrapping_at_65536():
    rng = np.random.default_rng(7)
    first = 65400
    sent = list(range(first, first + 400))  # the uint16 seq wraps at 65536
    kept = [s for s in sent if rng.random() > 0.15 or s in (65535, 65536)]
    kept = [s for s in kept if s != 65537]  # and a frame lost right after the wrap
    values = {s: np.float32([math.sin(s), s % 97, -1.5e-3 * s][: 1 + s % 3]) for s in kept}
    d = monitor.FrameDecoder()
    for s in kept:
        d.feed(binary_frame(s, values[s]))
        if s == 65500:
            for n in notifications(b"OK led\n"):
                d.feed(n)
    assert [int(r[0]) for r in d.rows] == kept  # unwrapped: 65535 is followed by 65536
    assert d.lost == lost_between_kept(kept) > 0
    for row, s in zip(d.rows, kept):
        assert row[1:] == [float(v) for v in values[s]]  # float32 exactly
    assert d.replies == ["OK led"] and d.bad == 0


def test_malformed_binary_notifications_count_as_bad_and_text_lines_survive_them():
    d = monitor.FrameDecoder()
    good = binary_frame(1, [1.0, 2.0])
    d.feed(good)
    bad = [good[:-1], good + b"\0", bytes([0xA5, 2, 0, 0]), bytes([0xA5, 3, 0, 5]) + bytes(20),
           bytes([0xA5]), bytes([0xA5, 4, 0, 1, 0, 0])]
    for n in bad:
        d.feed(n)
    d.feed(b"5,1.5,")         # half a text line, then a binary frame, then the rest of the line
    d.feed(binary_frame(6, [3.0]))
    d.feed(b"2.5\n")
    assert d.bad == len(bad)
    assert d.rows == [[1, 1.0, 2.0], [6, 3.0], [5, 1.5, 2.5]]
    assert d.lost == 4  # 2..5 missing when 6 comes; 5, late, then looks like a board restart


def test_a_seq_going_back_is_a_restart_not_65000_lost_frames():
    d = monitor.FrameDecoder()
    for s in (10, 11, 12, 1, 2, 4):
        d.feed(binary_frame(s, [0.0]))
    assert d.lost == 1
    t = monitor.FrameDecoder(stream=True)
    for s in (10, 11, 1, 3):
        t.feed(text_frame(s, [0]))
    assert t.lost == 1


def test_stream_mode_reads_text_lines_from_arbitrary_pieces(tmp_path):
    data = b"".join(text_frame(s, (s, 2 * s)) for s in range(1, 51)).replace(b"\n", b"\r\n")
    d = monitor.FrameDecoder(stream=True)
    rng = np.random.default_rng(1)
    i = 0
    while i < len(data):
        n = int(rng.integers(1, 40))
        d.feed(data[i:i + n])
        i += n
    assert [r[0] for r in d.rows] == list(range(1, 51)) and d.lost == 0 and d.bad == 0


def test_csv_is_written_whole_with_a_header_from_the_series_count(tmp_path):
    rows = [[1, 0.1, 2.0], [2, float(np.float32(0.1)), 3.0]]
    path = tmp_path / "sub" / "t.csv"
    monitor.write_csv(path, rows, ("x", "y"))
    assert list(csv.reader(open(path))) == [["seq", "x", "y"], ["1", "0.1", "2"], ["2", "0.100000001", "3"]]
    assert float(np.float32(float("0.100000001"))) == rows[1][1]  # 9 digits keep a float32 exact
    monitor.write_csv(path, rows + [[3, 1.0, 2.0, 3.0]], ("x", "y"))  # names no longer fit
    assert next(csv.reader(open(path))) == ["seq", "v1", "v2", "v3"]
    assert os.listdir(path.parent) == ["t.csv"]  # the temporary file was renamed, none left


# --- BLE through a fake of bleak's API --------------------------------------------------------

class FakeBLEDevice:
    def __init__(self, name, address):
        self.name, self.address = name, address


class FakeCharacteristic:
    def __init__(self, uuid, properties):
        self.uuid, self.properties = uuid, properties


class FakeServices:
    def get_characteristic(self, uuid):
        props = {NUS_TX: ["notify"], NUS_RX: ["write", "write-without-response"]}.get(uuid.upper())
        return FakeCharacteristic(uuid, props) if props else None


class FakeBoard:
    """A board running the sine app with NUS: streams frames every `period` s while a central
    is connected; counts seq on while nobody is, as the device's telemetry does."""

    def __init__(self, name="tinyml-sine", address="D4:CA:6E:11:22:33", period=0.01):
        self.device = FakeBLEDevice(name, address)
        self.period = period
        self.seq = 0
        self.writes = []            # (uuid, data, response)
        self.connections = 0
        self.drop_link_at = set()   # seqs after which the radio link is lost
        self.dropped_while_away = 5
        self.replies = []


def fake_bleak(board: FakeBoard):
    """A module with the parts of bleak that the monitor uses, with bleak's signatures."""

    class BleakScanner:
        calls = []

        @classmethod
        async def find_device_by_name(cls, name, timeout=10.0, **kwargs):
            cls.calls.append(("name", name, timeout))
            await asyncio.sleep(0)
            return board.device if name == board.device.name else None

        @classmethod
        async def find_device_by_address(cls, device_identifier, timeout=10.0, **kwargs):
            cls.calls.append(("address", device_identifier, timeout))
            await asyncio.sleep(0)
            return board.device if device_identifier.upper() == board.device.address else None

    class BleakClient:
        def __init__(self, address_or_ble_device, disconnected_callback=None, services=None, **kwargs):
            assert address_or_ble_device is board.device
            self._callback = disconnected_callback
            self._connected = False
            self._task = None
            self.services = FakeServices()

        @property
        def is_connected(self):
            return self._connected

        async def __aenter__(self):
            await asyncio.sleep(0)
            self._connected = True
            board.connections += 1
            return self

        async def __aexit__(self, *exc):
            await self.disconnect()

        async def disconnect(self):
            if self._connected:
                self._lost()

        def _lost(self):
            self._connected = False
            if self._task and self._task is not asyncio.current_task():
                self._task.cancel()
            if self._callback:
                self._callback(self)   # bleak calls it with the client, for any disconnect

        async def start_notify(self, char_specifier, callback, **kwargs):
            assert char_specifier.upper() == NUS_TX and self._connected
            board.writes.append(("start_notify", char_specifier))
            self._task = asyncio.create_task(self._stream(callback))

        async def _stream(self, callback):
            while self._connected:
                await asyncio.sleep(board.period)
                board.seq += 1
                data = text_frame(board.seq, (board.seq / 64, math.sin(board.seq / 64)))
                while board.replies:
                    data += board.replies.pop(0)
                for n in notifications(data):
                    callback(FakeCharacteristic(NUS_TX, ["notify"]), bytearray(n))
                if board.seq in board.drop_link_at:
                    board.seq += board.dropped_while_away  # frames the board dropped, nobody listening
                    self._lost()
                    return

        async def write_gatt_char(self, char_specifier, data, response=None):
            assert self._connected and char_specifier.upper() == NUS_RX
            board.writes.append((char_specifier, bytes(data), response))
            name = bytes(data).split()[0].decode()
            board.replies.append(b"OK %s\n" % name.encode())

    module = types.ModuleType("bleak")
    module.BleakScanner, module.BleakClient = BleakScanner, BleakClient
    return module


@pytest.fixture
def board(monkeypatch):
    b = FakeBoard()
    monkeypatch.setitem(sys.modules, "bleak", fake_bleak(b))
    monkeypatch.setattr(transports, "RECONNECT_DELAY", 0.05)
    return b


def test_ble_streams_notifications_and_a_command_reaches_the_board(board):
    t = monitor.open_transport(ble="tinyml-sine")
    session = monitor.watch(t, 0.8, ["led off"], live=False)
    assert sys.modules["bleak"].BleakScanner.calls == [("name", "tinyml-sine", 10.0)]
    seqs = [int(r[0]) for r in session.frames.rows]
    assert len(seqs) >= 10 and seqs == list(range(1, len(seqs) + 1))
    assert session.frames.lost == 0 and session.frames.bad == 0
    # notifications enabled, then `listening` (docs/telemetry.md), then the command; RX allows
    # write with response
    assert board.writes == [("start_notify", NUS_TX), (NUS_RX, b"listening\n", True), (NUS_RX, b"led off\n", True)]
    assert session.frames.replies == ["OK led"]                     # the user's command's
    assert session.frames.listening_replies == ["OK listening"]
    assert board.connections == 1 and not t.finished and t.error is None
    assert "D4:CA:6E:11:22:33" in t.label


def test_ble_by_address(board):
    t = monitor.open_transport(ble="d4:ca:6e:11:22:33", scan_timeout=3)
    session = monitor.watch(t, 0.3, live=False)
    assert sys.modules["bleak"].BleakScanner.calls == [("address", "d4:ca:6e:11:22:33", 3)]
    assert session.frames.frames > 0


def test_ble_device_not_found_names_what_was_looked_for(board):
    with pytest.raises(TinymlError, match="no BLE device with name 'nano-kitchen' found in 10 s"):
        monitor.watch(monitor.open_transport(ble="nano-kitchen"), 1, live=False)


def test_ble_scan_failure_is_one_clear_error(board, monkeypatch):
    async def no_adapter(cls, name, timeout=10.0, **kwargs):
        raise FileNotFoundError(2, "No such file or directory")  # what bleak gives without BlueZ

    monkeypatch.setattr(sys.modules["bleak"].BleakScanner, "find_device_by_name", classmethod(no_adapter))
    with pytest.raises(TinymlError, match="BLE scan for 'tinyml-sine' failed: .*is Bluetooth on"):
        monitor.watch(monitor.open_transport(ble="tinyml-sine"), 1, live=False)


def test_ble_disconnect_mid_stream_ends_the_watch_and_is_reported(board):
    board.drop_link_at = {15}
    t = monitor.open_transport(ble="tinyml-sine")
    started = time.monotonic()
    session = monitor.watch(t, 10, live=False)
    assert time.monotonic() - started < 5  # ended at the disconnect, not after 10 s
    assert [int(r[0]) for r in session.frames.rows] == list(range(1, 16))
    assert t.finished and "disconnected" in t.error
    assert [text for _, text in t.events] == ["disconnected"]
    console = Console(record=True, width=100)
    view.report(session, console)
    assert "disconnected" in console.export_text()


def test_ble_reconnects_and_counts_what_the_board_dropped_meanwhile(board):
    board.drop_link_at = {10, 25}
    t = monitor.open_transport(ble="tinyml-sine", reconnect=True)
    session = monitor.watch(t, 1.2, live=False)
    assert board.connections == 3
    assert [text for _, text in t.events] == ["disconnected, reconnecting", "reconnected"] * 2
    # every connection subscribes and says `listening` again
    assert board.writes == [("start_notify", NUS_TX), (NUS_RX, b"listening\n", True)] * 3
    seqs = [int(r[0]) for r in session.frames.rows]
    assert seqs[:10] == list(range(1, 11)) and seqs[10] == 10 + board.dropped_while_away + 1
    assert session.frames.lost == 2 * board.dropped_while_away == lost_between_kept(seqs)
    assert not t.finished and t.error is None


def test_the_reply_to_listening_is_kept_apart_from_the_users_replies():
    # a board older than the command refuses it with its parser's message (one word where it
    # expects two), which quotes the line; the user's own replies are unchanged
    decoder = frames.FrameDecoder()
    for line in (b"OK listening\n", b"ERR expected 'name argument', got 'listening'\n", b"OK led\n",
                 b"ERR usage: led on|off\n", b"ERR unknown command 'listen'; known: app, led, listening, rate\n"):
        decoder.feed(line)
    assert decoder.listening_replies == ["OK listening", "ERR expected 'name argument', got 'listening'"]
    assert decoder.replies == ["OK led", "ERR usage: led on|off",
                               "ERR unknown command 'listen'; known: app, led, listening, rate"]


def test_commands_must_be_one_printable_line():
    for bad in ("led off\n", "\x03", ""):
        with pytest.raises(TinymlError, match="printable"):
            monitor.watch(monitor.open_transport(ble="x"), 1, [bad], live=False)


# --- USB serial, end to end against the virtual board -----------------------------------------

@pytest.fixture(scope="module")
def sine_model():
    return export.convert(models.sine_tflite())


def sine_period_ms() -> int:
    """The period of the sine app's frames: its inference period, or with telemetry at most
    telemetry's frame_rate_hz setting (the sweep then steps at that rate)."""
    source = (ROOT / "device" / "lib" / "tinyml" / "apps" / "sine.py").read_text()
    period = int(re.search(r"^PERIOD_MS = (\d+)", source, re.M).group(1))
    settings = (ROOT / "device" / "lib" / "tinyml" / "telemetry" / "__init__.py").read_text()
    rate = int(re.search(r'"frame_rate_hz": (\d+)', settings).group(1))
    return max(period, 1000 // rate)


def test_serial_runs_the_app_through_the_repl_and_reads_its_lines(tmp_path, sine_model):
    model_path = tmp_path / "sine.tmdl"
    model_path.write_bytes(tmdl.encode(sine_model))
    with VirtualBoard(tmp_path / "flash", board="nano33_ble_sense") as vb:
        with Board(vb.port) as b:
            deploy.deploy(b, deploy.DEVICE, [], progress=lambda line: None)
        # no model on the board yet: the app fails, and the monitor says why
        t = monitor.open_transport(vb.port)
        session = monitor.watch(t, 10, live=False)
        assert t.finished and "sine.tmdl" in t.error and session.elapsed < 8
        with Board(vb.port) as b:
            deploy.deploy(b, deploy.DEVICE, [model_path], progress=lambda line: None)
        t = monitor.open_transport(vb.port)
        csv_path = tmp_path / "serial.csv"
        session = monitor.watch(t, 3, ["rate 25", "led blue"], csv_path, live=False)
        with Board(vb.port) as b:  # the app was stopped and the board answers again
            assert b.exec("print(6 * 7)").strip() == "42"
    f = session.frames
    assert t.error is None and not t.finished
    assert f.frames >= 25 and f.lost == 0 and f.bad == 0
    assert f.replies == ["OK rate", "ERR usage: led on|off"]
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == f.frames and [int(r["seq"]) for r in rows] == list(range(1, f.frames + 1))
    seq = np.array([int(r["seq"]) for r in rows])
    x = 2 * np.pi * ((seq - 1) % 64) / 64
    np.testing.assert_allclose([float(r["x"]) for r in rows], x, atol=1e-3)
    np.testing.assert_allclose([float(r["y"]) for r in rows], reference.predict(sine_model, x).reshape(-1),
                               rtol=5e-4, atol=5e-5)


def test_sim_monitor_follows_an_app_switch_on_the_same_link(tmp_path, sine_model):
    """`app motion` from the monitor: the board answers OK and the motion app's frames
    (seq, p_moving, duty) follow the sine app's on the same link, with seq counting on."""
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(sine_model))
    (tmp_path / "motion.tmdl").write_bytes(tmdl.encode(export.convert(models.motion_tflite())))
    f = monitor.monitor_sim(5, "nano33_ble_sense", None, commands=["app motion"], flash=tmp_path / "flash",
                            model=tmp_path / "sine.tmdl")
    assert f.replies == ["OK app"] and f.lost == 0 and f.bad == 0
    widths = [len(r) for r in f.rows]
    first_motion = widths.index(3)                      # seq + 2 values
    assert first_motion >= 1 and all(w == 4 for w in widths[:first_motion])
    assert len(widths) - first_motion >= 5 and all(w == 3 for w in widths[first_motion:])
    assert all(0 <= r[1] <= 1 for r in f.rows[first_motion:])


# --- the CLI, as CI runs it --------------------------------------------------------------------

def test_cli_monitor_port_sim_five_seconds_to_csv(tmp_path, sine_model):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sine.tmdl").write_bytes(tmdl.encode(sine_model))
    tinyml = Path(sys.executable).parent / "tinyml"
    proc = subprocess.run([str(tinyml), "monitor", "--port", "sim", "--seconds", "5", "--csv", "out.csv"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    received = int(re.search(r"frames received\s*│\s*(\d+)", proc.stdout).group(1))
    lost = int(re.search(r"frames lost[^│]*│\s*(\d+)", proc.stdout).group(1))
    rows = list(csv.reader(open(tmp_path / "out.csv")))
    assert rows[0] == ["seq", "x", "y", "duty"] and len(rows) - 1 == received
    assert lost == 0
    # the sine app's default rate, over 5 s; a loaded CI machine still gets well over a third
    assert received > 5 * 1000 / sine_period_ms() / 3
    assert "\x1b[" not in proc.stdout  # not a terminal: no live view, no escape codes in CI logs


# --- the live view -----------------------------------------------------------------------------

class FakeTransport(monitor.Transport):
    label = "fake"
    names = ("x", "y", "duty")

    async def start(self, sink):
        self._task = asyncio.create_task(self._stream(sink))

    async def _stream(self, sink):
        # 100 frames as fast as the loop turns, then quiet: the counts do not depend on how
        # busy the machine is (a sleep per frame gave 9 frames in 0.8 s on a loaded one)
        seq = 0
        while seq < 100:
            await asyncio.sleep(0)
            seq += 1 + (seq == 30)  # one frame lost
            x = 2 * math.pi * (seq % 64) / 64
            for n in notifications(text_frame(seq, (x, math.sin(x), (math.sin(x) + 1) * 32767))):
                sink(n)
        await asyncio.Event().wait()

    async def send(self, line):
        pass

    async def stop(self):
        self._task.cancel()


def test_live_view_renders_counters_and_plot_in_80_by_24():
    console = Console(record=True, width=80, height=24, force_terminal=True, color_system="truecolor")
    session = monitor.watch(FakeTransport(), 0.8, console=console, live=True)
    assert session.frames.frames > 20 and session.frames.lost == 1
    screen = Console(record=True, width=80)
    screen.print(view.live(session, 80, 24))
    text = screen.export_text()
    assert len(text.splitlines()) <= 24
    for word in ("frames", "lost", "bad", "frames/s", f"seq {int(session.frames.rows[-1][0])}", "duty"):
        assert word in text
    assert re.search(r"│\s+%d\s+│\s+1\s+│\s+0\s+│" % session.frames.frames, text)
    assert "┤" in text  # the plot's axis
    assert "frames" in console.export_text()  # what Live drew while it ran
