"""Where telemetry comes from: the virtual board's simulated BLE link, a real board over BLE
(bleak) or over USB serial. One small asyncio interface, so bleak runs in its own loop:

    await t.start(sink)    # connect and stream; sink(bytes) gets each notification
    await t.send(line)     # one RX command, without its newline
    await t.stop()         # disconnect, stop the board's app if we started it
    t.events               # [(time.monotonic(), text)]: disconnects, reconnects, board errors
    t.finished, t.error    # the link ended early for good; why, when that is a failure
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import threading
import time
from pathlib import Path
from typing import Callable

from ..errors import TinymlError

NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"   # central writes commands here
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"   # board notifies frames here
NOTIFY_BYTES = 20                                  # BLE default MTU 23 minus 3
SINE_NAMES = ("x", "y", "duty")                    # what the sine app sends after seq
GESTURE_NAMES = ("class", "score")                 # what the gesture and kws apps send after seq
APP_NAMES = {"sine": SINE_NAMES, "gesture": GESTURE_NAMES, "kws": GESTURE_NAMES,
             "record": ("ax", "ay", "az", "gx", "gy", "gz")}
APP_MODELS = {"sine": Path("models/sine.tmdl"), "gesture": Path("models/gesture.tmdl"), "kws": Path("models/kws.tmdl"),
              "record": None}
RECONNECT_DELAY = 1.0                              # seconds between BLE reconnect attempts
# written to RX right after enabling notifications, at every connect: the board then knows we
# listen, which NimBLE (ESP32, Pico W's NimBLE builds) does not report (docs/telemetry.md)
LISTENING_COMMAND = "listening"

Sink = Callable[[bytes], None]


def check_command(line: str) -> str:
    """A command is one printable line: a control character (Ctrl-C on serial) would do
    something else than the board's command parser expects."""
    if not line or any(not (32 <= ord(c) < 127) for c in line):
        raise TinymlError(f"command {line!r} is not one line of printable ASCII")
    return line


class Transport:
    label = "?"
    stream = False      # a byte stream without notification boundaries: text frames only
    names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()   # the gesture app's classes, by index (`--classes`)

    def __init__(self):
        self.events: list[tuple[float, str]] = []
        self.finished = False
        self.error: str | None = None
        self.duty: dict | None = None   # the board's time awake and asleep, where it can tell

    def _event(self, text: str):
        self.events.append((time.monotonic(), text))

    async def start(self, sink: Sink):
        raise NotImplementedError

    async def send(self, line: str):
        raise NotImplementedError

    async def stop(self):
        raise NotImplementedError


# --- the virtual board ---------------------------------------------------------------------

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


def read_sleep_trace(path: Path) -> dict | None:
    """The virtual board's waits between inferences (device/lib/tinyml/hal/_sim.py sleep.trace):
    the time from the first wait's start to the last one's end, how much of it asleep, and which
    wait; None before any wait."""
    if not path.exists():
        return None
    data = path.read_bytes()
    records = [struct.unpack_from("<III", data, i) for i in range(0, len(data) - len(data) % 12, 12)]
    if not records:
        return None
    start = records[0][0]
    # ticks_ms wrap at 2**30 on the unix port; a session is far shorter than that
    end = max((t + slept - start) % (1 << 30) for t, slept, _ in records)
    asleep = sum(slept for _, slept, _ in records)
    return {"span_ms": end, "asleep_ms": asleep, "awake_ms": max(0, end - asleep), "wakeups": len(records),
            "wait": "lightsleep" if records[-1][2] else "idle"}


