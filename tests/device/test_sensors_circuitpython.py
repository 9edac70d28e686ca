"""The CircuitPython sensor path in CPython, and an independent reading of the datasheets.

Adafruit's own CircuitPython drivers (adafruit_lsm9ds1, adafruit_hts221, adafruit_lps2x, from PyPI)
and tinyml's adapters read the SAME register fakes (tinyml_sim.devices) through a fake busio.I2C:
their readings in physical units must agree within quantization. Adafruit's drivers were written
from the datasheets by other people, so this checks our drivers' scales and our fakes' register
encodings against a reading of the datasheets that is not ours."""

import importlib
import math
from array import array
import sys
import time
from pathlib import Path

import pytest

from mpy import DEVICE_LIB
from tinyml_host import boards

FAKES = Path(__file__).parent / "fakes"
G = 9.80665  # m/s^2 per g, as Adafruit's drivers convert
# physical states the fakes show: accel in g, gyro in deg/s; temperature C, humidity %RH, pressure hPa
MOTIONS = [(0.25, -0.5, 0.75, 10.0, -20.0, 30.0), (0.0, 0.0, 1.0, 0.0, 0.0, 0.0), (-1.5, 1.9, -0.01, 200.0, -1.0, 0.5)]
CLIMATES = [(23.5, 45.0, 1013.25), (-12.25, 5.5, 870.0), (48.0, 92.0, 1085.5)]
# magnetic fields in gauss (1 gauss = 100 uT), within the +-4 gauss range both drivers set
MAG_FIELDS = [(0.25, -0.125, 0.5), (0.0, 0.0, 0.0), (-3.9, 2.0071, -0.0004)]


@pytest.fixture
def cp(monkeypatch):
    """CircuitPython's modules as fakes, tinyml's device package freshly imported from device/lib,
    and the ticks functions the fakes use (MicroPython has them; CPython does not)."""
    monkeypatch.syspath_prepend(str(FAKES))
    import circuitpython as fakes

    facts = boards.load()["nano33_ble_sense"]
    pins = [facts["led"]["circuitpython"], "SCL1", "SDA1", "VDD_ENV", "R_PULLUP"]
    attrs = {p: f"pin:{p}" for p in pins}
    attrs["board_id"] = facts["detect"]["circuitpython_board_id"]
    for name, module in fakes.modules(attrs).items():
        monkeypatch.setitem(sys.modules, name, module)
    # adafruit_bus_device annotates with busio.SPI, which CPython evaluates at import
    sys.modules["busio"].SPI = type("SPI", (), {})
    monkeypatch.setattr(time, "ticks_ms", lambda: int(time.monotonic() * 1000), raising=False)
    monkeypatch.setattr(time, "ticks_diff", lambda a, b: a - b, raising=False)
    monkeypatch.setattr(fakes.I2C, "devices", {})
    monkeypatch.syspath_prepend(str(DEVICE_LIB))
    _forget_tinyml()
    yield fakes
    _forget_tinyml()


def _forget_tinyml():
    # the sim's register fakes too: they bind `time` when imported (another test's fake, maybe)
    for name in [m for m in sys.modules if m == "tinyml" or m.startswith(("tinyml.", "tinyml_host.virtual_board.tinyml_sim"))]:
        del sys.modules[name]


def _bus(cp, board):
    """A busio.I2C fake holding fakes of `board`'s sensors, and tinyml's MemI2C over it."""
    from tinyml.boards import BOARDS
    from tinyml.hal import _circuitpython
    from tinyml_host.virtual_board.tinyml_sim import devices as simdevices  # not `tinyml_sim`: see test_hal

    devices = {}
    for _, part, addresses, _, _ in BOARDS[board]["sensors"]:
        for address, make in zip(addresses, simdevices.FAKES[part]):
            devices[address] = make()
    cp.I2C.devices.update(devices)
    bus = cp.I2C("pin:SCL1", "pin:SDA1", frequency=400000)
    return bus, _circuitpython.MemI2C(bus), devices


