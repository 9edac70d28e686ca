"""Gestures on the virtual board: the motion model runs in the micropython binary with the same
numbers as in CPython, and every IMU fake (LSM9DS1, BMI270, MPU-6050) plays it through its
registers, read by tinyml.sensors at the range each driver set."""

from __future__ import annotations

import struct

import pytest

from mpy import lines_with, run
from tinyml_host.virtual_board.tinyml_sim import gestures


def test_micropython_and_cpython_compute_the_same_takes():
    script = """
from tinyml_sim.gestures import Gesture, GESTURES
for name in GESTURES:
    g = Gesture(name, 11)
    for k in range(5):
        print('S', name, ' '.join(repr(v) for v in g.sample(k / 50)))
"""
    out = lines_with("S", run(script))
    expected = []
    for name in gestures.GESTURES:
        g = gestures.Gesture(name, 11)
        expected += [(name, g.sample(k / 50)) for k in range(5)]
    assert len(out) == len(expected)
    for line, (name, values) in zip(out, expected):
        got_name, *got = line.split()
        assert got_name == name
        assert [float(v) for v in got] == pytest.approx(values, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("board", ["nano33_ble_sense", "nano33_ble_sense_rev2", "esp32"])
@pytest.mark.parametrize("name", ["still", "wave", "circle", "shake"])
def test_every_imu_fake_plays_the_gesture(board, name):
    times = [0.05 * k for k in range(12)]
    script = f"""
import array
from tinyml import hal, sensors
from tinyml_sim import devices as simdevices
imu = sensors.imu()
simdevices.perform({name!r}, 2)
now = [0.0]
simdevices.IMUFake.clock = lambda: now[0]
buf = array.array('h', bytes(12))
print('FULL', 32767 / imu.GYRO_LSB_PER_DPS)
for t in {times!r}:
    now[0] = t
    imu.read_into(buf)
    print('V', *[buf[i] / imu.ACCEL_LSB_PER_G for i in range(3)], *[buf[i] / imu.GYRO_LSB_PER_DPS for i in range(3, 6)])
"""
    out = run(script, env={"TINYML_BOARD": board})
    full_scale_dps = float(lines_with("FULL", out)[0])  # the range the driver chose clips the rate
    out = lines_with("V", out)
    g = gestures.Gesture(name, 2)
    for t, line in zip(times, out, strict=True):
        got = [float(v) for v in line.split()]
        ideal = g.ideal(t)
        # bias (<= 0.02 g, 1 deg/s) + noise (0.01 g, 0.3 deg/s) + one count
        assert got[:3] == pytest.approx(ideal[:3], abs=0.07)
        clipped = [max(-full_scale_dps, min(full_scale_dps, v)) for v in ideal[3:]]
        assert got[3:] == pytest.approx(clipped, abs=3.0)


RECORD_ALLOC = """
import gc
from tinyml import hal, sensors, record


class Discard:
    def write(self, data):
        return len(data)


def allocated(recorder, n):
    recorder.one()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(n):
        recorder.one()
    return gc.mem_alloc() - before


imu = sensors.imu()
for dev in hal.i2c().devices.values():
    dev.frozen = True                     # the fakes' own arithmetic would count as allocation
print('ALLOC', allocated(record.Recorder(imu, out=Discard()), 200), allocated(record.Recorder(imu), 200))
if 'nano' in hal.board_id():              # the other sensors `tinyml record --sensor` reads
    env = sensors.environment()
    mag = sensors.magnetometer()
    for dev in hal.i2c().devices.values():
        dev.frozen = True
    print('OTHERS', allocated(record.Recorder(env, env.RATE_HZ, Discard(), 3, True), 200),
          allocated(record.Recorder(mag, mag.RATE_HZ, Discard(), 3), 200))
"""


@pytest.mark.parametrize("board", ["nano33_ble_sense", "nano33_ble_sense_rev2", "esp32"])
def test_recording_allocates_nothing_per_sample(board):
    """Reading the IMU and writing one sample line, to a writer and to the raw REPL's stdout."""
    out = run(RECORD_ALLOC, env={"TINYML_BOARD": board})
    assert lines_with("ALLOC", out) == ["0 0"]
    assert lines_with("OTHERS", out) == (["0 0"] if board.startswith("nano") else [])


def test_recorder_lines_carry_the_raw_counts_and_sequence():
    script = """
import array
from tinyml import record


class FakeIMU:
    ACCEL_LSB_PER_G = 16384
    GYRO_LSB_PER_DPS = 131
    n = 0

    def read_into(self, buf):
        for i in range(6):
            buf[i] = (-1) ** i * (self.n * 1000 + i)
        self.n += 1


class Collect:
    data = b''

    def write(self, b):
        self.data += bytes(b)


out = Collect()
r = record.Recorder(FakeIMU(), 200, out)
r.header('esp32', 'MPU6050', 3)
r.run(3)
print(repr(out.data))
"""
    data = eval(run(script).strip().splitlines()[-1])  # noqa: S307 - a bytes literal printed by our script
    lines = data.decode().splitlines()
    assert lines[0] == "H esp32 MPU6050 16384 131 200 3"
    assert lines[-1] == "E 0"
    for seq, line in enumerate(lines[1:-1]):
        words = [int(line[1 + 4 * i:5 + 4 * i], 16) for i in range(7)]
        values = [w - 65536 if w & 0x8000 else w for w in words[1:]]
        assert line[0] == "R" and words[0] == seq
        assert values == [(-1) ** i * (seq * 1000 + i) for i in range(6)]


def test_recorder_lines_of_32_bit_values_keep_the_sign():
    """The environment's int32 values go out as two 16-bit halves: 8 hex digits of the 32-bit
    two's complement, negative temperatures included."""
    script = """
from tinyml import record


class FakeEnvironment:
    def read_into(self, values):
        values[0] = -1250
        values[1] = 4500
        values[2] = 101325


class Collect:
    data = b''

    def write(self, b):
        self.data += bytes(b)


out = Collect()
r = record.Recorder(FakeEnvironment(), 12.5, out, 3, True)
r.sensor_header('nano33_ble_sense', 'environment', 'HTS221+LPS22HB', 2)
r.run(2)
print(repr(out.data))
"""
    data = eval(run(script).strip().splitlines()[-1])  # noqa: S307 - a bytes literal printed by our script
    lines = data.decode().splitlines()
    assert lines[0] == "S nano33_ble_sense environment HTS221+LPS22HB 12.5 2 3 8"
    expected = "".join("%08x" % (v & 0xFFFFFFFF) for v in (-1250, 4500, 101325))
    assert lines[1:] == ["R0000" + expected, "R0001" + expected, "E 0"]


FRAME_ALLOC = """
import gc
from tinyml import hal, sensors, record


class Link:
    def __init__(self):
        self.frames = 0
        self.last = bytearray(15)

    def notify(self, chunk):
        self.frames += 1
        for i in range(15):
            self.last[i] = chunk[i]
        return True


imu = sensors.imu()
for dev in hal.i2c().devices.values():
    dev.frozen = True
dev = hal.i2c().devices[0x6B]
dev.write(0x28, bytes([0x00, 0x40, 0xFF, 0xFF, 0x00, 0x80]))   # accel x, y, z: 16384, -1, -32768
link = Link()
frames = record.FrameRecorder(imu, link)
frames.one()


def allocated(n):
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(n):
        frames.one()
    return gc.mem_alloc() - before


print('ALLOC', allocated(300))
print('FRAME', link.frames, ' '.join('%02x' % b for b in link.last))
"""


def test_ble_frames_allocate_nothing_and_carry_seq_and_raw_counts():
    out = run(FRAME_ALLOC, env={"TINYML_BOARD": "nano33_ble_sense"})
    assert lines_with("ALLOC", out) == ["0"]
    count, *frame = lines_with("FRAME", out)[0].split()
    data = bytes.fromhex("".join(frame))
    assert count == "301" and len(data) == 15 and data[0] == 0xA6
    seq, ax, ay, az = struct.unpack_from("<Hhhh", data, 1)
    assert (seq, ax, ay, az) == (300, 16384, -1, -32768)