class SimTransport(Transport):
    """The sine app (or `app`) with telemetry on the virtual board; we are the BLE central of
    its simulated link (files in the sim dir, see device/lib/tinyml/telemetry/_sim.py)."""

    names = SINE_NAMES

    def __init__(self, board_id: str, flash: Path = Path("out/sim/flash"),
                 model: Path | None = None, app: str = "sine", prelude: str = "", mic=None):
        super().__init__()
        self.app = app
        self.names = APP_NAMES[app]
        model = APP_MODELS[app] if model is None else model
        self.board_id, self.flash = board_id, Path(flash)
        self.model = Path(model) if model is not None else None  # the record app needs none
        self.prelude = prelude  # board code run before the app (tinyml record: the gesture to act)
        self.mic = mic          # what the virtual board's microphone hears (--mic)
        self.label = f"virtual {board_id}, simulated BLE link"
        self._stack = contextlib.ExitStack()
        self._offset = 0
        self._pump_task = None

    def _start(self):
        from .. import deploy
        from ..board import Board
        from ..sim import VirtualBoard

        if self.model is not None and not self.model.exists():
            raise TinymlError(f"{self.model} not found: run `make demo` or `tinyml export` first")
        try:
            vb = self._stack.enter_context(VirtualBoard(self.flash, board=self.board_id, mic=self.mic))
            self.sim = Path(vb.sim_dir)
            for name in ("ble_tx", "ble_rx", "ble_central", "sleep.trace"):
                (self.sim / name).unlink(missing_ok=True)
            self.board = self._stack.enter_context(Board(vb.port))
            # the motion model too when it was trained, so that `app motion` can switch to it
            models = []
            if self.model is not None:
                motion = self.model.parent / "motion.tmdl"
                models = [self.model] + ([motion] if motion.exists() and motion != self.model else [])
                classes = self.model.with_suffix(".classes")  # the gesture app's class names
                models += [classes] if classes.exists() else []
            deploy.deploy(self.board, deploy.DEVICE, models, progress=lambda line: None)
            (self.sim / "ble_central").touch()  # a central connects
            # the sine app (or --app), whatever config.APP says; `app NAME` switches on the same link
            self.board.launch(f"{self.prelude}\nfrom tinyml import apps\napps.run({self.app!r}, telemetry=True)")
        except BaseException:
            self._stack.close()
            raise

    async def start(self, sink: Sink):
        self._sink = sink
        await asyncio.to_thread(self._start)
        self._pump_task = asyncio.create_task(self._pump())

    def _read(self):
        chunks, self._offset = read_sim_tx(self.sim / "ble_tx", self._offset)
        for c in chunks:
            self._sink(c)

    async def _pump(self):
        while True:
            await asyncio.sleep(0.05)
            self._read()

    async def send(self, line: str):
        with open(self.sim / "ble_rx", "ab") as rx:
            rx.write(check_command(line).encode() + b"\n")

    def _stop(self):
        try:
            self._read()
            self.duty = read_sleep_trace(self.sim / "sleep.trace")
            (self.sim / "ble_central").unlink(missing_ok=True)  # disconnect, then stop the app
            self.board.stop_program(10)
        finally:
            self._stack.close()

    async def stop(self):
        if self._pump_task:
            self._pump_task.cancel()
            self._pump_task = None
            await asyncio.to_thread(self._stop)


# --- USB serial: the board's raw REPL ------------------------------------------------------

def serial_app(app: str) -> str:
    """Board code: `app` with its telemetry on the REPL's serial line (tinyml.telemetry's
    serial link: text lines on stdout, commands from stdin), once its model is known to be
    there; `app motion` then switches apps on the same link."""
    return f"from tinyml import apps\napps.run(apps.switchable({app!r}), telemetry='serial')\n"