@pytest.mark.parametrize("motion", MOTIONS)
def test_lsm9ds1_agrees_with_adafruit(cp, motion):
    import adafruit_lsm9ds1

    from tinyml.sensors.lsm9ds1 import LSM9DS1

    bus, mem, devices = _bus(cp, "nano33_ble_sense")
    devices[0x6B].still = motion
    theirs = adafruit_lsm9ds1.LSM9DS1_I2C(bus)   # resets the chip; both set +-2 g and +-245 dps
    ours = LSM9DS1(mem)
    sample = array("h", bytes(12))
    ours.read_into(sample)
    accel = [c / ours.ACCEL_LSB_PER_G * G for c in sample[:3]]
    gyro = [math.radians(c / ours.GYRO_LSB_PER_DPS) for c in sample[3:]]
    assert accel == pytest.approx(list(theirs.acceleration), abs=1e-9)
    assert gyro == pytest.approx(list(theirs.gyro), abs=1e-9)
    # and both are the state the fake was given, within one count
    assert accel == pytest.approx([g * G for g in motion[:3]], abs=0.061e-3 * G)
    assert gyro == pytest.approx([math.radians(d) for d in motion[3:]], abs=math.radians(8.75e-3))


def test_lsm9ds1_fake_follows_the_range_adafruit_sets(cp):
    """Another full scale through Adafruit's driver: the fake's sensitivity table must match theirs."""
    import adafruit_lsm9ds1

    bus, _, devices = _bus(cp, "nano33_ble_sense")
    devices[0x6B].still = MOTIONS[2]
    theirs = adafruit_lsm9ds1.LSM9DS1_I2C(bus)
    for accel_range, gyro_scale in ((adafruit_lsm9ds1.ACCELRANGE_4G, adafruit_lsm9ds1.GYROSCALE_500DPS),
                                    (adafruit_lsm9ds1.ACCELRANGE_8G, adafruit_lsm9ds1.GYROSCALE_2000DPS),
                                    (adafruit_lsm9ds1.ACCELRANGE_16G, adafruit_lsm9ds1.GYROSCALE_245DPS)):
        theirs.accel_range, theirs.gyro_scale = accel_range, gyro_scale
        assert list(theirs.acceleration) == pytest.approx([g * G for g in MOTIONS[2][:3]], abs=0.732e-3 * G)
        assert list(theirs.gyro) == pytest.approx([math.radians(d) for d in MOTIONS[2][3:]], abs=math.radians(0.07))
    devices[0x1E].field_gauss = (0.25, -0.125, 0.5)
    assert list(theirs.magnetic) == pytest.approx([0.25, -0.125, 0.5], abs=0.14e-3)


@pytest.mark.parametrize("field", MAG_FIELDS)
def test_lsm9ds1_magnetometer_agrees_with_adafruit(cp, field):
    import adafruit_lsm9ds1

    from tinyml.sensors.lsm9ds1 import LSM9DS1Mag

    bus, mem, devices = _bus(cp, "nano33_ble_sense")
    devices[0x1E].field_gauss = field
    theirs = adafruit_lsm9ds1.LSM9DS1_I2C(bus)   # resets the magnetometer; +-4 gauss, continuous
    ours = LSM9DS1Mag(mem)
    values = array("i", [0, 0, 0])
    ours.read_into(values)
    gauss = [v / ours.LSB_PER_UT / 100 for v in values]
    # ours are rounded to 0.1 uT = 1 mgauss; the fake quantizes to 0.14 mgauss
    assert gauss == pytest.approx(list(theirs.magnetic), abs=0.5e-3 + 1e-9)
    assert gauss == pytest.approx(list(field), abs=0.5e-3 + 0.07e-3)


