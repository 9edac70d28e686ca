# Stream IMU samples to the host at a fixed rate, for `tinyml record`.
# Over the USB serial raw REPL (stdout): one text line per sample, so that no byte of it can be
# taken for a REPL control character and the virtual board's line endings do no harm:
#   H <board> <part> <accel counts per g> <gyro counts per deg/s> <rate Hz> <samples>
#   R<seq><ax><ay><az><gx><gy><gz>     each field 4 hex digits: seq mod 65536, int16 raw counts
#   E <late>                          end; late = samples read after their slot (the loop fell behind)
# Over a BLE link (the `record` app): one 15-byte notification per sample, IMU_MARK, seq uint16,
# ax ay az gx gy gz int16, all little-endian (docs/telemetry.md), and now and then the H line.
# Each sample is written from one preallocated buffer: nothing is allocated per sample.
import sys
import time
from array import array

from micropython import const

RATE_HZ = 50          # the gesture app's rate (host/tinyml_host/gesture.py RATE_HZ)
_CHANNELS = const(6)
_LINE = const(1 + 4 * (1 + 6) + 1)
_HEX = b"0123456789abcdef"
IMU_MARK = 0xA6       # first byte of a binary IMU frame; text frames never start with it
FRAME_BYTES = 15


class Recorder:
    """Reads `imu` (tinyml.sensors.imu()) every 1/rate_hz s and writes sample lines to `out`
    (an object with write(bytes); the raw REPL's stdout by default)."""

    def __init__(self, imu, rate_hz=RATE_HZ, out=None):
        if not 1 <= rate_hz <= 1000:
            raise ValueError("rate must be 1..1000 Hz, got %r" % rate_hz)
        if not hasattr(time, "ticks_us"):
            raise ValueError("recording needs MicroPython's time.ticks_us; CircuitPython has none yet")
        self.imu = imu
        self.rate_hz = rate_hz
        self.out = out if out is not None else getattr(sys.stdout, "buffer", sys.stdout)
        self.sample = array("h", bytes(2 * _CHANNELS))
        self.line = bytearray(_LINE)
        self.line[0] = ord("R")
        self.line[_LINE - 1] = ord("\n")
        self.seq = 0
        self.late = 0

    def header(self, board, part, samples):
        self.out.write(self.header_line(board, part, samples))

    def _put(self, pos, value):
        line = self.line
        value &= 0xFFFF
        line[pos] = _HEX[value >> 12]
        line[pos + 1] = _HEX[(value >> 8) & 15]
        line[pos + 2] = _HEX[(value >> 4) & 15]
        line[pos + 3] = _HEX[value & 15]

    def one(self):
        """Read and send one sample; allocates nothing."""
        self.imu.read_into(self.sample)
        self._put(1, self.seq)
        for c in range(_CHANNELS):
            self._put(5 + 4 * c, self.sample[c])
        self.out.write(self.line)
        self.seq += 1

    def header_line(self, board, part, samples):
        return ("H %s %s %d %s %d %d\n" % (board, part, self.imu.ACCEL_LSB_PER_G, self.imu.GYRO_LSB_PER_DPS,
                                          self.rate_hz, samples)).encode()


    def run(self, samples):
        """Send `samples` samples, each at its slot start + k / rate (no sample skipped: a slot
        missed is read at once and counted in `late`)."""
        period_us = 1000000 // self.rate_hz
        due = time.ticks_us()
        for _ in range(samples):
            wait = time.ticks_diff(due, time.ticks_us())
            if wait > 0:
                time.sleep_us(wait)
            elif wait < -period_us:
                self.late += 1
            self.one()
            due = time.ticks_add(due, period_us)
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


def stream(seconds, rate_hz=RATE_HZ):
    """`tinyml record` runs this on the board: header, seconds * rate_hz samples, end line."""
    from tinyml import hal, sensors

    imu = sensors.imu()
    samples = int(seconds * rate_hz)
    recorder = Recorder(imu, rate_hz)
    recorder.header(hal.board_id(), type(imu).__name__, samples)
    recorder.run(samples)