class SerialTransport(Transport):
    """A board on a serial port (or the virtual board's pty): soft reset, run the sine app
    through the raw REPL with telemetry on stdout, read its lines; Ctrl-C at the end."""

    stream = True
    names = SINE_NAMES

    def __init__(self, port: str, app: str = "sine"):
        super().__init__()
        self.app = app
        self.names = APP_NAMES[app]
        self.port = port
        self.label = f"USB serial {port}"
        self.board = None
        self._reader = None
        self._stopping = threading.Event()
        self._failure = ""

    def _start(self):
        from ..board import Board

        self.board = Board(self.port)
        try:
            self.board.launch(serial_app(self.app))
        except TinymlError as e:
            self.board.close()
            self.board = None
            raise TinymlError(f"board at {self.port} did not start the app: {e}") from None

    async def start(self, sink: Sink):
        await asyncio.to_thread(self._start)
        self._reader = threading.Thread(target=self._read, args=(sink,), name="tinyml-monitor-serial",
                                        daemon=True)
        self._reader.start()

    def _read(self, sink: Sink):
        """The app's output to the sink until it ends, or until stop() (then at most 5 s more)."""
        error = None
        give_up = None
        try:
            for chunk in self.board.output(poll_seconds=1.0):
                if chunk:
                    sink(chunk)
                if self._stopping.is_set():
                    give_up = give_up or time.monotonic() + 5
                    if time.monotonic() > give_up:
                        return
            error = self.board.program_error
        except TinymlError as e:
            self._failure = str(e)
        if self._stopping.is_set() and (not error or error.endswith("KeyboardInterrupt:")):
            return  # the Ctrl-C we sent
        self.finished = True
        last = error.splitlines()[-1] if error else ""  # a traceback's last line names the error
        self.error = self._failure or (f"the app on the board stopped: {last}" if last
                                       else "the app on the board ended")
        self._event(self.error)

    async def send(self, line: str):
        if self.board and not self.finished:
            self.board.send_input(check_command(line).encode() + b"\n")

    def _stop(self):
        self._stopping.set()
        try:
            if not self.finished:
                self.board.interrupt()
        except Exception:  # noqa: BLE001 - the port may already be gone; closing is all that is left
            pass
        if self._reader:
            self._reader.join(timeout=8)
        try:
            self.board.close()
        except Exception:  # noqa: BLE001
            pass
        self.board = None

    async def stop(self):
        if self.board:
            await asyncio.to_thread(self._stop)


# --- BLE through bleak -----------------------------------------------------------------------

_ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$"           # Linux, Windows
                      r"|^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")  # macOS


def is_address(target: str) -> bool:
    return bool(_ADDRESS.match(target))


def load_bleak():
    try:
        import bleak
    except ImportError:
        raise TinymlError("BLE needs bleak: `make setup` installs it (pip install bleak)") from None
    return bleak


