# Live telemetry to a phone or laptop over BLE: the Nordic UART Service (NUS), text lines
# that phone apps plot as they come ("seq,v1,v2,...\n", chunked to 20-byte notifications),
# or binary frames (docs/telemetry.md).
#   t = tinyml.telemetry.start("tinyml")  # backend picked from the board and firmware
#   t.send((x, y, duty))                  # True if sent; dropped and counted when nobody
#                                         # listens: never queued, never blocks inference
#   t.on_command(callback)                # callback(name, argument) for valid RX commands
#   t.poll()                              # in the main loop: run commands, answer OK/ERR
#   t.connected                           # a central is connected
#   t.listening                           # ...and has enabled notifications on TX (or said
#                                         # so with the RX command `listening`)
#   t.send_line(b"CLASSES a b\n")         # a text line that is not a frame (no seq)
# Backends (a "link" each, picked from boards.json's "ble" facts and the firmware):
#   _ubluepy       MicroPython's nrf port (Nano 33 BLE Sense)
#   _bluetooth     MicroPython's `bluetooth` module (ESP32, ESP32-S3, Pico W, Pico 2 W)
#   _adafruit_ble  CircuitPython's adafruit_ble
#   tinyml_sim.telemetry  the virtual board (files shared with `tinyml monitor --port sim`)
# and, on any board when asked for (start(link="serial")), text lines on the REPL's serial line:
#   _serial        stdout/stdin (`tinyml monitor --port PORT` runs an app that way)
import struct

from micropython import const

MTU_PAYLOAD = const(20)   # bytes per notification at BLE's default MTU
LINE_MAX = const(64)      # bytes of one RX command line; a longer one gets "ERR command too long"
BINARY_MARK = const(0xA5)
BINARY_MAX_VALUES = const(4)
NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"   # phone -> board, write
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"   # board -> phone, notify
_NEWLINE = const(10)
ADV_MAX = const(31)       # bytes of legacy advertising data, and of a scan response
_AD_FLAGS = b"\x02\x01\x06"   # LE General Discoverable, BR/EDR not supported
_AD_SHORT_NAME = const(0x08)
_AD_COMPLETE_NAME = const(0x09)
_AD_UUID128_COMPLETE = const(0x07)


def fit_name(name, room):
    """(the longest start of `name` whose UTF-8 fits in `room` bytes, whether that is all of
    it); ValueError for an empty or non-str name."""
    if not isinstance(name, str) or not name:
        raise ValueError("telemetry name: a non-empty str, got %r" % (name,))
    cut = name
    while len(cut.encode()) > room:
        cut = cut[:-1]     # by characters, so a multi-byte character is never split
    return cut, cut == name


def _name_field(name, room):
    cut, whole = fit_name(name, room - 2)
    encoded = cut.encode()
    return bytes((len(encoded) + 1, _AD_COMPLETE_NAME if whole else _AD_SHORT_NAME)) + encoded, whole


def _nus_uuid_le():
    """The NUS service UUID's 16 bytes as they go over the air (little-endian)."""
    digits = NUS_SERVICE.replace("-", "")
    return bytes(int(digits[i:i + 2], 16) for i in range(30, -1, -2))


def advertising_payloads(name):
    """(advertising data, scan response), each at most ADV_MAX bytes. The advertisement: flags,
    the NUS UUID (complete list of 128-bit UUIDs) and as much of the name as fits in the 10 bytes
    left (complete name if it fits, else the shortened name), so passive scanners see both. The
    scan response: the complete name when the advertisement had to shorten it (itself shortened
    past 29 bytes), else empty."""
    uuid = _nus_uuid_le()
    adv = _AD_FLAGS + bytes((len(uuid) + 1, _AD_UUID128_COMPLETE)) + uuid
    field, whole = _name_field(name, ADV_MAX - len(adv))
    if whole:
        return adv + field, b""
    return adv + field, _name_field(name, ADV_MAX)[0]

# Radio settings, and what each costs (docs/telemetry.md, Power). The radio draws its current
# per event, so the cost is events per second: advertising events while no central is
# connected (1000 / adv_interval_ms), connection events (1000 / conn_interval_ms; the central
# chooses, only adafruit_ble lets the board ask) and notifications (about 2 per text frame).
# The defaults keep the sine app's telemetry within TELEMETRY_BUDGET: 1 advertising event/s
# before a central connects, at most 10 frames (about 20 notifications) per second after.
SETTINGS = {"adv_interval_ms": 1000, "conn_interval_ms": 100, "frame_rate_hz": 10}
_LIMITS = {"adv_interval_ms": (20, 10240),     # BLE: 20 ms .. 10.24 s
           "conn_interval_ms": (8, 4000),      # BLE: 7.5 ms .. 4 s (whole ms here)
           "frame_rate_hz": (1, 100)}
TELEMETRY_BUDGET = "1 advertising event/s unconnected; at most 10 frames/s (about 20 notifications/s) connected"


