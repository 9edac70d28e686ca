# Bosch BMI270 (Nano 33 BLE Sense Rev2): accelerometer + gyroscope at 0x68.
# The BMI270 runs only after Bosch's ~8 KB configuration file is uploaded at every power-on. That
# file ships in the `bmi270` driver MicroPython's Nano firmware freezes in, and nowhere tinyml can
# take it from, so the setup is that driver's: tinyml constructs it once, then sets its own ranges
# and reads the data registers itself, into a caller's array without allocating. Units: raw counts;
# ACCEL_LSB_PER_G counts are 1 g (+-2 g) and GYRO_LSB_PER_DPS counts are 1 deg/s (+-250 deg/s).
from micropython import const

from tinyml.sensors._chip import check_id, s16le

_CHIP_ID = const(0x00)
_DATA_ACC_X = const(0x0C)    # accel x, y, z then gyro x, y, z, little-endian
_ACC_RANGE = const(0x41)
_GYR_RANGE = const(0x43)
_RANGE_2G = const(0x00)
_RANGE_250DPS = const(0x03)

ADDRESS = 0x68
ACCEL_LSB_PER_G = 16384
GYRO_LSB_PER_DPS = 32768 / 250


class BMI270:
    ACCEL_LSB_PER_G = ACCEL_LSB_PER_G
    GYRO_LSB_PER_DPS = GYRO_LSB_PER_DPS

    def __init__(self, i2c, address=ADDRESS):
        from tinyml import hal

        check_id(i2c, address, _CHIP_ID, 0x24, "BMI270")
        try:
            firmware = hal.firmware_module("bmi270")
        except ImportError:
            raise ValueError("the BMI270 needs Bosch's config file uploaded at power-on, which only "
                             "MicroPython's frozen bmi270 driver carries; this %s firmware has no "
                             "bmi270 module (flash MicroPython for the Nano 33 BLE Sense)" % hal.PLATFORM)
        try:
            firmware.BMI270(i2c, address=address)  # soft reset, config upload, accel + gyro on
        except OSError as e:
            raise ValueError("BMI270 at I2C 0x%02x did not start: %s" % (address, e))
        self._i2c = i2c
        self._address = address
        self._buf = bytearray(12)
        i2c.writeto_mem(address, _ACC_RANGE, bytes((_RANGE_2G,)))
        i2c.writeto_mem(address, _GYR_RANGE, bytes((_RANGE_250DPS,)))

    def read_into(self, out):
        """out: array('h') of 6: accel x, y, z, gyro x, y, z in raw counts. Allocates nothing."""
        b = self._buf
        self._i2c.readfrom_mem_into(self._address, _DATA_ACC_X, b)
        for i in range(6):
            out[i] = s16le(b, 2 * i)
