"""Sensors through the HAL's I2C bus, in the real micropython binary: each adapter against a
register-level fake of its chip (tinyml_sim.devices), on the virtual board and behind a fake
of machine.I2C, for every board in boards.json; allocation-free reads; Rev1/Rev2 detection; and
clear errors for bad wiring."""

import struct
from pathlib import Path

import pytest

from mpy import lines_with, run
from tinyml_host import boards

FAKES = Path(__file__).parent / "fakes"
BOARDS = boards.load()
MPU_BOARDS = [b for b, f in BOARDS.items() if any(s["part"] == "MPU-6050" for s in f["sensors"])]
NANOS = ["nano33_ble_sense", "nano33_ble_sense_rev2"]
# os.uname().machine on each board's MicroPython (MICROPY_HW_BOARD_NAME " with " MICROPY_HW_MCU_NAME)
UNAME = {
    "nano33_ble_sense": "Arduino Nano 33 BLE Sense with NRF52840",
    "nano33_ble_sense_rev2": "Arduino Nano 33 BLE Sense with NRF52840",
    "esp32": "Generic ESP32 module with ESP32",
    "esp32s3": "Generic ESP32S3 module with ESP32-S3",
    "pico": "Raspberry Pi Pico with RP2040",
    "pico_w": "Raspberry Pi Pico W with RP2040",
    "pico2_w": "Raspberry Pi Pico 2 W with RP2350",
}
# The physical state the IMU fakes show in these tests: g and deg/s
STILL = (0.25, -0.5, 0.75, 10.0, -20.0, 30.0)
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
from tinyml_sim.hal import SimI2C
from tinyml_sim import devices as simdevices
from tinyml.sensors.mpu6050 import MPU6050
from tinyml import sensors
for bus in (SimI2C({}), SimI2C({0x68: simdevices.RegisterDevice()})):
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


# On the machine backend: the fake machine module, a fake os.uname, and the board's register fakes
# on the fake machine.I2C; `bmi270` stands for the firmware's frozen driver when `frozen` is set.
MACHINE_PRELUDE = """
import sys
sys.path.insert(0, {fakes!r})
import machine
from tinyml import hal
from tinyml.hal import _machine
from tinyml_sim import devices as simdevices
from tinyml.boards import BOARDS

class _Uname:
    machine = {uname!r}

class _Os:
    def uname(self):
        return _Uname()

_machine.os = _Os()
hal._backend, hal.PLATFORM = _machine, _machine.PLATFORM
devices = {{}}
for kind, part, addresses, _, _ in BOARDS[{board!r}]['sensors']:
    for address, make in zip(addresses, simdevices.FAKES.get(part, ())):
        devices[address] = make()
machine.I2C.devices = devices
if {frozen!r}:
    from tinyml_sim import bmi270 as sim_bmi270
    sys.modules['bmi270'] = sim_bmi270
"""


def machine_script(board, body, uname=None, frozen_bmi270=True):
    return MACHINE_PRELUDE.format(fakes=str(FAKES), uname=uname or UNAME[board], board=board,
                                  frozen=frozen_bmi270) + body


READ_ALL = """
import array, gc
from tinyml import sensors
print('BOARD', hal.board_id())
imu = sensors.imu()
for address, dev in hal.i2c().devices.items():
    if hasattr(dev, 'still'):
        dev.still = {still!r}
sample = array.array('h', bytes(12))
imu.read_into(sample)
print('IMU', type(imu).__name__, ' '.join('%.4f' % (sample[i] / imu.ACCEL_LSB_PER_G) for i in range(3)),
      ' '.join('%.3f' % (sample[i] / imu.GYRO_LSB_PER_DPS) for i in range(3, 6)))
try:
    env = sensors.environment()
except ValueError as e:
    env = None
    print('NOENV', e)
values = array.array('i', bytes(12))
if env:
    env.read_into(values)
    print('ENV', ' '.join(type(p).__name__ for p in env.parts), *values)
try:
    mag = sensors.magnetometer()
except ValueError as e:
    mag = None
    print('NOMAG', e)
field = array.array('h', bytes(6))
if mag:
    mag.read_into(field)
    print('MAG', type(mag).__name__, *field)
for dev in hal.i2c().devices.values():
    dev.frozen = True                     # the fakes' own arithmetic would count as allocation

def allocated(n):
    gc.collect()
    a = gc.mem_alloc()
    for _ in range(n):
        imu.read_into(sample)
        if env:
            env.read_into(values)
        if mag:
            mag.read_into(field)
    return gc.mem_alloc() - a

print('ALLOC', allocated(200))
"""