def configure(**settings):
    """Change SETTINGS (before start()): adv_interval_ms, conn_interval_ms, frame_rate_hz;
    ValueError naming the setting and its range otherwise."""
    for name, value in settings.items():
        if name not in _LIMITS:
            raise ValueError("unknown telemetry setting %r; known: %s" % (name, ", ".join(sorted(_LIMITS))))
        low, high = _LIMITS[name]
        if not isinstance(value, int) or not low <= value <= high:
            raise ValueError("%s=%r: an integer %d..%d" % (name, value, low, high))
    SETTINGS.update(settings)


# command name -> (argument kind, allowed values or range, help)
COMMANDS = {  # type: dict[str, tuple]
    "rate": ("int", (1, 100), "rate N: frames per second, 1..100"),
    "led": ("word", ("on", "off"), "led on|off"),
    "app": ("word", ("sine", "motion", "gesture", "record"), "app sine|motion|gesture|record"),
    # a central says it has enabled notifications on TX: the one command without an argument,
    # handled here, not by the app (docs/telemetry.md, "Listening")
    "listening": ("none", None, "listening"),
}


def parse_command(data):
    """bytes of one RX line -> (name, argument); ValueError with the help text otherwise."""
    try:
        text = bytes(data).decode().strip()
    except UnicodeError:
        raise ValueError("command is not text")
    parts = text.split()
    if len(parts) == 1 and parts[0] in COMMANDS and COMMANDS[parts[0]][0] == "none":
        return parts[0], None
    if len(parts) != 2:
        raise ValueError("expected 'name argument', got %r" % text[:32])
    name, arg = parts
    if name not in COMMANDS:
        raise ValueError("unknown command %r; known: %s" % (name[:16], ", ".join(sorted(COMMANDS))))
    kind, allowed, usage = COMMANDS[name]
    if kind == "none":
        raise ValueError("usage: " + usage)
    if kind == "int":
        try:
            value = int(arg)
        except ValueError:
            raise ValueError("usage: " + usage)
        if not allowed[0] <= value <= allowed[1]:
            raise ValueError("usage: " + usage)
        return name, value
    if arg not in allowed:
        raise ValueError("usage: " + usage)
    return name, arg


class Telemetry:
    """Frames to a link. A link has connected(), listening() (connected and subscribed to TX;
    optional, connected() stands in), listening_command() (optional: the central sent the RX
    command `listening`, so it listens from now until it unsubscribes or leaves), notify(chunk) -> bool (False: not sent, never raises,
    never waits) and read() -> bytes received since the last call, or None; it sets `overrun`
    when received bytes had to be discarded. (The sim link has read_line() instead.)
    A frame offered while nobody listens is dropped and counted in `dropped`, never in `sent`."""

    def __init__(self, link, binary=False):
        self.link = link
        self.binary = binary
        self.seq = 0
        self.sent = 0
        self.dropped = 0
        self._callback = None
        self._read = getattr(link, "read", None) or link.read_line
        self._listening = getattr(link, "listening", None) or link.connected
        # RX: one command line, bounded; bytes past LINE_MAX are discarded until the newline
        self._line = bytearray(LINE_MAX)
        self._line_len = 0
        self._too_long = False
        # TX: a text frame that failed after its first notification left half a line at the
        # receiver; the next text frame starts with "\n" so that half stays a line of its own
        self._broken = False
        # binary frames are packed in place: one buffer, a view per length, nothing allocated
        frame = memoryview(bytearray(4 + 4 * BINARY_MAX_VALUES))
        self._frame = frame
        self._frames = [frame[:4 + 4 * n] for n in range(BINARY_MAX_VALUES + 1)]

    @property
    def connected(self):
        return self.link.connected()

    @property
    def listening(self):
        """A central is connected and has enabled notifications on TX (its CCCD write, or the
        RX command `listening` it sends after it): frames go out only then. A link that cannot
        tell (the sim link) listens whenever connected."""
        return self._listening()

    def on_command(self, callback):
        self._callback = callback

    def poll(self):
        """Handle the commands that arrived; a bad one gets an ERR line back, never a crash."""
        data = self._read()
        while data is not None:
            self._feed(data)
            if getattr(self.link, "overrun", False):
                # bytes were lost after these: the line in progress is not what was sent
                self.link.overrun = False
                self._too_long = True
            data = self._read()

    def _feed(self, data):
        for b in data:
            if b == _NEWLINE:
                if self._too_long:
                    self._write(b"ERR command too long\n")
                else:
                    self._command(memoryview(self._line)[:self._line_len])
                self._line_len = 0
                self._too_long = False
            elif self._line_len < LINE_MAX:
                self._line[self._line_len] = b
                self._line_len += 1
            else:
                self._too_long = True

    def _command(self, line):
        try:
            name, arg = parse_command(line)
        except ValueError as e:
            self._write(b"ERR %s\n" % str(e).encode())
            return
        if name == "listening":
            # the central has enabled notifications: what NimBLE cannot see (docs/telemetry.md,
            # "Listening"); links that see the CCCD exactly, or nothing at all, have no hook
            heard = getattr(self.link, "listening_command", None)
            if heard:
                heard()
        elif self._callback:
            try:
                self._callback(name, arg)
            except ValueError as e:  # the app refuses a valid command: say why
                self._write(b"ERR %s\n" % str(e).encode())
                return
        self._write(b"OK %s\n" % name.encode())

    def send(self, values):
        """Offer one frame; True if it went out, False if dropped (counted in `dropped`)."""
        self.seq += 1
        if self.binary:
            n = len(values)
            if not 1 <= n <= BINARY_MAX_VALUES:
                raise ValueError("a binary frame holds 1..4 values, got %d" % n)
            if not self._listening():
                self.dropped += 1
                return False
            frame = self._frame
            struct.pack_into("<BHB", frame, 0, BINARY_MARK, self.seq & 0xFFFF, n)
            for i in range(n):
                struct.pack_into("<f", frame, 4 + 4 * i, values[i])
            ok = self.link.notify(self._frames[n]) is not False
        else:
            if not self._listening():
                self.dropped += 1
                return False
            line = ("%d," % self.seq + ",".join("%.4g" % v for v in values) + "\n").encode()
            if self._broken:
                line = b"\n" + line
            result = self._write(line)
            self._broken = result is None
            ok = result is True
        if ok:
            self.sent += 1
            return True
        self.dropped += 1
        return False

    def send_line(self, line):
        """Offer a text line that is not a frame (bytes ending in a newline: the gesture app's
        class names): no seq, not counted; True if all of it went out."""
        if not self.link.connected():
            return False
        if self._broken:
            line = b"\n" + line
        result = self._write(line)
        self._broken = result is None
        return result is True

    def _write(self, data):
        """Notify data in 20-byte chunks; True if all went out, False if none did, None if the
        link failed after the first chunk (the receiver got part of it)."""
        view = memoryview(data)
        for i in range(0, len(data), MTU_PAYLOAD):
            if self.link.notify(view[i:i + MTU_PAYLOAD]) is False:
                return False if i == 0 else None
        return True


