# Stream sensor samples to the host at a fixed rate, for `tinyml record`.
# Over the USB serial raw REPL (stdout): one text line per sample, so that no byte of it can be
# taken for a REPL control character and the virtual board's line endings do no harm:
#   H <board> <part> <accel counts per g> <gyro counts per deg/s> <rate Hz> <samples>     the IMU
#   S <board> <sensor> <part[+part]> <rate Hz> <samples> <values> <hex digits per value>  the others
#   R<seq><v1>...<vn>    seq mod 65536 in 4 hex digits, then each value: 4 hex digits (int16 raw
#                        counts: IMU, magnetometer) or 8 (int32: the environment's Pa and centi-units)
#   E <late>             end; late = samples read after their slot (the loop fell behind)
# The microphone ("mic"): one clip, captured whole into RAM first (the serial link must not
# make the capture drop blocks), then sent:
#   A <board> <part> <rate Hz> <samples> <samples per line>
#   R<seq><s1>...<sn>    int16 samples, 4 hex digits each; the last line padded with zeros
#   E <lost>             blocks the capture dropped (the microphone's `lost`)
# Sensors (tinyml.sensors): "imu" (ax ay az gx gy gz, 50 Hz, the gesture app's rate),
# "environment" (temperature, humidity, pressure) and "magnetometer" (x y z), each at its parts'
# output data rate (RATE_HZ) so that every sample is a fresh reading.
# Over a BLE link (the `record` app): one 15-byte notification per IMU sample, IMU_MARK, seq
# uint16, ax ay az gx gy gz int16, all little-endian (docs/telemetry.md), and now and then the H line.
# Each sample is written from one preallocated buffer: nothing is allocated per sample.
import sys
from array import array

from micropython import const

from tinyml import clock

RATE_HZ = 50          # the gesture app's rate (host/tinyml_host/gesture.py RATE_HZ)
SENSORS = ("imu", "environment", "magnetometer", "mic")
MIC_LINE = 32         # samples per line of a clip
_CHANNELS = const(6)
_HEX = b"0123456789abcdef"
IMU_MARK = 0xA6       # first byte of a binary IMU frame; text frames never start with it
FRAME_BYTES = 15


def _stdout_bytes():
    """stdout as a writer of bytes: its .buffer where the port has one; MicroPython's and
    CircuitPython's sys.stdout.write takes any buffer too (it is their generic stream write)."""
    stdout = getattr(sys, "stdout")   # typed as a text stream for CPython: not what the board has
    return getattr(stdout, "buffer", stdout)


class Recorder:
    """Reads `sensor` (anything with read_into(array): tinyml.sensors.imu() by default shape,
    6 int16 values) every 1/rate_hz s and writes sample lines to `out` (an object with
    write(bytes); the raw REPL's stdout by default). values, wide: how many values a read gives
    and whether they are int32 (8 hex digits) rather than int16."""

    def __init__(self, sensor, rate_hz=RATE_HZ, out=None, values=_CHANNELS, wide=False):
        if not 0 < rate_hz <= 1000:
            raise ValueError("rate must be above 0 and at most 1000 Hz, got %r" % rate_hz)
        self.imu = sensor     # the first name, kept for the record app's header_line
        self.sensor = sensor
        self.rate_hz = rate_hz
        self.out = out if out is not None else _stdout_bytes()
        self.values = values
        self.wide = wide
        self.sample = array("i" if wide else "h", bytes((4 if wide else 2) * values))
        length = 1 + 4 + values * (8 if wide else 4) + 1
        self.line = bytearray(length)
        self.line[0] = ord("R")
        self.line[length - 1] = ord("\n")
        self.seq = 0
        self.late = 0

    def header(self, board, part, samples):
        self.out.write(self.header_line(board, part, samples))

    def sensor_header(self, board, kind, part, samples):
        """The S line, for a sensor other than the IMU."""
        self.out.write(("S %s %s %s %g %d %d %d\n" % (board, kind, part, self.rate_hz, samples, self.values,
                                                      8 if self.wide else 4)).encode())

    def _put(self, pos, value):
        line = self.line
        value &= 0xFFFF
        line[pos] = _HEX[value >> 12]
        line[pos + 1] = _HEX[(value >> 8) & 15]
        line[pos + 2] = _HEX[(value >> 4) & 15]
        line[pos + 3] = _HEX[value & 15]

    def one(self):
        """Read and send one sample; allocates nothing."""
        self.sensor.read_into(self.sample)
        self._put(1, self.seq)
        if self.wide:  # two 16-bit halves: value & 0xFFFFFFFF would be a big int on a 32-bit port
            for c in range(self.values):
                v = self.sample[c]
                self._put(5 + 8 * c, v >> 16)
                self._put(9 + 8 * c, v)
        else:
            for c in range(self.values):
                self._put(5 + 4 * c, self.sample[c])
        self.out.write(self.line)
        self.seq += 1

    def header_line(self, board, part, samples):
        return ("H %s %s %d %s %d %d\n" % (board, part, self.imu.ACCEL_LSB_PER_G, self.imu.GYRO_LSB_PER_DPS,
                                          self.rate_hz, samples)).encode()

    def run(self, samples):
        """Send `samples` samples, each at its slot start + k / rate (no sample skipped: a slot
        missed is read at once and counted in `late`)."""
        period_us = int(1000000 / self.rate_hz)
        due = clock.ticks_us()
        for _ in range(samples):
            wait = clock.ticks_diff(due, clock.ticks_us())
            if wait > 0:
                clock.sleep_us(wait)
            elif wait < -period_us:
                self.late += 1
            self.one()
            due = clock.ticks_add(due, period_us)
        self.out.write(b"E %d\n" % self.late)