def _check_readings(out, board):
    facts = BOARDS[board]
    parts = {s["kind"]: s["part"] for s in facts["sensors"]}
    assert lines_with("BOARD", out) == [board]
    imu = lines_with("IMU", out)[0].split()
    assert imu[0] == parts["imu"].replace("-", "")
    got = [float(v) for v in imu[1:]]  # within one count of the state the fake was given
    assert got[:3] == pytest.approx(STILL[:3], abs=1e-3)
    assert got[3:] == pytest.approx(STILL[3:], abs=0.02)
    if "pressure" in parts:
        env = lines_with("ENV", out)[0].split()
        assert env[:2] == [parts["temperature_humidity"], parts["pressure"]]
        assert [int(v) for v in env[2:]] == [2350, 4500, 101325]  # 23.5 C, 45 %RH, 1013.25 hPa
    else:
        assert lines_with("NOENV", out) == [f"{board} has no environment sensor in boards.json (its sensors: MPU-6050)"]
    if parts["imu"] == "LSM9DS1":  # its fake's default field, (0.2, 0, -0.45) gauss, in 0.1 uT
        assert lines_with("MAG", out) == ["LSM9DS1Mag 200 0 -450"]
    elif "magnetometer" in parts:  # the BMM150 fake's default field, (25, -10, 40) uT, 0.36 uT steps
        mag = lines_with("MAG", out)[0].split()
        assert mag[0] == parts["magnetometer"]
        assert [int(v) / 10 for v in mag[1:]] == pytest.approx([25.0, -10.0, 40.0], abs=0.25)
    else:
        assert lines_with("NOMAG", out) == [f"{board} has no magnetometer in boards.json (its sensors: MPU-6050)"]
    assert lines_with("ALLOC", out) == ["0"]


@pytest.mark.parametrize("board", NANOS)
def test_nano_sensors_on_the_virtual_board(board):
    out = run(READ_ALL.format(still=STILL).replace("from tinyml import sensors", "from tinyml import hal, sensors"),
              env={"TINYML_BOARD": board})
    _check_readings(out, board)


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_every_board_on_the_machine_backend(board):
    """Detection from os.uname (the Nano's revision from its I2C scan), IMU, environment sensors
    or a clear error, and 0 bytes allocated per read, against a fake machine.I2C."""
    _check_readings(run(machine_script(board, READ_ALL.format(still=STILL))), board)


def test_nano_revision_follows_the_imu_on_the_bus():
    body = """
print('DET', hal.board_id())
"""
    for board in NANOS:
        assert lines_with("DET", run(machine_script(board, body))) == [board]
    # nothing answering (sensor power off): Rev1, the first listed, so the LED still works
    empty = "machine.I2C.devices = {}\nprint('DET', hal.board_id())\n"
    assert lines_with("DET", run(machine_script("nano33_ble_sense_rev2", empty))) == ["nano33_ble_sense"]
    # boards with their own detect strings never touch the bus
    no_bus = "machine.log.clear()\nprint('DET', hal.board_id(), [e for e in machine.log if e[0] == 'I2C'])\n"
    assert lines_with("DET", run(machine_script("pico", no_bus))) == ["pico []"]