class _Small(int):
    """An int that records the largest magnitude any arithmetic on it produces: what the BMM150
    compensation computes from its trim values and readings."""

    largest = 0

    def _wrap(self, v):
        _Small.largest = max(_Small.largest, abs(v))
        return _Small(v)

    for _op in ("add", "sub", "mul", "floordiv", "lshift", "rshift", "and", "or"):
        locals()["__%s__" % _op] = (lambda op: lambda a, b: a._wrap(getattr(int, "__%s__" % op)(a, b)))(_op)
        locals()["__r%s__" % _op] = (lambda op: lambda a, b: a._wrap(getattr(int, "__r%s__" % op)(a, b)))(_op)

    def __neg__(self):
        return self._wrap(-int(self))


# trims: the fake's (one real part, nonzero offsets), and every trim at its extreme that keeps
# |raw_z - dig_z4| < 2^15 and the Z denominator positive
TRIMS = [None, {"x1": -128, "y1": 127, "z4": -16384, "x2": 127, "y2": -128, "z2": 32767, "z1": 65535,
                "xyz1": 32767, "z3": -32768, "xy2": -128, "xy1": 255},
         {"x1": 127, "y1": -128, "z4": 16383, "x2": -128, "y2": 127, "z2": 1, "z1": 65535,
          "xyz1": 1, "z3": 32767, "xy2": 127, "xy1": 255}]


@pytest.mark.parametrize("trim", TRIMS)
def test_bmm150_compensation_stays_in_small_ints(cp, trim):
    """On 32-bit ports MicroPython's small ints end at 2^30: past it every result is a heap long
    int. Every intermediate of tinyml's BMM150 compensation stays below, over the raw range, the
    Hall resistance's 14 bits and extreme trims; and it still agrees with Bosch's float formulas
    (the fake's) within tinyml's rounding plus 0.01 uT wherever the float result is in range."""
    from tinyml.sensors.bmm150 import BMM150

    bus, mem, devices = _bus(cp, "nano33_ble_sense_rev2")
    dev = devices[0x10]
    if trim:
        dev.trim = trim
        dev.suspend()
    mag = BMM150(mem)
    for name in ("_x1", "_y1", "_x2", "_y2", "_xy1", "_xy2", "_xyz1", "_z1", "_z2", "_z3", "_z4"):
        setattr(mag, name, _Small(getattr(mag, name)))
    dev.frozen = True
    _Small.largest = 0
    values = array("i", [0, 0, 0])
    for rhall in (1, 2, 37, 1000, 4095, 6806, 9999, 16383):
        for x, z in ((-4095, -16383), (4095, 16383), (-1, 1), (2047, -8191), (-4096, -16384)):
            dev.put16le(0x42, (x & 0x1FFF) << 3)
            dev.put16le(0x44, (-x & 0x1FFF) << 3)
            dev.put16le(0x46, (z & 0x7FFF) << 1)
            dev.put16le(0x48, (rhall << 2) | 1)
            mag.read_into(values)
            if x == -4096:
                assert list(values) == [mag.OVERFLOW] * 3
            elif trim is None:
                exact = [dev.compensated(0, x, rhall), dev.compensated(1, -x, rhall), dev.compensated(2, z, rhall)]
                r = dev.trim["xyz1"] * 16384 / rhall - 16384
                if abs(r) <= 16384:   # tinyml clamps r there, as Bosch's int16 does
                    exact[2] = min(max(exact[2], -2047.9), 2047.9)
                    assert [v / 10 for v in values] == pytest.approx(exact, abs=0.05 + 0.01)
    assert 0 < _Small.largest < 2 ** 30


