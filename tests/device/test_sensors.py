"""Sensors through the HAL's I2C bus: the MPU-6050 driver against a register-level fake, the
machine.I2C backend against a fake of its API, and clear errors for bad wiring."""

import struct
from pathlib import Path

import pytest

from mpy import lines_with, run
from tinyml_host import boards

FAKES = Path(__file__).parent / "fakes"
MPU_BOARDS = [b for b, f in boards.load().items() if any(s["part"] == "MPU-6050" for s in f["sensors"])]
SAMPLE = [-12345, 0, 16384, 32767, -32768, 131]  # accel xyz, gyro xyz


def test_mpu_boards_are_the_esp32_and_pico_families():
    assert sorted(MPU_BOARDS) == ["esp32", "esp32s3", "pico", "pico2_w", "pico_w"]


@pytest.mark.parametrize("board", MPU_BOARDS)
def test_mpu6050_on_the_virtual_board(board):
    # registers 0x3B..0x48: accel x,y,z, temperature, gyro x,y,z, big-endian, as the datasheet lays them
    raw = struct.pack(">hhhhhhh", *SAMPLE[:3], 1234, *SAMPLE[3:])
    script = f"""
import array, gc
from tinyml import hal, sensors
imu = sensors.imu()
dev = hal.i2c().devices[0x68]
print('CFG', dev.regs[0x6B], dev.regs[0x1C], dev.regs[0x1B], dev.regs[0x1A])
dev.frozen = True
dev.write(0x3B, {raw!r})
buf = array.array('h', bytes(12))
imu.read_into(buf)
print('RAW', *buf)
print('SCALE', imu.ACCEL_LSB_PER_G, imu.GYRO_LSB_PER_DPS)

def allocated(n):
    gc.collect()
    a = gc.mem_alloc()
    for _ in range(n):
        imu.read_into(buf)
    return gc.mem_alloc() - a

print('ALLOC', allocated(200))
"""
    out = run(script, env={"TINYML_BOARD": board})
    # awake on the gyro PLL, +-2 g, +-250 deg/s, 44 Hz low-pass (datasheet register values)
    assert lines_with("CFG", out) == ["1 0 0 3"]
    assert [int(v) for v in lines_with("RAW", out)[0].split()] == SAMPLE
    assert lines_with("SCALE", out) == ["16384 131"]
    assert lines_with("ALLOC", out) == ["0"]


def test_live_fake_shows_gravity_on_z():
    out = run("import array\nfrom tinyml import sensors\nimu = sensors.imu()\n"
              "buf = array.array('h', bytes(12))\nimu.read_into(buf)\nprint('AZ', buf[2] / imu.ACCEL_LSB_PER_G)",
              env={"TINYML_BOARD": "pico"})
    assert float(lines_with("AZ", out)[0]) == pytest.approx(1.0, abs=0.05)


def test_bad_wiring_is_a_clear_error():
    script = """
from tinyml.hal._sim import SimI2C
from tinyml.hal import _simdevices
from tinyml.sensors.mpu6050 import MPU6050
from tinyml import sensors
for bus in (SimI2C({}), SimI2C({0x68: _simdevices.RegisterDevice()})):
    try:
        MPU6050(bus)
    except ValueError as e:
        print('E', e)
try:
    sensors.imu(SimI2C({}))
except ValueError as e:
    print('E', e)
"""
    assert lines_with("E", run(script, env={"TINYML_BOARD": "esp32"})) == [
        "no MPU-6050 at I2C address 0x68: check wiring and power",
        "device at 0x68 is not an MPU-6050 (WHO_AM_I 0x00)",
        "no IMU on the I2C bus: expected MPU-6050 at 0x68, found []",
    ]


def test_nano_imu_without_an_adapter_says_so():
    # The Nano's sensors have no register fakes and adapters yet: the error must say what is missing.
    out = run("from tinyml import sensors\ntry:\n    sensors.imu()\nexcept ValueError as e:\n    print('E', e)",
              env={"TINYML_BOARD": "nano33_ble_sense"})
    assert lines_with("E", out) == ["no IMU on the I2C bus: expected LSM9DS1 at 0x6b, found []"]


def test_machine_backend_opens_the_sensor_bus_on_every_board():
    ids = sorted(boards.load())
    script = f"""
import sys
sys.path.insert(0, {str(FAKES)!r})
import machine
from tinyml.boards import BOARDS
from tinyml.hal import _machine
for board in {ids!r}:
    machine.log.clear()
    f = BOARDS[board]
    _machine.i2c(f['i2c'], f['power'], f['pullup'], f['sensors'])
    print('LOG', board, repr(machine.log))
"""
    logs = dict(line.split(" ", 1) for line in lines_with("LOG", run(script)))
    for board, facts in boards.load().items():
        log = logs[board]
        bus = facts["i2c"]["micropython"]
        assert f"('I2C', {bus['id']}, {bus['scl']}, {bus['sda']}, 400000)" in log
        for key in ("sensor_power", "i2c_pullup"):
            if facts[key]:  # driven high (Pin.OUT is 1 in the fake, as on the ports) before the bus opens
                assert log.index(f"('Pin', {facts[key]['micropython']}, 1, 1)") < log.index("('I2C'")