def test_nano_configuration_registers():
    """The setup each adapter writes, as register values from the datasheets."""
    script = """
from tinyml import hal, sensors
sensors.imu()
sensors.environment()
d = hal.i2c().devices
if 0x6b in d:
    print('LSM9DS1', hex(d[0x6b].regs[0x22]), hex(d[0x6b].regs[0x10]), hex(d[0x6b].regs[0x20]))
    print('HTS221', hex(d[0x5f].regs[0x20]))
else:
    print('BMI270', hex(d[0x68].regs[0x21]), hex(d[0x68].regs[0x7d]), d[0x68].regs[0x41], d[0x68].regs[0x43],
          sum(d[0x68].loaded))
print('LPS22HB', hex(d[0x5c].regs[0x10]), hex(d[0x5c].regs[0x11]))
"""
    rev1 = run(script, env={"TINYML_BOARD": "nano33_ble_sense"})
    # BDU + IF_ADD_INC; gyro and accel at 119 Hz, +-245 dps, +-2 g; HTS221 on, BDU, 12.5 Hz
    assert lines_with("LSM9DS1", rev1) == ["0x44 0x60 0x60"] and lines_with("HTS221", rev1) == ["0x87"]
    rev2 = run(script, env={"TINYML_BOARD": "nano33_ble_sense_rev2"})
    # init_ok after the full 8 KB config load; accel, gyro, temperature on; +-2 g; +-250 dps
    assert lines_with("BMI270", rev2) == ["0x1 0xe 0 3 8192"]
    for out in (rev1, rev2):  # 25 Hz, BDU; auto-increment on
        assert lines_with("LPS22HB", out) == ["0x32 0x10"]


def test_bmi270_fake_needs_the_whole_config_file():
    script = """
from tinyml_sim.devices import BMI270
dev = BMI270()
print('RESET', dev.regs[0x00], dev.regs[0x21], dev.regs[0x7c])
def load(n, power_save_off=True, chunk=16):
    dev.write(0x7E, b'\\xb6')
    if power_save_off:
        dev.write(0x7C, b'\\x00')
    dev.write(0x59, b'\\x00')
    for offset in range(0, n, chunk):
        dev.write(0x5B, bytes(((offset // 2) & 0x0F,)))
        dev.write(0x5C, bytes(((offset // 2) >> 4,)))
        dev.write(0x5E, bytes(min(chunk, n - offset)))
    dev.write(0x59, b'\\x01')
    dev.write(0x7D, b'\\x0e')
    buf = bytearray(12)
    dev.read(0x0C, buf)
    print('LOAD', n, power_save_off, dev.regs[0x21], buf[4] | buf[5] << 8)
load(8192)
load(8176)
load(8192 + 16, chunk=8192 + 16)  # one burst running past the end
load(8192, power_save_off=False)
load(8192, chunk=8192)
"""
    out = run(script)
    assert lines_with("RESET", out) == ["36 0 3"]  # CHIP_ID 0x24, not initialised, adv_power_save on
    # init_ok (1) and data (az = 1 g at the reset range +-8 g: 4096) only after exactly 8192 bytes
    assert lines_with("LOAD", out) == ["8192 True 1 4096", "8176 True 2 0", "8208 True 2 0",
                                       "8192 False 2 0", "8192 True 1 4096"]


def test_hs3003_reads_without_waiting_and_keeps_the_last_fresh_value():
    script = """
import array, time
from tinyml import hal, sensors
env = sensors.environment()
dev = hal.i2c().devices[0x44]
values = array.array('i', bytes(12))
env.read_into(values)       # fetched right after the previous request: stale, last value kept
print('FAST', values[0], values[1])
dev.temperature_c, dev.humidity_rh = -10.0, 80.0
time.sleep_ms(20)
env.read_into(values)       # a conversion later: fresh
print('SLOW', values[0], values[1])
"""
    out = run(script, env={"TINYML_BOARD": "nano33_ble_sense_rev2"})
    assert lines_with("FAST", out) == ["2350 4500"] and lines_with("SLOW", out) == ["-1000 8000"]


