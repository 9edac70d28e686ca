# Live telemetry to a phone or laptop over BLE: the Nordic UART Service (NUS), text lines
# that phone apps plot as they come ("seq,v1,v2,...\n", chunked to 20-byte notifications).
#   t = tinyml.telemetry.open("tinyml")   # backend picked from the board and firmware
#   t.send((x, y, duty))                  # True if sent; dropped and counted when nobody
#                                         # listens: never queued, never blocks inference
#   t.on_command(callback)                # callback(name, argument) for valid RX commands
# Backends: sim (the virtual board). BLE stacks (ubluepy, bluetooth, adafruit_ble): issue 6.
import sys

from micropython import const

MTU_PAYLOAD = const(20)   # bytes per notification at BLE's default MTU
NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"   # phone -> board, write
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"   # board -> phone, notify

# command name -> (argument kind, allowed values or range, help)
COMMANDS = {
    "rate": ("int", (1, 100), "rate N: frames per second, 1..100"),
    "led": ("word", ("on", "off"), "led on|off"),
    "app": ("word", ("sine", "motion"), "app sine|motion"),
}


def parse_command(data):
    """bytes of one RX line -> (name, argument); ValueError with the help text otherwise."""
    try:
        text = bytes(data).decode().strip()
    except UnicodeError:
        raise ValueError("command is not text")
    parts = text.split()
    if len(parts) != 2:
        raise ValueError("expected 'name argument', got %r" % text[:32])
    name, arg = parts
    if name not in COMMANDS:
        raise ValueError("unknown command %r; known: %s" % (name[:16], ", ".join(sorted(COMMANDS))))
    kind, allowed, usage = COMMANDS[name]
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
    """Frames to a link: the link has connected(), notify(chunk) and read_line() (or None)."""

    def __init__(self, link):
        self.link = link
        self.seq = 0
        self.sent = 0
        self.dropped = 0
        self._callback = None

    @property
    def connected(self):
        return self.link.connected()

    def on_command(self, callback):
        self._callback = callback

    def poll(self):
        """Handle the commands that arrived; a bad one gets an ERR line back, never a crash."""
        line = self.link.read_line()
        while line is not None:
            try:
                name, arg = parse_command(line)
                if self._callback:
                    self._callback(name, arg)
                self._write(b"OK %s\n" % name.encode())
            except ValueError as e:
                self._write(b"ERR %s\n" % str(e).encode())
            line = self.link.read_line()

    def send(self, values):
        self.seq += 1
        if not self.link.connected():
            self.dropped += 1
            return False
        self._write(("%d," % self.seq + ",".join("%.4g" % v for v in values) + "\n").encode())
        self.sent += 1
        return True

    def _write(self, data):
        for i in range(0, len(data), MTU_PAYLOAD):
            self.link.notify(data[i:i + MTU_PAYLOAD])


def open(name="tinyml"):
    if sys.platform == "linux":
        from tinyml.telemetry import _sim
        return Telemetry(_sim.Link(name))
    raise ValueError("BLE telemetry on this board is not written yet (issue 6)")