class FrameRecorder:
    """The BLE variant: reads `imu` and offers each sample to `link.notify` as one binary frame.
    A frame the link cannot take is dropped (the host sees the gap in seq)."""

    def __init__(self, imu, link):
        self.imu = imu
        self.link = link
        self.sample = array("h", bytes(2 * _CHANNELS))
        self.frame = bytearray(FRAME_BYTES)
        self.frame[0] = IMU_MARK
        self.seq = 0
        self.dropped = 0

    def one(self):
        """Read and offer one sample; allocates nothing."""
        self.imu.read_into(self.sample)
        f = self.frame
        seq = self.seq & 0xFFFF
        f[1] = seq & 0xFF
        f[2] = seq >> 8
        for c in range(_CHANNELS):
            v = self.sample[c] & 0xFFFF
            f[3 + 2 * c] = v & 0xFF
            f[4 + 2 * c] = v >> 8
        if self.link.notify(f) is False:
            self.dropped += 1
        self.seq += 1


def _hex4(line, pos, value):
    value &= 0xFFFF
    line[pos] = _HEX[value >> 12]
    line[pos + 1] = _HEX[(value >> 8) & 15]
    line[pos + 2] = _HEX[(value >> 4) & 15]
    line[pos + 3] = _HEX[value & 15]


def capture(mic, clip, block):
    """Fill `clip` (an array('h')) from the started microphone, a block at a time."""
    n = 0
    total = len(clip)
    size = mic.block
    while n < total:
        mic.readinto(block)
        take = size if total - n > size else total - n
        for k in range(take):
            clip[n + k] = block[k]
        n += take


def record_clip(seconds, out=None):
    """`tinyml record --sensor mic`: one clip of `seconds` from hal.microphone(), then its lines."""
    from tinyml import hal

    mic = hal.microphone()
    out = out if out is not None else _stdout_bytes()
    samples = int(seconds * mic.RATE_HZ)
    if samples < 1:
        raise ValueError("a clip needs at least one sample, got %r s" % (seconds,))
    clip = array("h", bytes(2 * samples))
    block = array("h", bytes(2 * mic.block))
    mic.start()
    try:
        capture(mic, clip, block)
    finally:
        mic.stop()
    out.write(("A %s %s %d %d %d\n" % (hal.board_id(), type(mic).__name__, mic.RATE_HZ, samples, MIC_LINE)).encode())
    line = bytearray(1 + 4 + 4 * MIC_LINE + 1)
    line[0] = ord("R")
    line[len(line) - 1] = ord("\n")
    seq = 0
    for first in range(0, samples, MIC_LINE):
        _hex4(line, 1, seq)
        for k in range(MIC_LINE):
            _hex4(line, 5 + 4 * k, clip[first + k] if first + k < samples else 0)
        out.write(line)
        seq += 1
    out.write(b"E %d\n" % mic.lost)


def stream(seconds, rate_hz=None, sensor="imu"):
    """`tinyml record` runs this on the board: header, seconds * rate samples, end line. rate_hz
    None: the sensor's own (the IMU's RATE_HZ, the others' output data rate)."""
    from tinyml import hal, sensors

    if sensor == "imu":
        imu = sensors.imu()
        rate = rate_hz or RATE_HZ
        samples = int(seconds * rate)
        recorder = Recorder(imu, rate)
        recorder.header(hal.board_id(), type(imu).__name__, samples)
    elif sensor == "environment":
        env = sensors.environment()
        rate = rate_hz or env.RATE_HZ
        samples = int(seconds * rate)
        recorder = Recorder(env, rate, values=3, wide=True)
        part = "+".join(type(p).__name__ for p in env.parts)
        recorder.sensor_header(hal.board_id(), sensor, part, samples)
    elif sensor == "magnetometer":
        mag = sensors.magnetometer()
        rate = rate_hz or mag.RATE_HZ
        samples = int(seconds * rate)
        recorder = Recorder(mag, rate, values=3)
        recorder.sensor_header(hal.board_id(), sensor, type(mag).__name__, samples)
    elif sensor == "mic":
        record_clip(seconds)
        return
    else:
        raise ValueError("unknown sensor %r; tinyml records %s" % (sensor, ", ".join(SENSORS)))
    recorder.run(samples)