def test_missing_or_wrong_sensors_are_clear_errors():
    script = """
from tinyml import hal, sensors
from tinyml_sim import devices as simdevices
d = hal.i2c().devices
def attempt(what):
    try:
        what()
    except ValueError as e:
        print('E', e)
lsm = d.pop(0x6b)
attempt(sensors.imu)
d[0x6b] = simdevices.RegisterDevice()            # something else answers at 0x6b
attempt(sensors.imu)
d[0x6b] = lsm
del d[0x5f]
attempt(sensors.environment)
"""
    assert lines_with("E", run(script, env={"TINYML_BOARD": "nano33_ble_sense"})) == [
        "no IMU on the I2C bus: expected LSM9DS1 at 0x6b, found ['0x1e', '0x5c', '0x5f']",
        "device at I2C 0x6b is not a LSM9DS1 (ID register 0x0f reads 0x00, expected 0x68)",
        "no HTS221 at I2C 0x5f: check wiring and sensor power (found ['0x1e', '0x5c', '0x6b'])",
    ]
    script = """
from tinyml import hal, sensors
from tinyml_sim.hal import SimI2C
try:
    sensors.environment(SimI2C({0x44: hal.i2c().devices[0x44]}))
except ValueError as e:
    print('E', e)
try:
    sensors.environment()
except ValueError as e:
    print('E', e)
"""
    out = run(script, env={"TINYML_BOARD": "nano33_ble_sense_rev2"})
    assert lines_with("E", out) == ["no LPS22HB at I2C 0x5c: check wiring and sensor power (found ['0x44'])"]


def test_bmi270_without_the_firmware_driver_says_what_is_missing():
    body = """
from tinyml import sensors
try:
    sensors.imu()
except ValueError as e:
    print('E', e)
"""
    out = run(machine_script("nano33_ble_sense_rev2", body, frozen_bmi270=False))
    assert lines_with("E", out) == [
        "the BMI270 needs Bosch's config file uploaded at power-on, which only MicroPython's frozen "
        "bmi270 driver carries; this micropython firmware has no bmi270 module (flash MicroPython "
        "for the Nano 33 BLE Sense)"]


def test_fakes_behave_as_the_datasheets_say():
    script = """
import array
from tinyml_sim import devices as simdevices
from tinyml_sim.hal import SimI2C
hts, mag, bmm = simdevices.HTS221(), simdevices.LSM9DS1Mag(), simdevices.BMM150()
bus = SimI2C({0x5f: hts, 0x1e: mag, 0x10: bmm})
# HTS221 and the LSM9DS1 magnetometer move to the next register only with bit 7 of the sub-address
print('HTS', bus.readfrom_mem(0x5f, 0x30, 2) == bytes((hts.regs[0x30],) * 2),
      bus.readfrom_mem(0x5f, 0xB0, 2) == bytes(hts.regs[0x30:0x32]))
bus.writeto_mem(0x1e, 0x20, b'\\x70\\x00\\x00')       # without bit 7: all three bytes land in 0x20
print('MAG', mag.regs[0x20], mag.regs[0x22])
# BMM150: suspended after power-on (CHIP_ID reads 0), awake after the power bit
print('BMM', bus.readfrom_mem(0x10, 0x40, 1)[0], end=' ')
bus.writeto_mem(0x10, 0x4B, b'\\x01')
print(bus.readfrom_mem(0x10, 0x40, 1)[0])
# typed buffers are filled bytewise, as machine.I2C does (firmware drivers read into array('h'))
raw = array.array('h', [0, 0])
bus.readfrom_mem_into(0x5f, 0xB6, memoryview(raw))
print('TYPED', list(raw))
"""
    out = run(script)
    assert lines_with("HTS", out) == ["True True"]
    assert lines_with("MAG", out) == ["0 3"]          # the last byte won; CTRL_REG3_M still power-down
    assert lines_with("BMM", out) == ["0 50"]         # 0x32
    assert lines_with("TYPED", out) == ["[-2000, 0]"]  # H0_T0_OUT, then the reserved 0x38..0x39