class BleTransport(Transport):
    """A board's NUS as a BLE central: notifications from TX, commands written to RX. A
    disconnect is reported; with reconnect=True we connect again until stop().

    `bleak`: what provides BleakScanner and BleakClient, the bleak package by default; the
    tests pass a bleak-compatible central on Bumble's virtual controllers (tests/bumble_bleak.py),
    where bleak itself would need BlueZ."""

    def __init__(self, target: str, reconnect: bool = False, scan_timeout: float = 10.0, bleak=None):
        super().__init__()
        self.target, self.reconnect, self.scan_timeout = target, reconnect, scan_timeout
        self._bleak = bleak
        self.label = f"BLE {target}"
        self.client = None
        self._task = None
        self._stopping = False

    async def start(self, sink: Sink):
        bleak = self._bleak = self._bleak or load_bleak()
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        scanner = bleak.BleakScanner
        try:
            if is_address(self.target):
                device = await scanner.find_device_by_address(self.target, timeout=self.scan_timeout)
            else:
                device = await scanner.find_device_by_name(self.target, timeout=self.scan_timeout)
        except Exception as e:  # noqa: BLE001 - no adapter, no BlueZ, no permission: per OS
            raise TinymlError(f"BLE scan for {self.target!r} failed: {e or type(e).__name__}; is Bluetooth "
                              "on (Linux: an adapter and BlueZ's bluetoothd running)?") from None
        if device is None:
            kind = "address" if is_address(self.target) else "name"
            raise TinymlError(f"no BLE device with {kind} {self.target!r} found in {self.scan_timeout:g} s: "
                              "is the board running an app with telemetry, in range, and not "
                              "connected to another central (a phone)?")
        self.device = device
        self.label = f"BLE {getattr(device, 'name', None) or self.target} ({getattr(device, 'address', '?')})"
        connected = self._loop.create_future()
        self._task = asyncio.create_task(self._run(connected))
        await connected

    def _on_disconnect(self, client):
        self._loop.call_soon_threadsafe(self._disconnected.set)

    def _on_notify(self, sender, data: bytearray):
        self._sink(bytes(data))

    async def _run(self, connected: asyncio.Future):
        while True:
            self._disconnected = asyncio.Event()
            try:
                async with self._bleak.BleakClient(self.device, disconnected_callback=self._on_disconnect) as client:
                    await client.start_notify(NUS_TX, self._on_notify)
                    try:
                        await self._write(client, LISTENING_COMMAND)
                    except Exception as e:  # noqa: BLE001 - per OS backend; a board that sees
                        # the CCCD streams without it, so report it and go on
                        self._event(f"could not send {LISTENING_COMMAND!r}: {e}")
                    self.client = client
                    if connected.done():
                        self._event("reconnected")
                    else:
                        connected.set_result(None)
                    await self._disconnected.wait()
            except Exception as e:  # noqa: BLE001 - bleak's errors differ per OS backend
                if not connected.done():
                    connected.set_exception(TinymlError(f"cannot connect to {self.target!r} over BLE: {e}"))
                    return
                if not self._stopping:
                    self._event(f"reconnect failed: {e}")
            finally:
                self.client = None
            if self._stopping:
                return
            if self._disconnected.is_set():  # else a failed attempt, reported above
                if not self.reconnect:
                    self.finished = True
                    self.error = "the board disconnected (--reconnect keeps trying)"
                    self._event("disconnected")
                    return
                self._event("disconnected, reconnecting")
            await asyncio.sleep(RECONNECT_DELAY)

    async def send(self, line: str):
        check_command(line)
        client = self.client
        if client is None or not client.is_connected:
            self._event(f"not connected, command {line!r} not sent")
            return
        await self._write(client, line)

    @staticmethod
    async def _write(client, line: str):
        data = line.encode() + b"\n"
        # write with response where RX allows it: the board then has the command for sure
        char = None
        services = getattr(client, "services", None)
        if services is not None:
            with contextlib.suppress(Exception):
                char = services.get_characteristic(NUS_RX)
        response = char is None or "write" in getattr(char, "properties", ())
        for i in range(0, len(data), NOTIFY_BYTES):
            await client.write_gatt_char(NUS_RX, data[i:i + NOTIFY_BYTES], response=response)

    async def stop(self):
        self._stopping = True
        if self._task:
            if hasattr(self, "_disconnected"):
                self._disconnected.set()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10)
            self._task = None


def open_transport(port: str | None = None, ble: str | None = None, board_id: str = "nano33_ble_sense",
                   reconnect: bool = False, scan_timeout: float = 10.0, app: str = "sine", bleak=None,
                   mic=None) -> Transport:
    """`--ble NAME_OR_ADDRESS`, `--port sim`, `--port PATH`, or `--port auto` (or neither):
    the first USB board. `app`: what the monitor starts on a board over serial or the virtual
    board (over BLE the board runs what it runs). `bleak`: see BleTransport."""
    if ble and port:
        raise TinymlError("pick one of --ble and --port")
    if mic is not None and port != "sim":
        raise TinymlError("--mic feeds the virtual board's microphone: use it with --port sim")
    if app not in APP_NAMES:
        raise TinymlError(f"--app {app!r}: the monitor starts one of {', '.join(APP_NAMES)}")
    if ble:
        transport = BleTransport(ble, reconnect=reconnect, scan_timeout=scan_timeout, bleak=bleak)
        transport.names = APP_NAMES[app]
        return transport
    if port == "sim":
        return SimTransport(board_id, app=app, mic=mic)
    if port in (None, "auto"):
        from ..board import autodetect_port

        port = autodetect_port()
    return SerialTransport(port, app=app)


def read_class_names(path) -> tuple[str, ...]:
    """Class names from a `.classes` file (one a line) or a training report (`classes`)."""
    import json

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise TinymlError(f"--classes {path}: cannot read it ({e.strerror})") from None
    if path.suffix == ".json":
        try:
            names = json.loads(text)["classes"]
        except (ValueError, KeyError, TypeError):
            raise TinymlError(f"--classes {path}: not a training report with a 'classes' list") from None
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise TinymlError(f"--classes {path}: no class names in it")
    return tuple(str(n) for n in names)