@pytest.mark.parametrize("climate", CLIMATES)
def test_hts221_and_lps22hb_agree_with_adafruit(cp, climate):
    import adafruit_hts221
    import adafruit_lps2x

    from tinyml.sensors.hts221 import HTS221
    from tinyml.sensors.lps22hb import LPS22HB

    temperature, humidity, pressure = climate
    bus, mem, devices = _bus(cp, "nano33_ble_sense")
    devices[0x5F].temperature_c, devices[0x5F].humidity_rh = temperature, humidity
    devices[0x5C].pressure_hpa, devices[0x5C].temperature_c = pressure, temperature
    hts, lps = adafruit_hts221.HTS221(bus), adafruit_lps2x.LPS22(bus, 0x5C)
    values = array("i", bytes(12))
    HTS221(mem).read_into(values)
    LPS22HB(mem).read_into(values)
    # ours are rounded to centi-units; the fakes quantize to 0.016 C, 0.004 %RH, 1/4096 hPa
    assert values[0] / 100 == pytest.approx(hts.temperature, abs=0.0051)
    assert values[1] / 100 == pytest.approx(hts.relative_humidity, abs=0.0051)
    assert values[2] / 100 == pytest.approx(lps.pressure, abs=0.0051)
    assert hts.temperature == pytest.approx(temperature, abs=0.016)
    assert hts.relative_humidity == pytest.approx(humidity, abs=0.004)
    assert lps.pressure == pytest.approx(pressure, abs=1 / 4096)
    assert lps.temperature == pytest.approx(temperature, abs=0.01)


def test_circuitpython_nano_rev1_end_to_end(cp):
    """On CircuitPython: detection (shared board_id, the IMU on the bus says Rev1), the bus with
    sensor power and pull-ups on, the IMU and the environment sensors through MemI2C."""
    _bus(cp, "nano33_ble_sense")

    from tinyml import hal, sensors
    from tinyml.hal import _circuitpython

    hal._backend, hal.PLATFORM = _circuitpython, _circuitpython.PLATFORM
    assert hal.board_id() == "nano33_ble_sense"
    switched = {d.pin for d in cp.DigitalInOut.made if d.direction == "output" and d.value}
    assert {"pin:VDD_ENV", "pin:R_PULLUP"} <= switched
    imu = sensors.imu()
    sample = array("h", bytes(12))
    imu.read_into(sample)
    assert sample[2] / imu.ACCEL_LSB_PER_G == pytest.approx(1.0, abs=0.01)
    values = array("i", bytes(12))
    sensors.environment().read_into(values)
    assert list(values) == [2350, 4500, 101325]
    field = array("h", [0, 0, 0])
    sensors.magnetometer().read_into(field)
    assert list(field) == [200, 0, -450]   # the fake's (0.2, 0, -0.45) gauss in 0.1 uT


def test_circuitpython_nano_rev2(cp):
    """Rev2 detects as Rev2; its HS3003 works through MemI2C's plain transfers; its BMI270 cannot
    start without MicroPython's frozen bmi270 driver, and says so."""
    _bus(cp, "nano33_ble_sense_rev2")

    from tinyml import hal, sensors
    from tinyml.hal import _circuitpython

    hal._backend, hal.PLATFORM = _circuitpython, _circuitpython.PLATFORM
    assert hal.board_id() == "nano33_ble_sense_rev2"
    values = array("i", bytes(12))
    sensors.environment().read_into(values)
    assert list(values) == [2350, 4500, 101325]
    mag = sensors.magnetometer()        # the BMM150 needs no firmware driver: it works here
    field = array("h", [0, 0, 0])
    mag.read_into(field)
    assert type(mag).__name__ == "BMM150"
    assert [v / 10 for v in field] == pytest.approx([25.0, -10.0, 40.0], abs=0.25)
    with pytest.raises(ValueError, match="only MicroPython's frozen bmi270 driver carries; "
                                         "this circuitpython firmware has no bmi270 module"):
        sensors.imu()


def test_adapters_import_without_micropython_only_modules(cp):
    # what a CircuitPython board imports for the sensors: no machine, no viper
    for name in ("tinyml.sensors", "tinyml.sensors.lsm9ds1", "tinyml.sensors.bmi270", "tinyml.sensors.bmm150", "tinyml.sensors.hts221",
                 "tinyml.sensors.hs3003", "tinyml.sensors.lps22hb", "tinyml.sensors.mpu6050"):
        importlib.import_module(name)
    assert "machine" not in sys.modules