# physical fields the magnetometer fakes show in these tests, in uT (1 gauss = 100 uT)
FIELDS = [(25.0, -10.0, 40.0), (0.0, 0.0, 0.0), (-300.0, 420.0, -150.5), (48.3, 0.07, -33.33)]
MAG_SCRIPT = """
import array, gc
from tinyml import hal, sensors
dev = hal.i2c().devices[{address}]
{setup}
mag = sensors.magnetometer()
print('TYPE', type(mag).__name__, mag.LSB_PER_UT)
for code in 'hi':
    field = array.array(code, (0, 0, 0))
    mag.read_into(field)
    print('FIELD', code, *field)
{after}
dev.frozen = True

def allocated(n):
    gc.collect()
    a = gc.mem_alloc()
    for _ in range(n):
        mag.read_into(field)
    return gc.mem_alloc() - a

print('ALLOC', allocated(200))
"""


@pytest.mark.parametrize("field", FIELDS)
def test_lsm9ds1_magnetometer_on_the_virtual_board(field):
    gauss = tuple(f / 100 for f in field)
    out = run(MAG_SCRIPT.format(address=0x1E, setup=f"dev.field_gauss = {gauss!r}",
                                after="print('CFG', *[hex(dev.regs[r]) for r in range(0x20, 0x25)])"),
              env={"TINYML_BOARD": "nano33_ble_sense"})
    assert lines_with("TYPE", out) == ["LSM9DS1Mag 10"]
    # temperature compensation, XY ultra-high performance, 20 Hz; +-4 gauss; continuous; Z UHP; BDU
    assert lines_with("CFG", out) == ["0xf4 0x0 0x0 0xc 0x40"]
    for line in lines_with("FIELD", out):
        got = [int(v) / 10 for v in line.split()[1:]]
        # the fake quantizes to 0.014 uT, tinyml rounds to 0.1 uT
        assert got == pytest.approx(field, abs=0.007 + 0.05 + 1e-9)
    assert lines_with("ALLOC", out) == ["0"]


@pytest.mark.parametrize("field", FIELDS)
def test_bmm150_on_the_virtual_board(field):
    """The field the fake holds, through raw counts the fake found by searching Bosch's float
    compensation, back through tinyml's integer compensation: within half a raw step (0.37 and 0.40
    uT with these trims) plus tinyml's rounding to 0.1 uT."""
    after = """
print('CFG', dev.regs[0x4B], hex(dev.regs[0x4C]), dev.regs[0x51], dev.regs[0x52])
for axis in range(3):
    raw = dev._raw[1][axis]
    print('STEP', axis, (dev.compensated(axis, raw + 1, dev.rhall) - dev.compensated(axis, raw - 1, dev.rhall)) / 2)
"""
    out = run(MAG_SCRIPT.format(address=0x10, setup=f"dev.field_ut = {field!r}", after=after),
              env={"TINYML_BOARD": "nano33_ble_sense_rev2"})
    assert lines_with("TYPE", out) == ["BMM150 10"]
    # awake; normal mode at 30 Hz; regular preset: 9 XY and 15 Z repetitions
    assert lines_with("CFG", out) == ["1 0x38 4 14"]
    steps = [float(line.split()[1]) for line in lines_with("STEP", out)]
    assert all(0.3 < s < 0.45 for s in steps)
    for line in lines_with("FIELD", out):
        got = [int(v) / 10 for v in line.split()[1:]]
        for axis in range(3):
            assert got[axis] == pytest.approx(field[axis], abs=steps[axis] / 2 + 0.05 + 0.01)
    assert lines_with("ALLOC", out) == ["0"]