def backend(board, firmware, boards=None):
    """The BLE stack tinyml.telemetry uses on `board` (a boards.json id) under `firmware`
    ("micropython" or "circuitpython"): "ubluepy", "bluetooth" or "adafruit_ble"."""
    if boards is None:
        from tinyml.boards import BOARDS as boards
    stacks = boards[board]["ble"]
    if stacks == (None, None):
        raise ValueError("no BLE on %s" % board)
    if firmware not in ("micropython", "circuitpython"):
        raise ValueError("no BLE backend for firmware %r" % firmware)
    stack = stacks[0] if firmware == "micropython" else stacks[1]
    if stack is None:
        raise ValueError("no BLE on %s with %s (boards.json)" % (board, firmware))
    return stack


def start(name="tinyml", binary=False, link=None):
    """Advertise NUS as `name` and return the Telemetry; binary=True sends binary frames.
    The stack is the board's (boards.json "ble"); on a port that is no board in boards.json
    (the unix port built with NimBLE, a custom board) the BLE module the firmware has.
    link="serial": text frames on the REPL's stdout and commands from its stdin instead, on
    any board (a byte stream keeps no frame boundaries: no binary frames there)."""
    if link == "serial":
        if binary:
            raise ValueError("the serial link carries text frames only: a byte stream keeps no frame boundaries")
        from tinyml.telemetry import _serial
        return Telemetry(_serial.Link(name))
    if link is not None:
        raise ValueError("unknown telemetry link %r; known: 'serial' (None: the board's BLE)" % (link,))
    from tinyml import hal
    if hal.PLATFORM == "sim":  # the virtual board, and only it (tinyml.hal)
        from tinyml_sim import telemetry as sim  # type: ignore[import-not-found]
        return Telemetry(sim.Link(name), binary)
    try:
        board = hal.board_id()
    except ValueError as e:
        stack = stack_present(hal.PLATFORM)
        if stack is None:
            raise ValueError("no BLE: %s, and its firmware has no BLE module" % e)
    else:
        stack = backend(board, hal.PLATFORM)
    module = __import__("tinyml.telemetry._" + stack, None, None, ("Link",))
    return Telemetry(module.Link(name), binary)


def stack_present(firmware):
    """The BLE stack this firmware has, by the module it provides; None when it has none."""
    for module, stack in (("ubluepy", "ubluepy"), ("bluetooth", "bluetooth")) if firmware == "micropython" \
            else (("_bleio", "adafruit_ble"),):
        try:
            __import__(module)
        except ImportError:
            continue
        return stack
    return None


open = start  # the first name of start(); apps/sine.py uses it