def test_bmm150_integer_compensation_matches_bosch_float():
    """tinyml's integer compensation against the fake's float one (Bosch's formulas) for the
    same raw counts: raw extremes, overflow markers, Hall resistances around and far from
    dig_xyz1, two trim sets; within tinyml's rounding to 0.1 uT plus 0.01 uT."""
    script = """
import array
from tinyml_sim import devices as simdevices
from tinyml_sim.hal import SimI2C
from tinyml.sensors.bmm150 import BMM150
SETS = [None, {'x1': -7, 'y1': 5, 'z4': 120, 'x2': -20, 'y2': 40, 'z2': 600, 'z1': 30000, 'xyz1': 7500,
               'z3': 250, 'xy2': 12, 'xy1': 200}]
field = array.array('i', bytes(12))
for n, trim in enumerate(SETS):
    dev = simdevices.BMM150()
    if trim:
        dev.trim = trim
        dev.suspend()
    mag = BMM150(SimI2C({0x10: dev}))
    dev.frozen = True
    xyz1 = dev.trim['xyz1']
    for rhall in (xyz1 // 2, xyz1 - 700, xyz1, xyz1 + 900, 2 * xyz1):
        for x, y, z in ((-4095, 4095, -16383), (4095, -4095, 16383), (0, 1, -1), (1234, -2345, 5678),
                        (-4096, 17, -16384), (-377, 2900, -9000)):
            dev.put16le(0x42, (x & 0x1FFF) << 3)
            dev.put16le(0x44, (y & 0x1FFF) << 3)
            dev.put16le(0x46, (z & 0x7FFF) << 1)
            dev.put16le(0x48, (rhall << 2) | 1)
            mag.read_into(field)
            # Bosch saturates Z at +-32767 / 16 uT
            exact = [dev.compensated(0, x, rhall), dev.compensated(1, y, rhall),
                     min(max(dev.compensated(2, z, rhall), -2047.9), 2047.9)]
            for axis, raw, marker in ((0, x, -4096), (1, y, -4096), (2, z, -16384)):
                if raw == marker:
                    print('OVF', field[axis])
                else:
                    print('ERR', n, abs(field[axis] / 10 - exact[axis]))
"""
    out = run(script)
    errors = [float(line.split()[1]) for line in lines_with("ERR", out)]
    assert len(errors) == 2 * 5 * (6 * 3 - 2)
    assert max(errors) <= 0.05 + 0.01
    assert lines_with("OVF", out) == ["-32768"] * 2 * 5 * 2


def test_magnetometer_errors_are_clear():
    script = """
from tinyml import hal, sensors
from tinyml_sim import devices as simdevices
d = hal.i2c().devices
def attempt(what):
    try:
        what()
    except ValueError as e:
        print('E', e)
real = d.pop({address})
attempt(sensors.magnetometer)
d[{address}] = simdevices.RegisterDevice()            # something else answers there
attempt(sensors.magnetometer)
{more}
"""
    no_trim = """
d[0x10] = simdevices.BMM150()
d[0x10].trim = dict(d[0x10].trim, xyz1=0)
d[0x10].suspend()
attempt(sensors.magnetometer)
"""
    rev1 = run(script.format(address=0x1E, more=""), env={"TINYML_BOARD": "nano33_ble_sense"})
    assert lines_with("E", rev1) == [
        "no LSM9DS1 magnetometer at I2C 0x1e: check wiring and sensor power (found ['0x5c', '0x5f', '0x6b'])",
        "device at I2C 0x1e is not a LSM9DS1 magnetometer (ID register 0x0f reads 0x00, expected 0x3d)"]
    rev2 = run(script.format(address=0x10, more=no_trim), env={"TINYML_BOARD": "nano33_ble_sense_rev2"})
    errors = lines_with("E", rev2)
    assert errors[:2] == [
        "no BMM150 at I2C 0x10: check wiring and sensor power (found ['0x44', '0x5c', '0x68'])",
        "device at I2C 0x10 is not a BMM150 (ID register 0x40 reads 0x00, expected 0x32)"]
    assert errors[2].startswith("BMM150 at I2C 0x10 has no trim data (reads b'")
    for board in ("esp32", "pico"):
        out = run(script.format(address=0x68, more=""), env={"TINYML_BOARD": board})
        assert lines_with("E", out) == [f"{board} has no magnetometer in boards.json (its sensors: MPU-6050)"] * 2
